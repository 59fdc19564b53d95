"""Mode collapse in numbers for a mixture of isotropic Gaussians (the toy ring)."""
from __future__ import annotations

import math

import numpy as np
import torch

from .scores import mode_coverage

__all__ = ["mode_stats"]


def mode_stats(samples, centers, std: float, *, k: float = 3.0, min_frac: float = 0.01) -> dict:
    """Mode collapse in numbers for a mixture of isotropic Gaussians.

    A sample is *high quality* when it lies within ``k`` std of its nearest centre; a
    mode is *covered* when at least ``min_frac`` of all samples are high-quality
    samples of it.  Returns ``{"modes": covered, "hq": fraction high quality, "counts": [...]}``."""
    x = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or len(x) == 0:
        raise ValueError(f"samples [n, d] and centers [m, d] must agree, got {x.shape} and {c.shape}")
    d = np.sqrt(((x[:, None, :] - c[None]) ** 2).sum(-1))
    near = d.argmin(1)
    good = d[np.arange(len(x)), near] <= k * std
    hq = float(good.mean())
    if not good.any():
        return {"modes": 0, "hq": 0.0, "counts": [0] * len(c)}
    min_count = max(1, math.ceil(min_frac * len(x)))
    res = mode_coverage(near[good].astype(np.int64), num_classes=len(c), min_count=min_count)
    return {"modes": int(res), "hq": hq, "counts": np.bincount(near[good], minlength=len(c)).tolist()}
