"""CycleGAN and SRGAN through the training engine: steps of every stage, exact resume mid-stage."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan import checkpoint, models
from fastgan.models.translate import translate_folder
from fastgan.train import Trainer

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False,
         "snap_kimg": 0.0, "ckpt_kimg": 0.0, "overwrite": True, "run.grid": 4}
CYCLE = {"model.ngf": 4, "model.ndf": 4, "model.n_blocks": 1, "model.d_depth": 2, "model.batch": 2,
         "model.kimg": 0.012, "model.pool_size": 3}
SR = {"model.n_blocks": 1, "model.width": 8, "model.d_width": 4, "model.fc": 8, "model.crop": 28, "model.d_depth": 2,
      "model.batch": 4, "model.pretrain_kimg": 0.016, "model.kimg": 0.016, "model.hflip": True,
      "model.content": "module:fastgan.metrics.digits:DigitsFeatures"}


def assert_same(a: Trainer, b: Trainer):
    assert a.step == b.step and a.nimg == b.nimg and a.stage_index == b.stage_index
    for k in a.nets:
        for (n, p), q in zip(a.nets[k].state_dict().items(), b.nets[k].state_dict().values()):
            assert torch.equal(p, q), f"{k}.{n}"
    for k in a.opts:
        assert [g["lr"] for g in a.opts[k].param_groups] == [g["lr"] for g in b.opts[k].param_groups]
        for s, t in zip(a.opts[k].state.values(), b.opts[k].state.values()):
            assert all(torch.equal(s[x], t[x]) for x in s)


def run(tmp_path, name, model, data, extra, steps, resume_from=None):
    if resume_from is not None:
        tr = Trainer(resume=str(tmp_path / resume_from), overrides={"max_steps": steps})
    else:
        tr = Trainer(model, data, overrides={**QUIET, **extra, "out": str(tmp_path / name), "max_steps": steps})
    tr.fit()
    return tr


@pytest.mark.slow
def test_cyclegan_trains_and_resumes_exactly(tmp_path):
    straight = run(tmp_path, "a", "cyclegan", "digits", CYCLE, 6)
    half = run(tmp_path, "b", "cyclegan", "digits", CYCLE, 3)
    lr = half.opts["G"].param_groups[0]["lr"]
    assert lr == pytest.approx(2e-4)                     # 6 steps: 3 at the constant rate, then 2/3, 1/3, 0
    resumed = run(tmp_path, None, None, None, None, 3, resume_from="b")
    assert_same(straight, resumed)
    assert straight.finished and straight.opts["D"].param_groups[0]["lr"] == 0.0
    for k in "AB":   # the history pools are part of the state
        a, b = straight.family.pools[k].images, resumed.family.pools[k].images
        assert len(a) == 3 and all(torch.equal(x, y) for x, y in zip(a, b))
    state = checkpoint.load(checkpoint.find(str(tmp_path / "a")))
    assert set(state["nets"]) == {"G_AB", "G_BA", "D_A", "D_B"} and state["scheds"]["G"]["last_epoch"] == 6
    assert os.path.getsize(tmp_path / "a" / "samples" / "latest.png") > 0


@pytest.mark.slow
def test_srgan_stages_and_resume_in_the_middle_of_each(tmp_path):
    straight = run(tmp_path, "a", "srgan", "mnist", SR, 8)
    d0 = run(tmp_path, "b", "srgan", "mnist", SR, 2)            # 2 of the 4 MSE steps
    init = Trainer("srgan", "mnist", overrides={**QUIET, **SR, "out": str(tmp_path / "c")})
    assert all(torch.equal(p, q) for p, q in zip(d0.nets["D"].parameters(), init.nets["D"].parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(d0.nets["G"].parameters(), init.nets["G"].parameters()))
    mid = run(tmp_path, None, None, None, None, 4, resume_from="b")  # ends 2 steps into the GAN stage
    assert mid.stage.name == "gan" and mid.step == 6
    assert d0.opts["G"].param_groups[0]["lr"] == 1e-4 and mid.opts["D"].param_groups[0]["lr"] == pytest.approx(1e-5)
    assert any(not torch.equal(p, q) for p, q in zip(mid.nets["D"].parameters(), init.nets["D"].parameters()))
    resumed = run(tmp_path, None, None, None, None, 2, resume_from="b")
    assert_same(straight, resumed)
    assert straight.finished
    state = checkpoint.load(checkpoint.find(str(tmp_path / "a")))
    assert set(state["nets"]) == {"G", "D"}                   # the frozen feature network is not saved


def test_bad_data(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Trainer("cyclegan", "nowhere", overrides={**QUIET, **CYCLE, "out": str(tmp_path / "x")})
    with pytest.raises(ValueError, match=r"mnist-5k/train\[0\]: 28x28 is smaller than the crop 32x32"):
        Trainer("srgan", "mnist", overrides={**QUIET, **SR, "model.crop": 32, "out": str(tmp_path / "y")})
    with pytest.raises(ValueError, match=r"crop \(26\) must be a multiple of scale \(4\)"):
        Trainer("srgan", "mnist", overrides={**QUIET, **SR, "model.crop": 26, "out": str(tmp_path / "z")})


def _folder(path, arrays):
    path.mkdir(parents=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(path / f"{i}.png")


def test_cyclegan_on_folders_and_translation_from_the_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    _folder(tmp_path / "data" / "trainA", [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(3)])
    _folder(tmp_path / "data" / "trainB", [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(2)])
    with pytest.raises(ValueError, match="1 channels and domain B .* 3; pass channels=1 or 3"):
        Trainer("cyclegan", str(tmp_path / "data"), overrides={**QUIET, **CYCLE, "out": str(tmp_path / "x")})
    tr = run(tmp_path, "run", "cyclegan", str(tmp_path / "data"), {**CYCLE, "model.channels": 3}, 2)
    assert tr.step == 2 and tr.nets["G_AB"].in_channels == 3
    family, G = models.load_generator(str(tmp_path / "run"))
    assert torch.equal(G.net[1].weight, tr.nets["G_AB"].net[1].weight)
    _folder(tmp_path / "in", [rng.integers(0, 256, (13, 18, 3), dtype=np.uint8)])
    (out,) = translate_folder(G, tmp_path / "in", tmp_path / "out")
    assert np.asarray(Image.open(out)).shape == (13, 18, 3)
    with pytest.raises(ValueError, match="no latent space"):
        family.latent(4, torch.Generator())


def test_schedules_step_only_with_their_optimiser(tmp_path):
    """SRGAN's D does not step in the MSE stage: its schedule must not advance there (torch warns
    "lr_scheduler.step() before optimizer.step()" otherwise, an error here), and both rates follow
    the paper's drop counted in each optimiser's own steps, computed here from the recipe by hand."""
    extra = {**SR, "model.lr_drop": 0.25, "model.pretrain_kimg": 0.012, "model.kimg": 0.02}
    tr = Trainer("srgan", "mnist", overrides={**QUIET, **extra, "out": str(tmp_path / "s")})
    n_mse, n_gan = 12 // 4, 20 // 4          # images / batch
    drop_d = int(0.25 * n_gan)                # D: after 1 of its 5 steps
    drop_g = n_mse + drop_d                   # G steps in both stages
    got, want = [], []
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*lr_scheduler.step.*")
        for t in range(1, n_mse + n_gan + 1):
            tr.train_step()
            got.append((tr.opts["G"].param_groups[0]["lr"], tr.opts["D"].param_groups[0]["lr"]))
            d_steps = max(0, t - n_mse)
            want.append((1e-4 * (0.1 if t >= drop_g else 1.0), 1e-4 * (0.1 if d_steps >= drop_d else 1.0)))
    assert tr.finished
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    assert tr.scheds["G"].last_epoch == n_mse + n_gan and tr.scheds["D"].last_epoch == n_gan


def test_cyclegan_refuses_sizes_the_generator_cannot_take(tmp_path):
    rng = np.random.default_rng(5)
    _folder(tmp_path / "data" / "trainA", [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(2)])
    _folder(tmp_path / "data" / "trainB", [rng.integers(0, 256, (18, 18), dtype=np.uint8) for _ in range(2)])
    with pytest.raises(ValueError, match=r"domain B \(data/trainB\): images are 18x18, .* multiples of 4; "
                                         r"set resolution="):
        Trainer("cyclegan", str(tmp_path / "data"), overrides={**QUIET, **CYCLE, "out": str(tmp_path / "x")})
    tr = Trainer("cyclegan", str(tmp_path / "data"),
                 overrides={**QUIET, **CYCLE, "model.resolution": 20, "out": str(tmp_path / "y")})
    tr.train_step()
    assert tr.step == 1


def test_a_step_the_grad_scaler_skips_leaves_the_schedule(tmp_path):
    """fp16's GradScaler skips the optimiser step on inf gradients: the schedule must not advance
    (a CPU GradScaler stands in for the CUDA one)."""
    tr = Trainer("srgan", "mnist", overrides={**QUIET, **SR, "out": str(tmp_path / "s")})
    tr.scalers = {"G": torch.amp.GradScaler("cpu")}
    before = [p.detach().clone() for p in tr.nets["G"].parameters()]
    mse = tr.family.mse_loss
    tr.family.mse_loss = lambda ctx: mse(ctx) * float("inf")       # inf gradients: the scaler skips
    tr.train_step()
    assert tr.scheds["G"].last_epoch == 0 and tr.scalers["G"].get_scale() == 2.0 ** 15
    assert all(torch.equal(p, q) for p, q in zip(before, tr.nets["G"].parameters()))
    tr.family.mse_loss = mse
    tr.train_step()
    assert tr.scheds["G"].last_epoch == 1
    assert any(not torch.equal(p, q) for p, q in zip(before, tr.nets["G"].parameters()))


@pytest.mark.parametrize("model,data,extra", [("srgan", "mnist", {**SR, "model.skip": "bicubic"}),
                                              ("cyclegan", "digits", CYCLE)])
def test_image_to_image_runs_skip_the_mode_collapse_check(tmp_path, capsys, model, data, extra):
    # no latent space: the engine's collapse check (which samples G from latents) must not run, nor fail
    tr = run(tmp_path, "a", model, data, {**extra, "run.collapse_kimg": 0.004}, 2)
    out = capsys.readouterr().out
    assert "mode-collapse check" not in out and tr.last_collapse == {}
    assert tr.run.collapse_kimg == 0.004                       # not switched off by a failure
    if model == "srgan":
        assert tr.nets["G"].skip == "bicubic"
