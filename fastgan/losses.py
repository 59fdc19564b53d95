"""Adversarial losses and regularisers as plain functions.

Every adversarial loss takes the discriminator's raw outputs (logits / critic
values, any shape) and returns the mean loss to *minimise*:

=============  ===================================  ==============================
name           discriminator                        generator
=============  ===================================  ==============================
``minimax``    -log D(x) - log(1 - D(G(z)))         log(1 - D(G(z)))  (saturating)
``ns``         same as minimax                      -log D(G(z))      (non-saturating)
``ls``         ((D(x) - 1)^2 + D(G(z))^2) / 2       (D(G(z)) - 1)^2 / 2
``hinge``      relu(1 - D(x)) + relu(1 + D(G(z)))   -D(G(z))
``wasserstein`` D(G(z)) - D(x)                      -D(G(z))
=============  ===================================  ==============================

with D = sigmoid(logit) for minimax/ns, written with softplus so it stays finite:
-log sigmoid(a) = softplus(-a) and -log(1 - sigmoid(a)) = softplus(a).
``get(name)`` returns the pair ``(d_loss, g_loss)``.

Regularisers: the gradient penalties (WGAN-GP, R1, R2, drift, path length) on the fused ops,
and :func:`mmd2`, the maximum mean discrepancy with a mixture of Gaussian bandwidths
k(x, y) = Σ_σ exp(−||x − y||² / (2σ²)) (GMMN's training loss, Li et al. 2015).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "d_logistic", "g_minimax", "g_nonsaturating", "d_least_squares", "g_least_squares",
    "d_hinge", "g_hinge", "d_wasserstein", "g_wasserstein", "get", "NAMES",
]


def d_logistic(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D: real -> 1, fake -> 0 (minimax and non-saturating share it)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_minimax(fake: torch.Tensor) -> torch.Tensor:
    """Saturating G loss log(1 - D(G(z))); its gradient vanishes when D rejects fakes."""
    return -F.softplus(fake).mean()


def g_nonsaturating(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss -log D(G(z))."""
    return F.softplus(-fake).mean()


