"""The classic families against their published specs, and a few training steps through the engine.

Parameter counts are the numbers the sources print (the course project's 227,344 / 201,217,
the Keras summary's 2,963,328 / 25,856 / 213,633 / 3,176,961, the PyTorch reference
DCGAN's 3,576,704 / 2,765,568); padding follows TensorFlow's documented "same" rule.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from fastgan import models
from fastgan.family import gan as gan_base
from fastgan.models import _common, cgan, dcgan, dcgan28, dcgan_mnist, gmmn, mlp, wgan
from fastgan.train import Trainer
from fastgan.family import DataInfo

MNIST = DataInfo((1, 28, 28), 10, "mnist")


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# -- specs -------------------------------------------------------------------------------------
def test_registry_has_the_classic_families():
    assert {"mlp", "dcgan-mnist", "dcgan", "cgan", "wgan", "wgan-gp", "gmmn", "toy"} <= set(models.names())


def test_mlp_matches_the_source():
    G, D = mlp.Generator(), mlp.Discriminator()
    assert n_params(G) == 227_344 and n_params(D) == 201_217
    x = G(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    p = D(x)
    assert p.shape == (5, 1) and bool(((p > 0) & (p < 1)).all())
    torch.testing.assert_close(torch.sigmoid(D.logits(x)), p)
    r = mlp.MLPRecipe()
    assert (r.z_dim, r.latent_dist, r.loss) == (100, "normal", "ns")


def test_dcgan_mnist_keras_counts():
    G, D = dcgan_mnist.Generator(), dcgan_mnist.Discriminator()
    assert dcgan_mnist.keras_param_counts(G) == (2_937_472, 25_856)
    assert sum(dcgan_mnist.keras_param_counts(G)) == 2_963_328
    assert sum(dcgan_mnist.keras_param_counts(D)) == 213_633
    # Keras' combined model (G then a frozen D): 3,176,961 weights, 2,937,472 trainable
    D.requires_grad_(False)
    combined = torch.nn.Sequential(G, D)
    t, nt = dcgan_mnist.keras_param_counts(combined)
    assert (t + nt, t) == (3_176_961, 2_937_472)
    G.eval(), D.eval()
    x = G(torch.rand(3, 100) * 2 - 1)
    assert x.shape == (3, 1, 28, 28)
    assert D(x).shape == (3, 1)


def test_keras_counts_reject_non_modules():
    with pytest.raises(TypeError, match="module"):
        dcgan_mnist.keras_param_counts([1, 2])


def test_same_conv_pads_like_tensorflow():
    # TF "same", stride 2, kernel 5, even input 28: total padding 3, one row before and two after,
    # so a centre-tap kernel (tap 2) reads input rows 2i + 2 - 1 = 2i + 1
    conv = dcgan_mnist.SameConv2d(1, 1, 5, 2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 2, 2] = 1.0
    x = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28)
    torch.testing.assert_close(conv(x), x[:, :, 1::2, 1::2])
    assert conv(torch.zeros(1, 1, 7, 7)).shape[-1] == 4          # ceil(7 / 2)


@pytest.mark.parametrize("k, s, size", [(5, 2, (7, 7)), (5, 1, (7, 7)), (7, 2, (14, 14)), (5, 2, (14, 14)),
                                        (5, 1, (9, 6)), (3, 2, (5, 4)), (4, 2, (6, 3)), (7, 2, (3, 8))])
def test_same_conv_transpose_is_the_adjoint_of_same_conv(k, s, size):
    """<conv(x), y> = <x, convT(y)> with the same weights: the definition of a transposed conv (odd and
    even kernels, uneven "same" padding, non-square and channels_last inputs)."""
    conv = dcgan_mnist.SameConv2d(3, 4, k, s, bias=False).double()
    convt = dcgan_mnist.SameConvTranspose2d(4, 3, k, s, bias=False).double()
    with torch.no_grad():
        convt.weight.copy_(conv.weight)
    h, w = size
    x = torch.randn(2, 3, h * s, w * s, dtype=torch.float64)
    y = torch.randn(2, 4, h, w, dtype=torch.float64).to(memory_format=torch.channels_last)
    assert convt(y).shape == x.shape
    torch.testing.assert_close((conv(x) * y).sum(), (x * convt(y)).sum())
    # with a bias, the transposed conv adds it to every output pixel
    convb = dcgan_mnist.SameConvTranspose2d(4, 3, k, s, bias=True).double()
    with torch.no_grad():
        convb.weight.copy_(conv.weight)
        convb.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    torch.testing.assert_close(convb(y) - convt(y), convb.bias.view(1, 3, 1, 1).expand_as(x))


def test_dcgan_64_is_the_reference_dcgan():
    G = dcgan.Generator(z_dim=100, width=64, resolution=64, channels=3)
    D = dcgan.Discriminator(width=64, resolution=64, channels=3)
    assert n_params(G) == 3_576_704 and n_params(D) == 2_765_568
    assert G(torch.randn(2, 100)).shape == (2, 3, 64, 64)
    assert D(torch.randn(2, 3, 64, 64)).shape == (2, 1)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.std().item() - 0.02) < 0.002                     # N(0, 0.02) init
    r = dcgan.DCGANRecipe()
    assert (r.lr_g, r.lr_d, r.betas[0]) == (2e-4, 2e-4, 0.5)


def test_dcgan_32_shapes_and_no_hidden_fc():
    G = dcgan.Generator(100, 32, 32, 1)
    D = dcgan.Discriminator(32, 32, 1)
    assert G(torch.randn(2, 100)).shape == (2, 1, 32, 32)
    assert D(torch.randn(2, 1, 32, 32)).shape == (2, 1)
    kinds = {type(m) for m in [*G.modules(), *D.modules()]}
    assert torch.nn.Linear not in kinds and torch.nn.MaxPool2d not in kinds
    with pytest.raises(ValueError, match="resolution"):
        dcgan.Generator(100, 32, 48, 1)


def test_projection_discriminator_is_linear_in_the_label_embedding():
    D = cgan.ProjectionDiscriminator(10, 8, (1, 8, 8))
    x = torch.randn(4, 1, 8, 8)
    y1, y2 = torch.tensor([0, 1, 2, 3]), torch.tensor([5, 5, 5, 5])
    h = D.features(x)
    expected = ((D.embed(y1) - D.embed(y2)) * h).sum(1, keepdim=True)
    torch.testing.assert_close(D(x, y1) - D(x, y2), expected)


def test_spectral_norm_makes_unit_spectral_norms():
    D = cgan.spectral_normalize(cgan.ProjectionDiscriminator(10, 4, (1, 8, 8)))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for _ in range(50):                       # power iterations run in training-mode forwards
        D(x, y)
    for w in (D.features[0][0].weight, D.features[0][2].weight, D.psi.weight, D.embed.weight):
        assert torch.linalg.matrix_norm(w.detach().flatten(1), ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_cgan_labels_control_and_validation():
    G = cgan.Generator(10, 16, 8, 16, (1, 8, 8)).eval()
    z = torch.randn(1, 16).repeat(2, 1)
    a, b = G(z, torch.tensor([3, 3])), G(z, torch.tensor([3, 4]))
    torch.testing.assert_close(a[0], a[1])
    assert not torch.allclose(b[0], b[1])
    with pytest.raises(ValueError, match="labels must lie"):
        G(z, torch.tensor([3, 10]))
    with pytest.raises(TypeError, match="labels"):
        G(z, torch.tensor([3.0, 1.0]))
    D = cgan.ConcatDiscriminator(10, 8, (1, 8, 8))
    assert D(torch.randn(2, 1, 8, 8), torch.tensor([0, 9])).shape == (2, 1)


def test_wgan_recipes_are_the_papers():
    r = wgan.WGANRecipe()
    assert (r.loss, r.clip, r.optimizer, r.lr_d, r.n_critic) == ("wasserstein", 0.01, "rmsprop", 5e-5, 5)
    assert (r.critic_boost, r.boost_first, r.boost_every) == (100, 25, 500)    # the released training's
    r = wgan.WGANGPRecipe()
    assert (r.loss, r.gp_lambda, r.lr_d, tuple(r.betas), r.n_critic) == ("wasserstein", 10.0, 1e-4, (0.0, 0.9), 5)
    assert r.norm != "batch"


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x> has gradient w everywhere, so the penalty is (|w| - 1)^2 exactly."""
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1, bias=False)).double()
    real, fake = torch.randn(5, 3, 2, 2, dtype=torch.float64), torch.randn(5, 3, 2, 2, dtype=torch.float64)
    gp = gan_base._gradient_penalty(lin, real, fake, torch.rand(5, dtype=torch.float64), None)
    torch.testing.assert_close(gp, (lin[1].weight.norm() - 1) ** 2)
    (g,) = torch.autograd.grad(gp, lin[1].weight)                 # differentiable w.r.t. the critic
    torch.testing.assert_close(g, 2 * (lin[1].weight.norm() - 1) * lin[1].weight / lin[1].weight.norm())


