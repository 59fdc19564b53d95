"""GAN theory on a grid of x, the numeric side of the source's derivations.

:func:`gan_value` V(D) = E_data log D + E_g log(1 - D), :func:`pointwise_best` (the best D
per x by brute force), :func:`js_divergence`, :func:`absolute_error`
E(D) = 1/2 E_data[1 - D] + 1/2 E_g[D], :func:`normal_pdf`, :func:`normal_overlap`.
numpy and scipy only; nothing of fastgan.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

__all__ = ["normal_pdf", "trapezoid", "gan_value", "pointwise_best", "js_divergence", "absolute_error",
           "normal_overlap"]


def normal_pdf(x, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def trapezoid(y, x) -> float:
    """Trapezoidal rule of ``y`` over the grid ``x``."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    return float(((y[1:] + y[:-1]) * np.diff(x)).sum() / 2)


def _check_densities(p, q, x):
    p, q, x = (np.asarray(a, dtype=np.float64) for a in (p, q, x))
    if not (p.shape == q.shape == x.shape) or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"p, q and x must be 1-d arrays of one length >= 2, got {p.shape}, {q.shape}, {x.shape}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities must be non-negative")
    return p, q, x


def gan_value(D, p_data, p_g, x) -> float:
    """V(G, D) = integral of p_data log D + p_g log(1 - D) (0 log 0 = 0).

    D is clipped to [smallest double, largest double below 1]: where D* = p/(p+q)
    rounds to 0 or 1 the true log is finite and its term negligible, not -inf."""
    p, q, x = _check_densities(p_data, p_g, x)
    D = np.broadcast_to(np.asarray(D, dtype=np.float64), x.shape)
    if (D < 0).any() or (D > 1).any():
        raise ValueError("D must lie in [0, 1]")
    D = np.clip(D, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(p > 0, p * np.log(D), 0.0) + np.where(q > 0, q * np.log1p(-D), 0.0)
    return trapezoid(f, x)


def absolute_error(D, p_data, p_g, x) -> float:
    """E(G, D) = 1/2 integral of p_data (1 - D) + 1/2 integral of p_g D (the tutorial's formulation)."""
    p, q, x = _check_densities(p_data, p_g, x)
    D = np.broadcast_to(np.asarray(D, dtype=np.float64), x.shape)
    return trapezoid(0.5 * p * (1 - D) + 0.5 * q * D, x)


def pointwise_best(p_data, p_g, objective: str = "value", levels: int = 20001) -> np.ndarray:
    """The best D(x) in [0, 1] per point by brute force over ``levels`` values:
    the maximiser of p_data log D + p_g log(1 - D) (``objective="value"``) or the minimiser
    of p_data (1 - D) + p_g D (``"absolute"``).  No closed form is used."""
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    if objective not in ("value", "absolute"):
        raise ValueError(f"objective must be 'value' or 'absolute', got {objective!r}")
    d = np.linspace(0.0, 1.0, levels)
    best = np.empty_like(p)
    for i in range(0, len(p), 256):   # [chunk, levels] tables keep memory small
        pi, qi = p[i:i + 256, None], q[i:i + 256, None]
        if objective == "value":
            with np.errstate(divide="ignore", invalid="ignore"):
                f = (np.where(pi > 0, pi * np.log(d), 0.0)          # 0 log 0 = 0
                     + np.where(qi > 0, qi * np.log1p(-d), 0.0))
            best[i:i + 256] = d[f.argmax(1)]
        else:
            best[i:i + 256] = d[(pi * (1 - d) + qi * d).argmin(1)]
    return best


def normal_overlap(mu1: float, s1: float, mu2: float, s2: float) -> float:
    """Closed form of the integral of min(N(mu1, s1^2), N(mu2, s2^2)) over the line.

    The densities cross where a quadratic in x vanishes; between crossings one density
    is the smaller, so the integral is a sum of normal CDF differences."""
    if s1 <= 0 or s2 <= 0:
        raise ValueError(f"standard deviations must be > 0, got {s1}, {s2}")
    # log p1 - log p2 = a x^2 + b x + c
    a = 0.5 / s2**2 - 0.5 / s1**2
    b = mu1 / s1**2 - mu2 / s2**2
    c = mu2**2 / (2 * s2**2) - mu1**2 / (2 * s1**2) + math.log(s2 / s1)
    if abs(a) < 1e-15:
        roots = [] if abs(b) < 1e-15 else [-c / b]
    else:
        disc = b * b - 4 * a * c
        roots = [] if disc < 0 else sorted({(-b - math.sqrt(disc)) / (2 * a), (-b + math.sqrt(disc)) / (2 * a)})
    edges = [-math.inf, *roots, math.inf]
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        if math.isinf(lo) and math.isinf(hi):       # a point inside (lo, hi)
            mid = 0.0
        elif math.isinf(lo) or math.isinf(hi):
            mid = hi - 1 if math.isinf(lo) else lo + 1
        else:
            mid = (lo + hi) / 2
        smaller = (mu1, s1) if a * mid * mid + b * mid + c < 0 else (mu2, s2)
        total += norm.cdf(hi, *smaller) - norm.cdf(lo, *smaller)
    return float(total)


def js_divergence(p, q, x) -> float:
    """Jensen-Shannon divergence (nats) of two densities on the grid ``x``."""
    p, q, x = _check_densities(p, q, x)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    return 0.5 * trapezoid(kl_p, x) + 0.5 * trapezoid(kl_q, x)
