"""``toy``: GANs on low-dimensional points, their data and metrics, and the theory in numbers.

* :class:`ToyGAN` (``fastgan train --model toy``): MLPs G and D for rows [F]; every
  option of :class:`~fastgan.models._classic.ClassicRecipe` (any loss, WGAN-GP,
  clipping, instance noise) applies.
* Data: :func:`ring_dataset` (the mixture of 8 Gaussians on a circle) and
  :func:`gaussian_dataset` (1-D) as ``fastgan.data.TableDataset``.
* Metrics: :func:`mode_stats` (modes covered, fraction of high-quality samples).
* :func:`toy_trainer` / :func:`run_toy`: the engine on a toy data set, stepped
  with evaluations in between (the examples use them; no loop is copied).
* Theory on a grid of x (the numeric side of the source's derivations):
  :func:`gan_value` V(D) = E_data log D + E_g log(1 - D), :func:`pointwise_best`
  (the best D per x by brute force), :func:`js_divergence`,
  :func:`absolute_error` E(D) = 1/2 E_data[1 - D] + 1/2 E_g[D], :func:`normal_pdf`.
"""
from __future__ import annotations

import dataclasses
import math
import tempfile

import numpy as np
import torch
from torch import nn

from ._classic import ClassicGAN, ClassicRecipe

__all__ = ["ToyRecipe", "ToyGAN", "mlp", "ring_centers", "ring_dataset", "gaussian_dataset", "mode_stats",
           "toy_trainer", "run_toy", "normal_pdf", "trapezoid", "gan_value", "pointwise_best", "js_divergence",
           "absolute_error", "normal_overlap", "QUIET"]


# -- the family ---------------------------------------------------------------------------
def mlp(sizes: tuple[int, ...], act: type = nn.ReLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


@dataclasses.dataclass
class ToyRecipe(ClassicRecipe):
    z_dim: int = 2
    hidden: int = 128            # units per hidden layer of G and D
    depth: int = 3               # hidden layers of G and D
    loss: str = "ns"
    batch: int = 256
    kimg: float = 500.0
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)


class ToyGAN(ClassicGAN):
    name = "toy"
    Recipe = ToyRecipe
    description = "MLP GAN on low-dimensional points (8 Gaussians, 1-D densities, tables); any --set loss=..."

    def check_data(self, data):
        if len(data.shape) != 1:
            raise ValueError(f"toy needs rows [F] (points or a table), got shape {tuple(data.shape)}")
        if self.recipe.hidden < 1 or self.recipe.depth < 1:
            raise ValueError(f"hidden and depth must be >= 1, got {self.recipe.hidden}, {self.recipe.depth}")

    def build(self):
        r, f = self.recipe, self.data.shape[0]
        return {"G": mlp((r.z_dim,) + (r.hidden,) * r.depth + (f,)),
                "D": mlp((f,) + (r.hidden,) * r.depth + (1,), nn.LeakyReLU)}


# -- data and metrics -----------------------------------------------------------------------
def ring_centers(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """``modes`` points evenly spaced on a circle of ``radius``, [modes, 2]."""
    if isinstance(modes, bool) or not isinstance(modes, int) or modes < 1:
        raise ValueError(f"modes must be a positive int, got {modes!r}")
    a = 2 * math.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def ring_dataset(n: int = 20000, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0):
    """The mixture of ``modes`` isotropic Gaussians (std ``std``) on a circle, equal weights."""
    from ..data import TableDataset

    if n < 1 or std <= 0:
        raise ValueError(f"n must be >= 1 and std > 0, got n={n}, std={std}")
    rng = np.random.default_rng(seed)
    c = ring_centers(modes, radius)
    x = c[rng.integers(0, modes, n)] + std * rng.standard_normal((n, 2))
    return TableDataset(x, name=f"ring-{modes}")


def gaussian_dataset(n: int = 20000, mean: float = 0.0, std: float = 1.0, seed: int = 0):
    """``n`` 1-D samples of N(mean, std^2) as rows [n, 1]."""
    from ..data import TableDataset

    if n < 1 or std <= 0:
        raise ValueError(f"n must be >= 1 and std > 0, got n={n}, std={std}")
    x = mean + std * np.random.default_rng(seed).standard_normal((n, 1))
    return TableDataset(x, name=f"normal({mean:g},{std:g})")


def mode_stats(samples, centers, std: float, *, k: float = 3.0, min_frac: float = 0.01) -> dict:
    """Mode collapse in numbers for a mixture of isotropic Gaussians.

    A sample is *high quality* when it lies within ``k`` std of its nearest centre; a
    mode is *covered* when at least ``min_frac`` of all samples are high-quality
    samples of it.  Returns ``{"modes": covered, "hq": fraction high quality, "counts": [...]}``."""
    from ..metrics import mode_coverage

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


QUIET = {"run.progress": False, "run.tensorboard": False, "run.fid": False, "run.threads": 1}


def toy_trainer(dataset, out: str | None = None, **overrides):
    """A :class:`fastgan.train.Trainer` of the ``toy`` family (or ``model=...``) on ``dataset``,
    quiet and single-threaded, writing (only if asked) into ``out`` (default: a temp dir)."""
    from ..train import Trainer

    model = overrides.pop("model", "toy")
    out = out or tempfile.mkdtemp(prefix="fastgan-toy-")
    return Trainer(model, dataset, overrides={**QUIET, "out": out, "overwrite": True, **overrides})


def run_toy(trainer, steps: int, every: int, evaluate) -> list[dict]:
    """Run ``steps`` engine steps; every ``every`` steps (and at 0) append ``{"step": s, **evaluate(trainer)}``."""
    if steps < 0 or every < 1:
        raise ValueError(f"steps must be >= 0 and every >= 1, got {steps}, {every}")
    history = []
    for s in range(steps + 1):
        if s % every == 0 or s == steps:
            history.append({"step": trainer.step, **evaluate(trainer)})
        if s < steps:
            trainer.train_step()
    return history


# -- theory on a grid ---------------------------------------------------------------------------
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
    from scipy.stats import norm

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


FAMILIES = (ToyGAN,)