def test_best_of_n_keeps_the_top_scores():
    class MeanD(torch.nn.Module):
        def forward(self, x):
            return x.mean((1, 2, 3))[:, None]
    G = mlp.Generator(z_dim=4, hidden=8)
    z = torch.randn(40, 4)
    imgs, scores = _common.best_of_n(G, MeanD(), z, 5, batch=7)
    all_scores = G(z).mean((1, 2, 3))
    torch.testing.assert_close(scores, all_scores.sort(descending=True).values[:5])
    torch.testing.assert_close(imgs.mean((1, 2, 3)), scores)
    with pytest.raises(ValueError, match="k must be"):
        _common.best_of_n(G, MeanD(), z, 41)


def test_moment_loss_closed_form():
    x = torch.tensor([[0.0], [2.0]])          # mean 1, std 1
    y = torch.tensor([[3.0], [3.0], [7.0], [7.0]])   # mean 5, std 2
    torch.testing.assert_close(gmmn.moment_loss(x, y), torch.tensor((1 - 5) ** 2 + (1 - 2) ** 2.0))


# -- recipe options and bad input ----------------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("latent_dist", "cauchy", "latent_dist"), ("optimizer", "sgd", "optimizer"), ("clip", -1.0, "clip"),
    ("digits", (1, 12), "digits"), ("loss", "l3", "unknown loss"),
])
def test_bad_recipe_values_raise(field, value, message):
    r = mlp.MLPRecipe(**{field: value})
    with pytest.raises(ValueError, match=message):
        mlp.MLPGAN(r, MNIST)


