"""Augmentation as a recipe option of the image families, through the engine."""
import pytest
import torch

from fastgan import checkpoint
from fastgan.train import Trainer

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False}
TINY_DCGAN = {"batch": 8, "resolution": 16, "width": 4, "z_dim": 8}
TINY_SG2 = {"batch": 4, "resolution": 8, "z_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8,
            "mbstd_group": 2, "pl_weight": 0.0}


def _state(tr):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in tr.family.state["ada"].items()}


def test_dcgan_ada_p_moves_and_survives_resume(tmp_path):
    ov = {**QUIET, **TINY_DCGAN, "augment": "ada", "ada_kimg": 0.05, "ada_interval": 2, "ada_target": 0.0}
    whole = Trainer("dcgan", "digits", overrides={**ov, "out": str(tmp_path / "w")})
    part = Trainer("dcgan", "digits", overrides={**ov, "out": str(tmp_path / "p")})
    ps = []
    for _ in range(6):
        whole.train_step()
        ps.append(whole.family.augmenter.p)
    # every second D step p moves by 16 images / 50 images, up or down (clamped at 0)
    steps = [round(b - a, 9) for a, b in zip([0.0] + ps, ps)]
    assert all(s in (0.0, 0.32, -0.32) or b == 0.0 for s, b in zip(steps, ps)) and max(ps) > 0
    for _ in range(3):
        part.train_step()
    part.save_checkpoint()
    saved = checkpoint.load(checkpoint.find(str(tmp_path / "p")))
    assert saved["family"]["ada"]["p"] == part.family.augmenter.p == ps[2]
    back = Trainer("dcgan", "digits", resume=str(tmp_path / "p"), overrides={"run.threads": 1})
    assert _state(back) == _state(part)
    for _ in range(3):
        back.train_step()
    assert back.family.augmenter.p == ps[-1]
    for k, v in whole.nets["G"].state_dict().items():
        assert torch.equal(v, back.nets["G"].state_dict()[k]), k


@pytest.mark.parametrize("model, ov", [("dcgan", TINY_DCGAN), ("stylegan2", TINY_SG2)])
@pytest.mark.parametrize("kind", ["diffaug", "ada"])
def test_d_sees_augmented_real_and_fake(tmp_path, model, ov, kind):
    extra = {"ada_p": 1.0, "ada_kimg": 1e9} if kind == "ada" else {}
    tr = Trainer(model, "digits", overrides={**QUIET, **ov, "augment": kind, **extra, "out": str(tmp_path / "a")})
    seen = []
    tr.nets["D"].register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    real = []
    orig = tr.family.prepare

    def prepare(batch, labels, device):
        out = orig(batch, labels, device)
        real.append(out[0].clone())
        return out

    tr.family.prepare = prepare
    tr.train_step()
    assert real and seen
    batch = real[-1]
    same_shape = [x for x in seen if x.shape == batch.shape]
    assert same_shape and not any(torch.equal(x, batch) for x in same_shape)


def test_augment_bad_values(tmp_path):
    with pytest.raises(ValueError, match="augment must be one of"):
        Trainer("dcgan", "digits", overrides={**QUIET, **TINY_DCGAN, "augment": "mixup", "out": str(tmp_path / "a")})
    with pytest.raises(ValueError, match="policy"):
        Trainer("dcgan", "digits", overrides={**QUIET, **TINY_DCGAN, "augment": "diffaug",
                                             "diffaug_policy": "color,zoom", "out": str(tmp_path / "b")})
