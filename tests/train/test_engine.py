"""The training engine: a short run, bit-exact resume, lazy regularisation, EMA, overrides."""
import math
import os

import pytest
import torch
from train_helpers import assert_same_state

from fastgan import checkpoint
from fastgan.train import Trainer
from fastgan.train.monitor import read_scalars

# a run that touches every stateful part: n_critic, lazy R1, EMA with ramp, dropout
# (global torch RNG), hflip (loader), grad clipping
RICH = {"n_critic": 2, "r1_gamma": 0.5, "r1_interval": 3, "ema_kimg": 0.05, "ema_rampup": 0.5,
        "dropout": 0.2, "hflip": True, "grad_clip": 1.0, "batch": 8, "kimg": 100.0}


def test_short_run_writes_everything(tmp_path, quiet):
    out = str(tmp_path / "run")
    tr = Trainer("tiny", "mnist", overrides={**quiet, "out": out, "kimg": 0.32, "batch": 16, "ema_kimg": 0.1,
                                             "log_every": 5, "run.tensorboard": True})
    g0 = [p.detach().clone() for p in tr.nets["G"].parameters()]
    s = tr.fit()
    assert s["status"] == "done" and s["step"] == 20 and math.isclose(s["kimg"], 0.32)
    assert any(not torch.equal(a, b) for a, b in zip(g0, tr.nets["G"].parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(tr.ema["G"].parameters(), tr.nets["G"].parameters()))
    for rel in ("losses.png", "samples/latest.png", "scalars.csv"):
        assert os.path.getsize(os.path.join(out, rel)) > 0, rel
    assert os.listdir(os.path.join(out, "tensorboard"))
    series = read_scalars(os.path.join(out, "scalars.csv"))
    assert len(series["loss/D"]) == 4 and all(math.isfinite(v) for _, v in series["loss/G"])
    state = checkpoint.load(checkpoint.find(out))
    assert state["step"] == 20 and state["model"] == "tiny" and state["data_spec"] == "mnist"


def test_resume_is_bit_exact(tmp_path, quiet):
    straight = Trainer("tiny", "mnist", overrides={**quiet, **RICH, "out": str(tmp_path / "a"), "max_steps": 8})
    straight.fit()
    first = Trainer("tiny", "mnist", overrides={**quiet, **RICH, "out": str(tmp_path / "b"), "max_steps": 4})
    first.fit()
    resumed = Trainer(resume=str(tmp_path / "b"), overrides={"max_steps": 4})
    assert resumed.step == 4 and resumed.run.out == str(tmp_path / "b")
    resumed.fit()
    assert_same_state(straight, resumed)
    # and the lazy phase really ran at steps 0, 3, 6 and the loader went through 2 batches per step
    assert straight.nimg == 8 * 2 * 8
    d_lr = straight.opts["D"].param_groups[0]["lr"]
    assert math.isclose(d_lr, 1e-3 * 3 / 4)


def test_resume_from_a_different_step_is_not_equal(tmp_path, quiet):
    """Guards the test above: a state that differs by one step must not compare equal."""
    a = Trainer("tiny", "mnist", overrides={**quiet, **RICH, "out": str(tmp_path / "a"), "max_steps": 3})
    a.fit()
    b = Trainer("tiny", "mnist", overrides={**quiet, **RICH, "out": str(tmp_path / "b"), "max_steps": 4})
    b.fit()
    with pytest.raises(AssertionError):
        assert_same_state(a, b)


def test_lazy_adjustment_and_gain(tmp_path, quiet):
    tr = Trainer("tiny", "mnist", overrides={**quiet, "out": str(tmp_path), "r1_gamma": 1.0, "r1_interval": 4,
                                             "lr_d": 0.01, "betas": [0.5, 0.99]})
    g = tr.opts["D"].param_groups[0]
    c = 4 / 5
    assert math.isclose(g["lr"], 0.01 * c)
    assert all(math.isclose(b, b0 ** c) for b, b0 in zip(g["betas"], (0.5, 0.99)))
    assert tr.opts["G"].param_groups[0]["lr"] == tr.recipe.lr_g  # G has no lazy phase
    calls = []
    orig = tr.family.r1_loss
    tr.family.r1_loss = lambda ctx: calls.append(ctx.step) or orig(ctx)
    for _ in range(9):
        tr.train_step()
    assert calls == [0, 4, 8]


def test_ema_follows_half_life(tmp_path, quiet):
    tr = Trainer("tiny", "mnist", overrides={**quiet, "out": str(tmp_path), "ema_kimg": 0.016, "batch": 16})
    before = [p.detach().clone() for p in tr.ema["G"].parameters()]
    tr.train_step()
    # half-life 16 images = one batch: beta = 0.5, the EMA moves halfway to the new weights
    for e, b, p in zip(tr.ema["G"].parameters(), before, tr.nets["G"].parameters()):
        torch.testing.assert_close(e, 0.5 * b + 0.5 * p.detach(), rtol=0, atol=1e-6)


def test_bf16_autocast_runs_on_cpu(tmp_path, quiet):
    tr = Trainer("tiny", "mnist", overrides={**quiet, "out": str(tmp_path), "amp": "bf16", "max_steps": 3})
    s = tr.fit()
    assert s["step"] == 3
    assert all(torch.isfinite(p).all() for p in tr.nets["G"].parameters())


@pytest.mark.parametrize("overrides, match", [
    ({"amp": "fp16"}, "CUDA"),
    ({"amp": "fp8"}, "amp must be"),
    ({"loss": "nope"}, "valid losses"),
    ({"nonsense": 1}, "unknown option 'nonsense'; model options: batch"),
    ({"batch": "many"}, "integer"),
    ({"betas": [0.5]}, "needs 2 values"),
])
def test_bad_options_are_named(tmp_path, quiet, overrides, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Trainer("tiny", "mnist", overrides={**quiet, "out": str(tmp_path), **overrides})


def test_unwritable_out_fails_before_data(tmp_path, quiet):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not writable"):
        Trainer("tiny", "no-such-data", overrides={**quiet, "out": str(blocker / "run")})


def test_existing_run_is_not_clobbered(tmp_path, quiet):
    ov = {**quiet, "out": str(tmp_path), "max_steps": 1}
    Trainer("tiny", "digits", overrides=ov).fit()
    with pytest.raises(ValueError, match="already holds a run"):
        Trainer("tiny", "digits", overrides=ov)
    Trainer("tiny", "digits", overrides={**ov, "overwrite": True}).fit()


def test_dcgan28_trains_a_step_on_digits(tmp_path, quiet):
    tr = Trainer("dcgan28", "digits", overrides={**quiet, "out": str(tmp_path), "batch": 8, "max_steps": 2,
                                                "grid": 4})
    assert tr.dataset.shape == (1, 28, 28)
    s = tr.fit()
    assert s["step"] == 2
    assert tr.sample(tr.grid_inputs[0]).shape == (4, 1, 28, 28)


class _Scheduled(__import__("fastgan.models.tiny", fromlist=["TinyGAN"]).TinyGAN):
    """A family with a schedule (ProGAN-like alpha) and a tensor running mean (path-length-like)."""

    name = "tiny-scheduled"

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        self.state = {"alpha": 0.0, "pl_mean": torch.zeros(())}

    def g_loss(self, ctx):
        fake = ctx.nets["G"](ctx.latent(ctx.batch.shape[0]))
        self.state["pl_mean"] = 0.9 * self.state["pl_mean"] + 0.1 * fake.detach().square().mean()
        return self._g_fn(ctx.nets["D"](fake * (0.5 + 0.5 * self.state["alpha"])))

    def end_step(self, ctx):
        self.state["alpha"] = min(1.0, ctx.nimg / 200)


def test_family_state_is_checkpointed_and_resumed(tmp_path, quiet):
    ov = {**quiet, "batch": 8, "kimg": 100.0}
    straight = Trainer(_Scheduled, "digits", overrides={**ov, "out": str(tmp_path / "a"), "max_steps": 10})
    straight.fit()
    Trainer(_Scheduled, "digits", overrides={**ov, "out": str(tmp_path / "b"), "max_steps": 5}).fit()
    resumed = Trainer(_Scheduled, resume=str(tmp_path / "b"), overrides={"max_steps": 5})
    assert resumed.family.state["alpha"] == 5 * 8 / 200 and resumed.family.state["pl_mean"] > 0
    resumed.fit()
    assert straight.family.state["alpha"] == resumed.family.state["alpha"] == 80 / 200
    assert torch.equal(straight.family.state["pl_mean"], resumed.family.state["pl_mean"])
    assert_same_state(straight, resumed)
    with pytest.raises(ValueError, match="differs from the checkpoint's model"):
        Trainer("tiny", resume=str(tmp_path / "b"))


def test_fid_hook_with_digits_features(tmp_path, quiet, monkeypatch):
    """FID wiring: random classifier weights stand in for the shipped ones."""
    from fastgan.metrics import digits
    from safetensors.torch import save_file

    torch.manual_seed(0)
    weights = str(tmp_path / "digits.safetensors")
    save_file(digits.DigitsNet().state_dict(), weights)
    monkeypatch.setattr(digits, "WEIGHTS_PATH", weights)
    out = str(tmp_path / "run")
    from fastgan.data import ArrayImages, load_digits

    x, y = load_digits()
    small = ArrayImages(x[:300], y[:300], name="digits-300")  # not a built-in name: fid_kimg turns FID on
    tr = Trainer("tiny", small, overrides={**quiet, "out": out, "fid": True, "fid_samples": 200,
                                              "fid_kimg": 0.08, "batch": 8, "max_steps": 20})
    s = tr.fit()
    fids = read_scalars(os.path.join(out, "scalars.csv"))["metrics/fid_digits"]
    assert len(fids) == 2 and all(v > 0 and math.isfinite(v) for _, v in fids)  # at 0.08 kimg and the end
    assert s["metrics"]["fid_digits"] == pytest.approx(fids[-1][1], rel=1e-5)
    from fastgan.train.metrics_hook import evaluate

    assert evaluate(tr)["fid_digits"] == pytest.approx(s["metrics"]["fid_digits"])  # fixed latents


def test_a_dcgan28_checkpoint_from_before_d_norm_still_loads_and_resumes(tmp_path, quiet, monkeypatch):
    """Checkpoints written before dcgan28 had ``d_norm`` (and ``reg_every``, ``depth``) hold the two-stage
    networks with BatchNorm in D: read without those fields they must build those networks again, not
    today's default (three stages, no BatchNorm)."""
    from torch import nn
    from fastgan import checkpoint as ckpt
    from fastgan.models import load_networks
    out = str(tmp_path / "old")
    Trainer("dcgan28", "digits", overrides={**quiet, "out": out, "batch": 8, "max_steps": 1, "d_norm": "bn",
                                             "gp_lambda": 0.0, "reg_every": 1, "depth": 2, "width": 64}).fit()
    real_load = ckpt.load

    def old_load(path, *a, **kw):      # the checkpoint as the earlier version wrote it
        state = real_load(path, *a, **kw)
        state["recipe"] = {k: v for k, v in state["recipe"].items() if k not in ("d_norm", "reg_every", "depth")}
        return state

    monkeypatch.setattr(ckpt, "load", old_load)
    _, nets, _ = load_networks(out)
    assert any(isinstance(m, nn.BatchNorm2d) for m in nets["D"].modules())
    assert [m.out_channels for m in nets["D"].modules() if isinstance(m, nn.Conv2d)] == [64, 128]
    resumed = Trainer(resume=out, overrides={"max_steps": 2})
    assert (resumed.recipe.d_norm, resumed.recipe.gp_lambda, resumed.recipe.reg_every) == ("bn", 0.0, 1)
    assert (resumed.recipe.depth, resumed.recipe.width) == (2, 64)
    assert resumed.fit()["step"] == 3          # the saved step 1, then 2 more


def test_a_wgan_run_from_before_the_critic_boost_resumes_without_it(tmp_path, quiet, monkeypatch):
    """A wgan checkpoint written before ``critic_boost`` existed trained with n_critic critic steps in every G
    step: resumed, it must go on so (n_critic fresh batches a step), not start boosting (100 a step)."""
    from fastgan import checkpoint as ckpt
    out = str(tmp_path / "old")
    over = {**quiet, "out": out, "resolution": 16, "width": 8, "batch": 4, "n_critic": 2}
    Trainer("wgan", "digits", overrides={**over, "critic_boost": 0, "max_steps": 1}).fit()
    real_load = ckpt.load

    def old_load(path, *a, **kw):      # the checkpoint as the earlier version wrote it
        state = real_load(path, *a, **kw)
        state["recipe"] = {k: v for k, v in state["recipe"].items()
                           if k not in ("critic_boost", "boost_first", "boost_every")}
        return state

    monkeypatch.setattr(ckpt, "load", old_load)
    resumed = Trainer(resume=out, overrides={"max_steps": 2})
    assert resumed.recipe.critic_boost == 0
    nimg = resumed.nimg
    assert resumed.fit()["step"] == 3          # the saved step 1, then 2 more
    assert resumed.nimg - nimg == 2 * 2 * 4          # two steps of n_critic = 2 batches of 4
    # a new run of the paper recipe boosts its first steps: 100 batches in step 0
    fresh = Trainer("wgan", "digits", overrides={**over, "out": str(tmp_path / "new")})
    fresh.train_step()
    assert fresh.nimg == 100 * 4