def test_recipe_type_is_checked():
    with pytest.raises(TypeError, match="recipe"):
        mlp.MLPGAN(dcgan.DCGANRecipe(), MNIST)


def test_families_reject_wrong_data():
    with pytest.raises(ValueError, match="1x28x28"):
        dcgan_mnist.DCGANMnist(dcgan_mnist.DCGANMnistRecipe(), DataInfo((3, 32, 32)))
    with pytest.raises(ValueError, match="labelled data"):
        cgan.CGAN(cgan.CGANRecipe(), DataInfo((1, 28, 28), 0))


def test_uniform_latent_and_digit_subset():
    fam = dcgan_mnist.DCGANMnist(dcgan_mnist.DCGANMnistRecipe(digits=(1, 2)), MNIST)
    z = fam.latent(1000, torch.Generator().manual_seed(0))
    assert z.shape == (1000, 100) and z.min() >= -1 and z.max() <= 1 and z.std() > 0.5   # U[-1,1]: std 0.577
    raw = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3, 1, 5, 2, 2, 9, 8])
    x, y = fam.prepare(raw, labels, "cpu")
    assert y.tolist() == [1, 2, 1, 2, 2]
    torch.testing.assert_close(x, raw[[1, 2, 4, 6, 7]].float() * (2 / 255) - 1)


