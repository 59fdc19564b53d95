"""Column statistics of tables, shared by the table metrics and the tabular family's snapshots.

* ``ks_statistic(a, b)``: the two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b|.
* ``total_variation(a, b)``: 0.5 * sum |p_a - p_b| over the categories of two discrete samples.
* ``column_summary(table)``: per column, mean/std/min/max or the category frequencies.
"""
from __future__ import annotations

import numpy as np

from .mixed_table import MixedTable

__all__ = ["ks_statistic", "total_variation", "column_summary"]


def ks_statistic(a, b) -> float:
    """sup_x |F_a(x) - F_b(x)| of the two empirical distribution functions."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if a.ndim != 1 or b.ndim != 1 or len(a) == 0 or len(b) == 0:
        raise ValueError(f"ks_statistic needs two non-empty 1-D samples, got shapes {a.shape} and {b.shape}")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def total_variation(a, b) -> float:
    """0.5 * sum over categories of |p_a - p_b|."""
    a, b = np.asarray(a).astype(str), np.asarray(b).astype(str)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("total_variation needs two non-empty samples")
    cats, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    pa = np.bincount(inv[:len(a)], minlength=len(cats)) / len(a)
    pb = np.bincount(inv[len(a):], minlength=len(cats)) / len(b)
    return float(0.5 * np.abs(pa - pb).sum())


def column_summary(table: MixedTable) -> list[tuple[str, str, str]]:
    """``[(column, statistic, value)]``: mean, std, min, max of continuous columns; the frequency
    of each category of discrete ones."""
    if not isinstance(table, MixedTable):
        raise TypeError(f"table must be a MixedTable, got {type(table).__name__}")
    out = []
    for c in table.names:
        v = table[c]
        if c in table.discrete:
            cats, counts = np.unique(v.astype(str), return_counts=True)
            out += [(c, f"freq[{k}]", f"{n / max(len(v), 1):.6g}") for k, n in zip(cats, counts)]
        elif len(v):
            out += [(c, s, f"{f(v):.6g}") for s, f in (("mean", np.mean), ("std", np.std), ("min", np.min),
                                                         ("max", np.max))]
    return out
