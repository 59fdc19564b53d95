"""Maximum mean discrepancy as a metric: :func:`mmd` wraps the differentiable
:func:`fastgan.losses.mmd2` (GMMN's loss) in float64 without gradient and records its conventions.
"""
from __future__ import annotations

import torch

from ..losses import DEFAULT_BANDWIDTHS, mmd2
from ._result import MetricResult

__all__ = ["mmd2", "mmd", "DEFAULT_BANDWIDTHS"]

def mmd(x, y, *, bandwidths=DEFAULT_BANDWIDTHS, unbiased: bool = False, **conventions) -> MetricResult:
    """MMD² as a metric (float64, no gradient)."""
    x = torch.as_tensor(x).detach().double()
    y = torch.as_tensor(y).detach().double()
    with torch.no_grad():
        v = float(mmd2(x, y, bandwidths=bandwidths, unbiased=unbiased))
    return MetricResult("mmd2", v, conventions={
        "kernel": "sum of exp(-|x-y|^2 / (2 sigma^2))", "bandwidths": [float(b) for b in bandwidths],
        "estimator": "unbiased U-statistic" if unbiased else "biased V-statistic",
        "n_x": int(x.shape[0]), "n_y": int(y.shape[0]), **conventions})