def test_instance_noise_anneals_to_zero():
    fam = mlp.MLPGAN(mlp.MLPRecipe(instance_noise=0.5, kimg=1.0), MNIST)

    class Ctx:   # the two things _noisy reads from a Context
        def __init__(self, kimg):
            self.kimg = kimg

        def randn(self, *shape):
            return torch.randn(*shape)

    x = torch.zeros(20000)
    assert abs(fam._noisy(x, Ctx(0.0)).std().item() - 0.5) < 0.02
    assert abs(fam._noisy(x, Ctx(0.5)).std().item() - 0.25) < 0.02
    assert fam._noisy(x, Ctx(1.0)).abs().max() == 0


# -- training through the engine ---------------------------------------------------------------------
def _params(net):
    return [p.detach().clone() for p in net.parameters()]


def _changed(before, net):
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("model, data, overrides", [
    ("mlp", "mnist", {"digits": [1, 2]}),
    ("mlp", "digits", {"loss": "hinge", "instance_noise": 0.1}),
    ("mlp", "digits", {"loss": "ls", "latent_dist": "uniform"}),
    ("dcgan-mnist", "mnist", {"batch": 8}),
    ("dcgan", "digits", {"resolution": 16, "width": 8}),
    ("cgan", "digits", {"width": 8}),
    ("cgan", "digits", {"width": 8, "cond": "projection", "loss": "minimax", "spectral_norm": True}),
    ("wgan", "digits", {"resolution": 16, "width": 8, "n_critic": 2, "critic_boost": 0}),
    ("wgan-gp", "digits", {"resolution": 16, "width": 8, "n_critic": 2}),
    ("gmmn", "digits", {"batch": 64, "hidden": [32]}),
])
def test_a_few_steps_train(model, data, overrides, quiet):
    tr = Trainer(model, data, overrides={"batch": 16, **quiet, "max_steps": 2, **overrides})
    before = {k: _params(v) for k, v in tr.nets.items()}
    s = tr.fit()
    assert s["status"] == "done" and s["step"] == 2
    assert all(_changed(before[k], v) for k, v in tr.nets.items())
    assert all(torch.isfinite(p).all() for net in tr.nets.values() for p in net.parameters())
    n_critic = getattr(tr.recipe, "n_critic", 1)
    assert s["kimg"] * 1000 == 2 * n_critic * tr.recipe.batch     # one fresh batch per D step


@pytest.mark.parametrize("n_critic, lr_decay, stop", [(1, 0.5, 3), (2, 0.4, 7), (2, 0.4, None), (1, 1.0, 5)])
def test_lr_decay_lowers_both_rates_linearly_to_zero(n_critic, lr_decay, stop, quiet):
    """10 training steps (each n_critic fresh batches): the rates hold for the first (1 - lr_decay) of
    them, then fall by lr / (10 * lr_decay) a step, reaching 0 at the run's last step."""
    batch, steps = 8, 10
    over = {**quiet, "batch": batch, "kimg": steps * n_critic * batch / 1000, "n_critic": n_critic,
            "lr_decay": lr_decay, "lr_g": 3e-4, "lr_d": 7e-4, "hidden": 16}
    if stop is not None:
        over["max_steps"] = stop
    tr = Trainer("mlp", "digits", overrides=over)
    s = tr.fit()
    done = stop or steps
    assert s["step"] == done
    decay = steps * lr_decay
    factor = min(1.0, (steps - done) / decay)
    for k, lr0 in (("G", 3e-4), ("D", 7e-4)):
        assert tr.opts[k].param_groups[0]["lr"] == pytest.approx(lr0 * factor, abs=1e-12)


