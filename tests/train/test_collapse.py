"""The engine's mode-collapse check: fires on a generator that outputs one image, stays quiet on real data."""
import math
import os

import pytest
import torch
from torch import nn
from train_helpers import QUIET

from fastgan.data import make_dataset
from fastgan.train import Trainer
from fastgan.train.collapse import classes_covered, pairwise_spread, spread_ratio
from fastgan.train.monitor import Monitor, read_scalars


def test_pairwise_spread_matches_loops():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 3, 5, generator=g)
    rows = [r.reshape(-1).tolist() for r in x]
    ref = sum(math.dist(a, b) for i, a in enumerate(rows) for j, b in enumerate(rows) if i != j) / (7 * 6)
    assert pairwise_spread(x) == pytest.approx(ref, rel=1e-12)
    assert spread_ratio(x[:1].expand(9, 3, 5), x) == 0.0


def test_spread_bad_input():
    with pytest.raises(ValueError, match="x must be a tensor with at least 2 rows"):
        pairwise_spread(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="real"):
        spread_ratio(torch.randn(4, 2), torch.ones(3, 2))


def test_classes_covered_counts_shares():
    # 100 labels: class 0 x 50, 1 x 30, 2 x 18, 3 x 2, 4 x 0 -> at 2% (2 of 100) four classes, at 5% three
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 18 + [3] * 2)[torch.randperm(100)]
    assert classes_covered(labels, 5) == 4
    assert classes_covered(labels, 5, share=0.05) == 3


class _OneImage(nn.Module):
    """A collapsed generator: the same image for every latent."""

    def __init__(self, image):
        super().__init__()
        self.register_buffer("image", image)
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, z):
        return self.image.expand(z.shape[0], *self.image.shape) + 0 * self.p


class _RealDigits(nn.Module):
    """A perfect generator: held-out real digits (not the training images the check compares with)."""

    def __init__(self, images):
        super().__init__()
        self.register_buffer("images", images)

    def forward(self, z):
        idx = (z[:, 0].double() * 1e6).long().abs() % self.images.shape[0]
        return self.images[idx]


def _heldout_images():
    ds = make_dataset("mnist", split="heldout")
    x, _ = ds.get_batch(torch.arange(len(ds)))
    return x.float() * (2 / 255) - 1


def _trainer(tmp_path, G, **run):
    tr = Trainer("dcgan28", "mnist", overrides={**QUIET, "run.out": str(tmp_path / "run"), **run})
    tr.ema = {}
    tr.nets["G"] = G
    return tr


def test_fires_on_one_image(tmp_path, capsys):
    tr = _trainer(tmp_path, _OneImage(_heldout_images()[0]))
    mon = Monitor(tr.run.out, tensorboard=False, progress=False)
    res = tr.check_collapse(mon)
    mon.close()
    assert res["classes"] == 1 and res["spread"] < 1e-6
    assert "mode collapse" in res["warning"] and mon.alert == "mode collapse"
    printed = capsys.readouterr().out
    assert "WARNING kimg 0.0: mode collapse: only 1/10 digit classes" in printed and "sample spread 0.00" in printed
    with open(os.path.join(tr.run.out, "warnings.log")) as f:
        assert "mode collapse" in f.read()
    assert read_scalars(os.path.join(tr.run.out, "scalars.csv"))["collapse/warning"] == [(0.0, 1.0)]


def test_quiet_on_real_digits(tmp_path, capsys):
    tr = _trainer(tmp_path, _RealDigits(_heldout_images()))
    mon = Monitor(tr.run.out, tensorboard=False, progress=False)
    mon.alert = "mode collapse"          # a collapse seen earlier is cleared by a clean check
    res = tr.check_collapse(mon)
    mon.close()
    assert res["classes"] == 10 and 0.8 < res["spread"] < 1.2 and res["warning"] == ""
    assert mon.alert == "" and "WARNING" not in capsys.readouterr().out
    assert not os.path.exists(os.path.join(tr.run.out, "warnings.log"))


def test_training_loop_warns(tmp_path, capsys):
    """In fit(): the check runs every collapse_kimg and the warning reaches the output."""
    tr = _trainer(tmp_path, _OneImage(_heldout_images()[3]), **{"run.collapse_kimg": 0.016, "run.max_steps": 2,
                                                                "run.snap_kimg": 0.0, "run.ckpt_kimg": 0.0})
    tr.opts["G"] = torch.optim.SGD(tr.nets["G"].parameters(), lr=0.0)
    tr._params["G"] = list(tr.nets["G"].parameters())
    s = tr.fit()
    out = capsys.readouterr().out
    assert out.count("WARNING kimg") >= 2 and s["collapse"]["classes"] == 1
    warned = read_scalars(os.path.join(tr.run.out, "scalars.csv"))["collapse/warning"]
    assert [v for _, v in warned] == [1.0] * len(warned) and len(warned) >= 2


def test_fid_digits_reports_class_coverage():
    """fid_digits' classes / histogram agree with the shipped classifier's own argmax on the same images."""
    from fastgan.metrics.api import fid_digits
    from fastgan.metrics.digits import DigitsFeatures

    real = make_dataset("mnist", split="heldout")
    x = _heldout_images()
    few = torch.cat([x[:300], x[:1].expand(200, *x.shape[1:])])     # 200 copies of one digit on top
    res = fid_digits(lambda i, b: few[i:i + b], real, n=500, batch_size=128)
    with torch.no_grad():
        pred = DigitsFeatures()(few)[1].argmax(1)
    hist = [int((pred == c).sum()) for c in range(10)]
    assert res.values["histogram"] == hist
    assert res.values["classes"] == sum(h >= 10 for h in hist)
    one = fid_digits(lambda i, b: x[:1].expand(b, *x.shape[1:]), real, n=100, batch_size=64)
    assert one.values["classes"] == 1
