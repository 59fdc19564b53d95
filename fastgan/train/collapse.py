"""Mode-collapse detection: a visible warning when the generator's samples stop covering the data.

Every ``run.collapse_kimg`` the engine draws ``COLLAPSE_SAMPLES`` samples of the sampling
generator from fixed latents and measures two things:

* **class coverage** (digit data, ``mnist``/``digits``, when the shipped classifier's weights
  are there): the digit classes that the classifier predicts for at least 2% of the samples;
  below ``run.collapse_classes`` is a collapse;
* **spread** (any data whose real items have the samples' shape): the mean pairwise Euclidean
  distance between samples divided by the same between real items (the digits classifier's
  features on digit data, the raw values elsewhere, images mapped to [-1, 1]).  A generator
  that outputs one image has spread 0, the real data about 1; below ``run.collapse_spread``
  is a collapse.

A collapse is written above the progress bar, shown in the bar's postfix until a later check
clears it, appended to ``<out>/warnings.log`` and logged as ``collapse/*`` scalars.
"""
from __future__ import annotations

import torch

from ..metrics import digits
from ..metrics.api import CLASS_SHARE
from . import metrics_hook

__all__ = ["pairwise_spread", "spread_ratio", "classes_covered", "CollapseCheck", "COLLAPSE_SAMPLES"]

COLLAPSE_SAMPLES = 500   # samples per check (50 per digit class)
CHECK_SEED = 2**31 - 2   # latents of the checked samples: fixed, so the checks of one run are comparable


def pairwise_spread(x: torch.Tensor) -> float:
    """Mean Euclidean distance between distinct rows of ``x`` (flattened to [n, d]), in float64."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] < 2:
        raise ValueError(f"x must be a tensor with at least 2 rows, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    f = x.detach().reshape(x.shape[0], -1).double().cpu()
    d = torch.cdist(f, f)
    n = f.shape[0]
    return float(d.sum() / (n * (n - 1)))


def spread_ratio(fake: torch.Tensor, real: torch.Tensor) -> float:
    """``pairwise_spread(fake) / pairwise_spread(real)``: ~1 for samples as diverse as the data, 0 for one
    repeated sample."""
    r = pairwise_spread(real)
    if r <= 0:
        raise ValueError("real: all rows are identical, the spread ratio is undefined")
    return pairwise_spread(fake) / r


def classes_covered(predicted: torch.Tensor, num_classes: int, share: float = CLASS_SHARE) -> int:
    """Classes that hold at least ``share`` of the predicted labels ``predicted`` [n]."""
    hist = torch.bincount(predicted.reshape(-1).long().cpu(), minlength=num_classes)
    return int((hist >= share * predicted.numel()).sum())


class CollapseCheck:
    """The engine's collapse detector for one run (see the module docstring)."""

    def __init__(self, trainer, n: int = COLLAPSE_SAMPLES):
        self.trainer, self.n = trainer, n
        run = trainer.run
        self.min_classes, self.min_spread = run.collapse_classes, run.collapse_spread
        self.digits = trainer.data_spec in metrics_hook.DIGIT_DATA and metrics_hook.fid_status() is None
        self._net = None
        self._real = None     # real items (digit features on digit data), computed once

    def _features(self, x: torch.Tensor):
        if self._net is None:
            self._net = digits.DigitsFeatures().to(self.trainer.device)
        feats, logits = [], []
        for i in range(0, x.shape[0], 250):
            f, lg = self._net(x[i:i + 250].to(self.trainer.device))
            feats.append(f.cpu())
            logits.append(lg.argmax(1).cpu())
        return torch.cat(feats), torch.cat(logits)

    def _real_items(self, shape):
        if self._real is None:
            ds = self.trainer.dataset
            if getattr(ds, "get_batch", None) is None or len(ds) < 2:
                self._real = False
            else:
                g = torch.Generator().manual_seed(CHECK_SEED)
                idx = torch.randperm(len(ds), generator=g)[:self.n]
                real = ds.get_batch(idx)
                real = real[0] if isinstance(real, (tuple, list)) else real
                if not isinstance(real, torch.Tensor):
                    self._real = False
                else:
                    if real.dtype == torch.uint8:
                        real = real.float() * (2.0 / 255.0) - 1.0
                    self._real = self._features(real)[0] if self.digits else real.float()
        if self._real is False or (not self.digits and tuple(self._real.shape[1:]) != tuple(shape)):
            return None
        return self._real

    def check(self) -> dict:
        """``{"spread": s, "classes": c, "warning": text or ""}`` (keys absent where not measurable)."""
        tr = self.trainer
        fam = tr.family
        z = fam.latent(self.n, torch.Generator().manual_seed(CHECK_SEED)).to(tr.device)
        labels = fam.sample_labels(self.n, tr.device)
        fake = torch.cat([tr.sample(z[i:i + 250], None if labels is None else labels[i:i + 250])
                          for i in range(0, self.n, 250)])
        out: dict = {}
        if self.digits:
            feats, predicted = self._features(fake)
            out["classes"] = classes_covered(predicted, digits.DigitsFeatures.num_classes)
        else:
            feats = fake.float()
        real = self._real_items(tuple(fake.shape[1:]))
        if real is not None:
            out["spread"] = spread_ratio(feats, real)
        problems = []
        if "classes" in out and out["classes"] < self.min_classes:
            problems.append(f"only {out['classes']}/{digits.DigitsFeatures.num_classes} digit classes "
                            f"(threshold {self.min_classes})")
        if "spread" in out and out["spread"] < self.min_spread:
            problems.append(f"sample spread {out['spread']:.2f} of the real data's (threshold {self.min_spread:g})")
        out["warning"] = ("mode collapse: " + "; ".join(problems)) if problems else ""
        return out