@pytest.mark.parametrize("kimg, batch, n_critic, steps", [(0.1, 8, 3, 5), (0.096, 8, 3, 4), (0.0505, 7, 1, 8)])
def test_lr_decay_ends_at_zero_on_the_last_step_when_kimg_does_not_divide(kimg, batch, n_critic, steps, quiet):
    """The engine stops at the first step whose images reach round(kimg * 1000) (0.1 kimg at 24 images a
    step: 96 after 4 steps, so 5), and the schedule's length (``run_steps``) counts the same steps."""
    from fastgan.family.schedules import run_steps
    assert run_steps(kimg, batch * n_critic) == steps
    over = {**quiet, "batch": batch, "kimg": kimg, "n_critic": n_critic, "lr_decay": 1.0, "lr_g": 3e-4,
            "lr_d": 7e-4, "hidden": 16}
    tr = Trainer("mlp", "digits", overrides=over)
    assert tr.fit()["step"] == steps
    assert [tr.opts[k].param_groups[0]["lr"] for k in ("G", "D")] == [0.0, 0.0]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_lr_decay_must_be_a_fraction(bad):
    with pytest.raises(ValueError, match="lr_decay"):
        mlp.MLPGAN(mlp.MLPRecipe(lr_decay=bad), MNIST)


def test_wgan_clips_the_critic_and_logs_w(quiet):
    tr = Trainer("wgan", "digits", overrides={**quiet, "resolution": 16, "width": 8, "batch": 16, "n_critic": 2,
                                              "max_steps": 2, "log_every": 1})
    assert isinstance(tr.opts["D"], torch.optim.RMSprop)
    tr.fit()
    assert max(p.abs().max().item() for p in tr.nets["D"].parameters()) <= 0.01
    from fastgan.train.monitor import read_scalars
    series = read_scalars(f"{quiet['out']}/scalars.csv")
    w = series["D/W"]
    d_real, d_fake = series["D/D_real"], series["D/D_fake"]
    for (_, a), (_, b), (_, c) in zip(w, d_real, d_fake):
        assert math.isclose(a, b - c, rel_tol=1e-4, abs_tol=1e-6)