def d_least_squares(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN D loss with targets 1 (real) and 0 (fake)."""
    return 0.5 * ((real - 1).square().mean() + fake.square().mean())


def g_least_squares(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (fake - 1).square().mean()


def d_hinge(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_hinge(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def d_wasserstein(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic loss E[D(G(z))] - E[D(x)]; minus it estimates the Wasserstein-1 distance."""
    return fake.mean() - real.mean()


def g_wasserstein(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


_PAIRS = {
    "minimax": (d_logistic, g_minimax),
    "ns": (d_logistic, g_nonsaturating),
    "ls": (d_least_squares, g_least_squares),
    "hinge": (d_hinge, g_hinge),
    "wasserstein": (d_wasserstein, g_wasserstein),
}
NAMES = tuple(_PAIRS)


def get(name: str):
    """``(d_loss(real, fake), g_loss(fake))`` for a loss name in ``NAMES``."""
    if name not in _PAIRS:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(NAMES)}")
    return _PAIRS[name]


# ---------------------------------------------------------------- gradient penalties (regularisers)
# Each helper returns the loss term to add (a scalar), already multiplied by `interval * gain`:
# with lazy regularisation the term is computed every `interval` steps, so it is scaled by the
# interval to keep its strength; `gain` is a further factor (a schedule, or 0 to switch it off).
# Gradients come from torch.autograd.grad(create_graph=True) and the fused per-sample
# reductions of fastgan.ops, so `.backward()` on the result reaches D's (or G's) parameters.
import math as _math  # noqa: E402
from typing import Callable as _Callable, Optional as _Optional  # noqa: E402

from .ops import grad_penalty as _gp  # noqa: E402


def _lazy(loss: torch.Tensor, interval: int, gain: float) -> torch.Tensor:
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be an int >= 1, got {interval!r}")
    scale = float(interval) * float(gain)
    return loss if scale == 1.0 else loss * scale


def _input_grad(D: _Callable, x: torch.Tensor) -> torch.Tensor:
    """dD(x)/dx per sample, with the graph kept for the penalty's backward."""
    x = x.detach().requires_grad_(True)
    out = D(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return g


def wgan_gp_penalty(D: _Callable, real: torch.Tensor, fake: torch.Tensor, lam: float = 10.0, target: float = 1.0,
                    one_sided: bool = False, interval: int = 1, gain: float = 1.0,
                    alpha: _Optional[torch.Tensor] = None) -> torch.Tensor:
    """WGAN-GP: lam * mean((||dD(x_hat)/dx_hat|| - target)^2), x_hat = real + alpha * (fake - real).

    one_sided penalises only norms above target (WGAN-LP). alpha: one weight per sample, drawn
    uniformly in [0, 1) when None.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    x_hat = _gp.lerp_samples(real.detach(), fake.detach(), alpha)
    g = _input_grad(D, x_hat)
    return _lazy(lam * _gp.grad_norm_penalty(g, target, one_sided).mean(), interval, gain)


def drift_penalty(real_logits: torch.Tensor, eps: float = 0.001, interval: int = 1,
                  gain: float = 1.0) -> torch.Tensor:
    """ProGAN's drift term eps * mean(D(x)^2), keeping the critic's outputs near 0."""
    logits = real_logits.to(torch.promote_types(real_logits.dtype, torch.float32))
    return _lazy(eps * logits.square().mean(), interval, gain)


def r1_penalty(D: _Callable, real: torch.Tensor, gamma: float, interval: int = 1,
               gain: float = 1.0) -> torch.Tensor:
    """R1: gamma / 2 * mean(||dD(x)/dx||^2) on real samples."""
    g = _input_grad(D, real)
    return _lazy(0.5 * gamma * _gp.grad_sq_norm(g).mean(), interval, gain)


def r2_penalty(D: _Callable, fake: torch.Tensor, gamma: float, interval: int = 1,
               gain: float = 1.0) -> torch.Tensor:
    """R2: gamma / 2 * mean(||dD(x)/dx||^2) on generated samples (detached from G)."""
    g = _input_grad(D, fake)
    return _lazy(0.5 * gamma * _gp.grad_sq_norm(g).mean(), interval, gain)


def path_length_penalty(G_synthesis: _Callable, ws: torch.Tensor, pl_mean, decay: float = 0.01,
                        weight: float = 2.0, interval: int = 1, gain: float = 1.0,
                        noise: _Optional[torch.Tensor] = None):
    """StyleGAN2 path-length regularisation. Returns (penalty, new_pl_mean).

    img = G_synthesis(ws) with ws [N, num_ws, w_dim]; y = noise / sqrt(H*W) with standard
    normal noise (drawn when None); lengths = sqrt(mean over ws of sum over w_dim of
    (d<img, y>/dws)^2); new_pl_mean = pl_mean + decay * (mean(lengths) - pl_mean) (detached);
    penalty = weight * mean((lengths - new_pl_mean)^2). Keep new_pl_mean as the running mean
    (a buffer saved in checkpoints) and pass it back next time.
    """
    if not ws.requires_grad:
        ws = ws.detach().requires_grad_(True)
    img = G_synthesis(ws)
    if noise is None:
        noise = torch.randn_like(img)
    pixels = _math.prod(img.shape[2:]) if img.dim() > 2 else 1
    (g,) = torch.autograd.grad((img * noise).sum() / _math.sqrt(pixels), ws, create_graph=True)
    lengths = _gp.path_length_norm(g)
    pl_mean = torch.as_tensor(pl_mean, dtype=lengths.dtype, device=lengths.device)
    new_mean = pl_mean.lerp(lengths.mean().detach(), decay).detach()
    penalty = weight * (lengths - new_mean).square().mean()
    return _lazy(penalty, interval, gain), new_mean


__all__ += ["wgan_gp_penalty", "drift_penalty", "r1_penalty", "r2_penalty", "path_length_penalty"]


# -- maximum mean discrepancy -----------------------------------------------------------------
DEFAULT_BANDWIDTHS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)  # GMMN's pixel-space mixture


def _check_samples(name, t):
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
    x, y = _check_samples("x", x), _check_samples("y", y)
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


__all__ += ["mmd2", "DEFAULT_BANDWIDTHS"]
