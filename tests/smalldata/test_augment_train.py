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


class _StubD(torch.nn.Module):
    """D whose every output is ``value`` (a parameter keeps the optimiser happy)."""

    def __init__(self, value):
        super().__init__()
        self.value, self.w = value, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full((x.shape[0], 1), self.value) + self.w * x.mean()


@pytest.mark.parametrize("value, p0, sign", [(0.7, 0.0, 1), (-2.0, 0.9, -1), (5.0, 0.95, 1)])
def test_ada_p_follows_a_stub_discriminator(tmp_path, value, p0, sign):
    from fastgan.models.dcgan import DCGAN

    class Stub(DCGAN):
        def networks(self):
            return {**super().networks(), "D": _StubD(value)}

    batch, interval, kimg = 8, 3, 0.2
    tr = Trainer(Stub, "digits", overrides={**QUIET, **TINY_DCGAN, "out": str(tmp_path / "s"), "augment": "ada",
                                           "ada_interval": interval, "ada_kimg": kimg, "ada_p": p0,
                                           "ada_target": 0.6})
    for step in range(1, 8):
        tr.train_step()
        # r_t = sign(value): D "overfits" (r_t = 1 > 0.6) -> p up; r_t = -1 -> p down; by batch*interval / (kimg*1000)
        moves = step // interval
        want = min(1.0, max(0.0, p0 + sign * moves * batch * interval / (kimg * 1000)))
        assert tr.family.augmenter.p == pytest.approx(want), step