@pytest.mark.parametrize("boost, first, every, steps, d_steps", [
    (5, 2, 3, 7, [5, 5, 2, 5, 2, 2, 5]),       # steps 0-1 (the first 2) and every 3rd: 0, 3, 6
    (5, 0, 4, 6, [5, 2, 2, 2, 5, 2]),          # no first steps: 0 and 4
    (5, 3, 0, 5, [5, 5, 5, 2, 2]),             # never again after the first 3
    (2, 3, 1, 4, [2, 2, 2, 2]),                # a boost of n_critic or less is no boost
    (0, 25, 500, 3, [2, 2, 2]),                # off
])
def test_wgan_critic_boost_runs_extra_critic_steps(boost, first, every, steps, d_steps, quiet):
    """The released WGAN training's critic boost: critic_boost D steps, each on a fresh batch, in the first
    boost_first G steps and every boost_every-th; n_critic in the others.  Counted from the images seen and
    the clipping still holds after every critic step."""
    batch = 4
    over = {**quiet, "resolution": 16, "width": 8, "batch": batch, "n_critic": 2, "critic_boost": boost,
            "boost_first": first, "boost_every": every}
    seen = []
    tr = Trainer("wgan", "digits", overrides=over)
    for _ in range(steps):
        before = tr.nimg
        tr.train_step()
        seen.append((tr.nimg - before) // batch)
    assert seen == d_steps
    assert max(p.abs().max().item() for p in tr.nets["D"].parameters()) <= 0.01
    # the lr schedule counts the same steps: kimg of exactly the images of these steps
    fam = wgan.WGAN(wgan.WGANRecipe(**{k: over[k] for k in ("resolution", "batch", "n_critic", "critic_boost", "boost_first",
                                                              "boost_every")}, kimg=sum(d_steps) * batch / 1000),
                    DataInfo((1, 16, 16)))
    assert fam.run_steps() == steps


@pytest.mark.parametrize("field", ["critic_boost", "boost_first", "boost_every"])
@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_wgan_critic_boost_fields_are_checked(field, bad):
    with pytest.raises(ValueError, match=f"{field} must be an int >= 0"):
        wgan.WGAN(wgan.WGANRecipe(**{field: bad}), DataInfo((1, 32, 32)))


def test_mlp_discriminator_learns_to_separate(quiet):
    """After some steps D scores real digits above generated ones (non-saturating loss)."""
    tr = Trainer("mlp", "digits", overrides={**quiet, "batch": 32, "lr_d": 1e-3})
    for _ in range(15):
        tr.train_step()
    D, G = tr.nets["D"], tr.nets["G"]
    with torch.no_grad():
        real = tr.family.prepare(*tr.dataset.get_batch(torch.arange(200)), "cpu")[0]
        fake = G(tr.family.latent(200, torch.Generator().manual_seed(0)))
        assert D(real).mean() > D(fake).mean() + 0.2          # ~0.88 vs ~0.53 over seeds


def test_gmmn_reduces_mmd(quiet):
    from fastgan.metrics import mmd2
    from fastgan.data import toy
    from fastgan.train.toy import toy_trainer

    data = toy.gaussian_dataset(4000, 1.0, 0.5)
    tr = toy_trainer(data, out=quiet["out"], model="gmmn", z_dim=1, hidden=[16], batch=128,
                         bandwidths=[0.5, 1.0, 2.0], lr=1e-2)
    real = data.X[:1000]
    gen = torch.Generator().manual_seed(0)
    z = tr.family.latent(1000, gen)

    def current():
        with torch.no_grad():
            return float(mmd2(tr.nets["G"](z), real, bandwidths=(0.5, 1.0, 2.0)))
    start = current()
    for _ in range(60):
        tr.train_step()
    assert current() < 0.1 * start             # ~1.6 -> ~0.01


# -- command line ------------------------------------------------------------------------------------
FAST = ["--threads", "1", "--no-progress", "--set", "tensorboard=false", "--set", "fid=false"]


def test_cli_trains_mlp_on_two_digits(tmp_path, capsys):
    from fastgan.cli import main
    from fastgan import checkpoint

    out = str(tmp_path / "run")
    assert main(["train", "--model", "mlp", "--data", "mnist", "--kimg", "0.128", "--batch", "32",
                 "--set", "digits=[1,2]", "--set", "loss=minimax", "--out", out, *FAST]) == 0
    assert "done: step 4" in capsys.readouterr().out
    s = checkpoint.load(checkpoint.find(out))
    assert s["model"] == "mlp" and tuple(s["recipe"]["digits"]) == (1, 2) and s["recipe"]["loss"] == "minimax"


def test_cgan_label_controlled_sampling(tmp_path, capsys, quiet):
    from PIL import Image

    out = quiet["out"]
    Trainer("cgan", "digits", overrides={**quiet, "width": 8, "batch": 16, "max_steps": 2}).fit()
    a = cgan.sample(out, [3, 3, 7], seed=5)
    b = cgan.sample(out, torch.tensor([3, 4, 7]), seed=5)
    assert a.shape == (3, 1, 8, 8)
    torch.testing.assert_close(a[[0, 2]], b[[0, 2]])      # same seed and label: same image
    assert not torch.allclose(a[1], b[1])                  # same seed, other label: another image
    with pytest.raises(ValueError, match="labels must lie"):
        cgan.sample(out, [10])
    grid = str(tmp_path / "grid.png")
    assert cgan.main(["--ckpt", out, "--labels", "0-2", "--per-label", "4", "--out", grid]) == 0
    assert "12 samples of classes [0, 1, 2]" in capsys.readouterr().out
    assert Image.open(grid).size == (2 + 4 * 10, 2 + 3 * 10)


def test_best_samples_draws_the_family_latent():
    fam = dcgan_mnist.DCGANMnist(dcgan_mnist.DCGANMnistRecipe(), MNIST)
    nets = fam.build()
    imgs, scores = dcgan_mnist.best_samples(fam, nets["G"], nets["D"], n=12, k=3, seed=1)
    assert imgs.shape == (3, 1, 28, 28) and bool((scores[:-1] >= scores[1:]).all())
    assert nets["G"].training and nets["D"].training            # modes restored
    with pytest.raises(ValueError, match="n must be"):
        dcgan_mnist.best_samples(fam, nets["G"], nets["D"], n=0)


def test_dcgan28_d_norm_and_its_guard_against_the_gradient_penalty():
    from fastgan.models import dcgan28
    from torch import nn
    has_bn = lambda D: any(isinstance(m, nn.BatchNorm2d) for m in D.modules())  # noqa: E731
    assert has_bn(dcgan28.Discriminator(8, 28, norm="bn"))
    D = dcgan28.Discriminator(8, 28, norm="none")
    assert not has_bn(D)
    # without BatchNorm, D's outputs are per sample: one image's logit ignores the rest of the batch
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(D(x)[2:3], D(x[2:3]))
    with pytest.raises(ValueError, match="d_norm must be"):
        dcgan28.DCGAN28(dcgan28.DCGAN28Recipe(d_norm="layer"), MNIST)


@pytest.mark.parametrize("resolution", [28, 32, 12, 8])
@pytest.mark.parametrize("depth", [2, 3])
def test_dcgan28_depth_gives_each_stage_its_size(depth, resolution):
    """depth 2: 7x7 (r/4) -> r; depth 3 adds a stage at ceil(r/8) with twice the channels, in G and in D."""
    from torch import nn
    G = dcgan28.Generator(16, 6, resolution, depth=depth)
    D = dcgan28.Discriminator(6, resolution, norm="none", depth=depth)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 1, resolution, resolution) and float(x.detach().abs().max()) <= 1.0
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [6, 12, 24][:depth]
    sizes = []
    for m in convs:
        m.register_forward_hook(lambda mod, inp, out: sizes.append(out.shape[-1]))
    y = D(x.contiguous(memory_format=torch.channels_last))
    s = resolution // 4
    assert y.shape == (5, 1) and sizes == [resolution // 2, s, (s + 1) // 2][:depth]
    torch.testing.assert_close(D(x)[3:4], D(x[3:4]))       # per sample: no BatchNorm with d_norm none
    gconvs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.in_channels for m in gconvs] == [24, 12, 6][-depth:]


