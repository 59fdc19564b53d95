"""Toy data: the mixture of Gaussians on a ring (the mode-collapse demo) and 1-D normals, as tables."""
from __future__ import annotations

import math

import numpy as np

from .tables import TableDataset

__all__ = ["ring_centers", "ring_dataset", "gaussian_dataset"]


def ring_centers(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """``modes`` points evenly spaced on a circle of ``radius``, [modes, 2]."""
    if isinstance(modes, bool) or not isinstance(modes, int) or modes < 1:
        raise ValueError(f"modes must be a positive int, got {modes!r}")
    a = 2 * math.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def ring_dataset(n: int = 20000, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0):
    """The mixture of ``modes`` isotropic Gaussians (std ``std``) on a circle, equal weights."""
    if n < 1 or std <= 0:
        raise ValueError(f"n must be >= 1 and std > 0, got n={n}, std={std}")
    rng = np.random.default_rng(seed)
    c = ring_centers(modes, radius)
    x = c[rng.integers(0, modes, n)] + std * rng.standard_normal((n, 2))
    return TableDataset(x, name=f"ring-{modes}")


def gaussian_dataset(n: int = 20000, mean: float = 0.0, std: float = 1.0, seed: int = 0):
    """``n`` 1-D samples of N(mean, std^2) as rows [n, 1]."""
    if n < 1 or std <= 0:
        raise ValueError(f"n must be >= 1 and std > 0, got n={n}, std={std}")
    x = mean + std * np.random.default_rng(seed).standard_normal((n, 1))
    return TableDataset(x, name=f"normal({mean:g},{std:g})")
