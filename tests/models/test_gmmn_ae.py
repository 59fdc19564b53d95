"""GMMN+AE (``gmmn`` with ``space=autoencoder``): the auto-encoder stage, then the GMMN on frozen codes."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from fastgan.family import DataInfo
from fastgan.losses import mmd2
from fastgan.models import gmmn
from fastgan.train import Trainer

# a tiny network: ae 196-16-4, code MLP 3-8-4
TINY = {"space": "autoencoder", "code_dim": 4, "ae_hidden": [16], "hidden": [8], "z_dim": 3, "batch": 32}


@pytest.mark.parametrize("n, d", [(2, 1), (7, 5), (40, 3)])
def test_median_distance_matches_scipy(n, d):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(n), dtype=torch.float64) * 3 + 1
    ref = np.median(pdist(x.numpy()))
    torch.testing.assert_close(gmmn.median_distance(x), torch.tensor(ref, dtype=torch.float64))
    # rows of any shape are flattened; a strided view is read as it is
    y = torch.randn(n, 2, d + 1, dtype=torch.float64).transpose(1, 2)
    torch.testing.assert_close(gmmn.median_distance(y), torch.tensor(np.median(pdist(y.reshape(n, -1).numpy())),
                                                                     dtype=torch.float64))


@pytest.mark.parametrize("n", [1, 4097])
def test_median_distance_checks_rows(n):
    with pytest.raises(ValueError, match="2 to 4096 rows"):
        gmmn.median_distance(torch.randn(n, 3))


def test_networks_shapes_and_range():
    shape = (3, 13, 11)
    E, G = gmmn.Encoder(shape, (20,), 5), gmmn.AEGenerator(4, (9, 7), 5, shape, (20,))
    x = torch.rand(6, *shape)
    c = E(x)
    assert c.shape == (6, 5)
    assert G.decoder(c).shape == (6, *shape)
    img = G(torch.rand(6, 4) * 2 - 1)
    assert img.shape == (6, *shape) and bool((img.abs() <= 1).all())
    # channels_last and a strided view encode as the contiguous images do
    torch.testing.assert_close(E(x.to(memory_format=torch.channels_last)), c)
    wide = torch.rand(6, 3, 13, 22)
    torch.testing.assert_close(E(wide[..., ::2]), E(wide[..., ::2].contiguous()))
    # dropout acts only when asked: without it the encoder is deterministic even in train mode
    torch.testing.assert_close(E(x), c)
    torch.manual_seed(0)
    assert not torch.equal(E(x, 0.5), c)


@pytest.mark.parametrize("overrides, message", [
    ({"space": "latent"}, "space"),
    ({"space": "autoencoder", "criterion": "moments"}, "criterion"),
    ({"space": "autoencoder", "code_dim": 0}, "code_dim"),
    ({"space": "autoencoder", "code_bandwidths": (1.0, -2.0)}, "code_bandwidths"),
    ({"space": "autoencoder", "ae_dropout": 1.0}, "ae_dropout"),
    ({"space": "autoencoder", "ae_kimg": 0.0}, "ae_kimg"),
])
def test_bad_recipe_values_raise(overrides, message):
    with pytest.raises(ValueError, match=message):
        gmmn.GMMN(gmmn.GMMNRecipe(**overrides), DataInfo((1, 28, 28), 10))


def test_autoencoder_space_needs_images():
    with pytest.raises(ValueError, match="needs images"):
        gmmn.GMMN(gmmn.GMMNRecipe(space="autoencoder"), DataInfo((7,)))


def _snapshot(tr):
    return {k: [p.detach().clone() for p in m.parameters()] for k, m in
            {"E": tr.nets["E"], "dec": tr.nets["G"].decoder, "code": tr.nets["G"].code}.items()}


def _moved(a, b):
    return {k: any(not torch.equal(x, y) for x, y in zip(a[k], b[k])) for k in a}


def test_stages_train_the_right_networks(quiet):
    """Stage ``ae`` trains the encoder and the decoder only; stage ``gmmn`` the code MLP only (the AE is frozen)."""
    tr = Trainer("gmmn", "digits", overrides={**quiet, **TINY, "ae_kimg": 0.064, "kimg": 0.064})
    assert [s.name for s in tr.stages] == ["ae", "gmmn"]
    s0 = _snapshot(tr)
    tr.train_step(), tr.train_step()          # 2 x 32 images: the ae stage
    s1 = _snapshot(tr)
    assert _moved(s0, s1) == {"E": True, "dec": True, "code": False}
    assert tr.stage.name == "gmmn" and "code_sigma" not in tr.family.state
    tr.train_step(), tr.train_step()
    s2 = _snapshot(tr)
    assert _moved(s1, s2) == {"E": False, "dec": False, "code": True}
    assert tr.finished
    sigma = tr.family.state["code_sigma"]
    assert sigma > 0
    # the bandwidths are the recipe's multiples of the stored median, and stay fixed once measured
    assert tr.family.code_bandwidths(torch.randn(9, 4) * 100) == tuple(sigma * b for b in tr.recipe.code_bandwidths)


def test_code_sigma_survives_a_resume(quiet):
    over = {**quiet, **TINY, "ae_kimg": 0.032, "kimg": 0.128, "ckpt_kimg": 0.064}
    tr = Trainer("gmmn", "digits", overrides={**over, "max_steps": 3})
    tr.fit()
    sigma = tr.family.state["code_sigma"]
    tr2 = Trainer(resume=quiet["out"], overrides={k: v for k, v in quiet.items() if k not in ("overwrite", "out")})
    assert tr2.family.state["code_sigma"] == sigma and tr2.stage.name == "gmmn"


def test_the_gmmn_stage_moves_codes_towards_the_data(quiet):
    """After the ae stage, training the code MLP lowers the MMD between its codes and the real codes
    (measured on held-out latents and a fixed set of real digits, with the run's bandwidths)."""
    tr = Trainer("gmmn", "digits",
                 overrides={**quiet, **TINY, "hidden": [32, 32], "batch": 64, "ae_kimg": 3.2, "kimg": 9.6})
    while tr.stage.name == "ae":
        tr.train_step()
    x, _ = tr.family.prepare(*tr.dataset.get_batch(torch.arange(0, len(tr.dataset), 3)), "cpu")
    g = torch.Generator().manual_seed(3)
    z = torch.rand(300, 3, generator=g) * 2 - 1
    with torch.no_grad():
        real = tr.nets["E"]((x + 1) / 2)
        bw = [float(gmmn.median_distance(real[:200])) * b for b in tr.recipe.code_bandwidths]
        before = mmd2(tr.nets["G"].code(z), real, bandwidths=bw)
    tr.fit()
    with torch.no_grad():
        after = mmd2(tr.nets["G"].code(z), real, bandwidths=bw)
    assert after < 0.5 * before, (float(before), float(after))


def test_no_collapse_check_in_the_ae_stage(quiet):
    """The auto-encoder stage's samples all decode one untrained code: the mode-collapse check waits for the
    gmmn stage instead of warning every collapse_kimg through the ae stage."""
    from fastgan.train.monitor import read_scalars

    tr = Trainer("gmmn", "digits", overrides={**quiet, **TINY, "ae_kimg": 0.128, "kimg": 0.128,
                                              "collapse_kimg": 0.032})
    assert not tr.family.samples_ready("ae") and tr.family.samples_ready("gmmn")
    tr.fit()
    at = [k for k, _ in read_scalars(f"{quiet['out']}/scalars.csv")["collapse/spread"]]
    assert at and min(at) >= 0.128, at     # none at 0.032-0.096: the ae stage
    pixels = gmmn.GMMN(gmmn.GMMNRecipe(), DataInfo((1, 28, 28), 10))
    assert pixels.samples_ready("train")