@pytest.mark.parametrize("depth", [4, 1, True])
def test_dcgan28_refuses_a_depth_it_does_not_have(depth):
    for make in (lambda: dcgan28.DCGAN28(dcgan28.DCGAN28Recipe(depth=depth), MNIST),
                 lambda: dcgan28.Generator(depth=depth), lambda: dcgan28.Discriminator(depth=depth)):
        with pytest.raises(ValueError, match="depth must be 2 or 3"):
            make()


def _for_training(fam):
    """What the engine does before the first step: build the networks and their optimisers."""
    return fam.optimizers(fam.build())


@pytest.mark.parametrize("make, hint", [
    (lambda **kw: dcgan28.DCGAN28(dcgan28.DCGAN28Recipe(d_norm="bn", **kw), MNIST), "d_norm=none"),
    (lambda **kw: dcgan.DCGAN(dcgan.DCGANRecipe(resolution=32, **kw), DataInfo((1, 32, 32))), "norm=layer"),
    (lambda **kw: wgan.WGANGP(wgan.WGANGPRecipe(norm="batch", **kw), DataInfo((1, 32, 32))), "norm=layer"),
    (lambda **kw: dcgan_mnist.DCGANMnist(dcgan_mnist.DCGANMnistRecipe(**kw), MNIST), "without it")])
