"""Maximum mean discrepancy with a mixture of Gaussian bandwidths (differentiable, for GMMN).

    k(x, y) = Σ_σ exp(−||x − y||² / (2σ²))

:func:`mmd2` is a torch function with autograd (GMMN's training loss, Li et al. 2015):
the biased V-statistic (≥ 0, the default, what GMMN minimises) or the unbiased U-statistic.
:func:`mmd` wraps it as a metric (no gradient) that records its conventions.
"""
from __future__ import annotations

import torch

from ._result import MetricResult

__all__ = ["mmd2", "mmd", "DEFAULT_BANDWIDTHS"]

DEFAULT_BANDWIDTHS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)  # GMMN's pixel-space mixture


def _check(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim < 2:
        raise ValueError(f"{name} must be [n, ...] with n samples, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    return t.flatten(1)


def _sq_dists(a, b):
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.mT)
    return d2.clamp_min(0.0)


def mmd2(x: torch.Tensor, y: torch.Tensor, *, bandwidths=DEFAULT_BANDWIDTHS,
         unbiased: bool = False) -> torch.Tensor:
    """MMD² between samples ``x`` [n, ...] and ``y`` [m, ...] (flattened per sample).

    Args:
        bandwidths: the σ's of the Gaussian mixture kernel (positive).
        unbiased: U-statistic (diagonal terms excluded; can be negative) instead of the
            biased V-statistic.
    Returns a 0-d tensor in the inputs' dtype, differentiable w.r.t. both inputs."""
    x, y = _check("x", x), _check("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same per-sample size, got {x.shape[1]} and {y.shape[1]}")
    sig = torch.as_tensor(bandwidths, dtype=x.dtype, device=x.device).flatten()
    if sig.numel() == 0 or not bool((sig > 0).all()) or not bool(sig.isfinite().all()):
        raise ValueError(f"bandwidths must be positive and finite, got {bandwidths!r}")
    n, m = x.shape[0], y.shape[0]
    if unbiased and (n < 2 or m < 2):
        raise ValueError("the unbiased estimator needs at least 2 samples in x and in y")
    gam = 1.0 / (2.0 * sig * sig)

    def k(a, b):
        return torch.exp(-_sq_dists(a, b)[..., None] * gam).sum(-1)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if unbiased:
        s = len(sig)  # k(x, x) = number of bandwidths on the diagonal
        return ((kxx.sum() - n * s) / (n * (n - 1)) + (kyy.sum() - m * s) / (m * (m - 1))
                - 2.0 * kxy.mean())
    return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()


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