@pytest.mark.parametrize("penalty", [{"gp_lambda": 10.0}, {"gp_lambda": 0.0, "r1_gamma": 1.0}])
def test_a_batchnorm_d_refuses_the_per_sample_gradient_penalties(make, hint, penalty):
    """BatchNorm makes each sample's D output depend on the rest of the batch, so GP and R1 are refused
    for any D that has it (dcgan's default norm, dcgan28's Radford D, the Keras source's D), with the
    recipe field that removes it; without a penalty the same networks train."""
    with pytest.raises(ValueError, match=f"BatchNorm2d.*gp_lambda, r1_gamma.*{hint}"):
        _for_training(make(**penalty))
    _for_training(make(gp_lambda=0.0))


def test_the_penalties_train_a_d_without_batchnorm():
    _for_training(dcgan28.DCGAN28(dcgan28.DCGAN28Recipe(), MNIST))   # the default: no BatchNorm, GP
    _for_training(dcgan.DCGAN(dcgan.DCGANRecipe(resolution=32, r1_gamma=1.0, norm="layer"), DataInfo((1, 32, 32))))


@pytest.mark.parametrize("gp_lambda, r1_gamma, reg_every, step", [
    (0.0, 3.0, 2, 4), (0.0, 3.0, 2, 5), (0.0, 0.5, 1, 3), (2.0, 3.0, 4, 8), (2.0, 3.0, 4, 9), (2.0, 0.0, 3, 0)])
def test_d_loss_penalties_match_an_analytic_reference(gp_lambda, r1_gamma, reg_every, step):
    """The mlp's D is Linear -> LeakyReLU(0.2) -> Linear, so its input gradient is W2 diag(slope) W1 per
    sample: the non-saturating D loss plus reg_every * (gp_lambda * GP + r1_gamma / 2 * mean |grad D(real)|^2)
    on the steps that are multiples of reg_every (and nothing extra on the others), in float64."""
    from fastgan.family.contract import Context
    torch.manual_seed(0)
    rec = mlp.MLPRecipe(gp_lambda=gp_lambda, r1_gamma=r1_gamma, reg_every=reg_every, hidden=24, z_dim=7)
    fam = mlp.MLPGAN(rec, MNIST)
    nets = fam.build()
    real = torch.rand(6, 1, 28, 28) * 2 - 1
    ctx = Context(nets, real, None, step, 0, 0, 1, "cpu", torch.Generator().manual_seed(5), fam)
    loss, logs = fam.d_loss(ctx)

    g = torch.Generator().manual_seed(5)          # the same draws: z for the fakes, then GP's alpha
    z = torch.randn(6, 7, generator=g)
    alpha = torch.rand(6, generator=g).double()
    D = nets["D"].features
    W1, b1, W2, b2 = (t.detach().double() for t in (D[1].weight, D[1].bias, D[3].weight, D[3].bias))
    x = real.double().flatten(1)
    fake = nets["G"](z).detach().double().flatten(1)

    def logit(v):
        return F.leaky_relu(v @ W1.T + b1, 0.2) @ W2.T + b2

    def grad(v):
        slope = torch.where(v @ W1.T + b1 > 0, 1.0, 0.2).double()
        return (slope * W2) @ W1               # [n, 784]: dD/dx of each sample

    want = F.softplus(-logit(x)).mean() + F.softplus(logit(fake)).mean()
    if step % reg_every == 0:
        x_hat = x + alpha[:, None] * (fake - x)
        want = want + reg_every * gp_lambda * ((grad(x_hat).norm(dim=1) - 1) ** 2).mean() * (gp_lambda > 0)
        want = want + reg_every * r1_gamma * 0.5 * grad(x).square().sum(1).mean()
    assert ("r1" in logs) == (r1_gamma > 0 and step % reg_every == 0)
    torch.testing.assert_close(loss.double(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_reg_every_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="reg_every"):
        mlp.MLPGAN(mlp.MLPRecipe(reg_every=bad), MNIST)
