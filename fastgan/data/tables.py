"""Tabular data: scikit-learn's bundled tables and users' CSV files.

A :class:`TableDataset` yields float32 feature rows ``[F]`` and an int64 class
label (``-1`` when there is none or the target is continuous).
"""
from __future__ import annotations

import csv

import numpy as np
import torch

from .embedded import load_table

__all__ = ["TableDataset", "read_csv"]


class TableDataset:
    """Rows of float32 features; ``get_batch(idx) -> (X [B, F], labels [B])``."""

    def __init__(self, X, y=None, *, name: str = "table", feature_names=(), skipped=()):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"{name}: features must be a non-empty [N, F] array, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError(f"{name}: features contain NaN or inf")
        self.X = torch.from_numpy(X)
        if y is not None and np.issubdtype(np.asarray(y).dtype, np.integer):
            y = np.asarray(y)
            if y.shape != (len(X),):
                raise ValueError(f"{name}: labels must have shape ({len(X)},), got {y.shape}")
            self.labels = torch.from_numpy(y.astype(np.int64))
            self.num_classes = int(y.max()) + 1
        else:
            self.labels = torch.full((len(X),), -1, dtype=torch.int64)
            self.num_classes = 0
        self.name, self.feature_names, self.skipped = name, tuple(feature_names), list(skipped)
        self.shape = (X.shape[1],)

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, i):
        return self.X[i], int(self.labels[i])

    def get_batch(self, indices):
        return self.X[indices], self.labels[indices]

    def describe(self) -> str:
        lab = f"{self.num_classes} classes" if self.num_classes else "no class labels"
        skip = f", {len(self.skipped)} rows skipped" if self.skipped else ""
        return f"{self.name}: {len(self)} rows x {self.shape[0]} features, {lab}{skip}"

    @classmethod
    def builtin(cls, name: str) -> "TableDataset":
        t = load_table(name)
        return cls(t.X, t.y if t.task == "classification" else None, name=name, feature_names=t.feature_names)


def read_csv(path: str, *, label_column: str | int | None = None, on_error: str = "raise") -> TableDataset:
    """Read a numeric CSV table (a header row is detected when its cells are not numbers).

    Args:
        label_column: name or index of an integer class column to use as labels.
        on_error: ``"raise"`` on a malformed row (naming file and line) or ``"skip"`` it.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    try:
        with open(path, newline="") as f:
            rows = [(n, r) for n, r in enumerate(csv.reader(f), start=1) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from e
    if not rows:
        raise ValueError(f"{path}: empty CSV file")

    def numbers(cells):
        return [float(c) for c in cells]

    header = None
    try:
        numbers(rows[0][1])
    except ValueError:
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    width = len(header) if header else len(rows[0][1]) if rows else 0
    data, skipped = [], []
    for line, cells in rows:
        try:
            if len(cells) != width:
                raise ValueError(f"{len(cells)} fields, expected {width}")
            data.append(numbers(cells))
        except ValueError as e:
            msg = f"{path}, line {line}: {e}"
            if on_error == "raise":
                raise ValueError(msg) from None
            skipped.append((f"{path}:{line}", str(e)))
    if not data:
        raise ValueError(f"{path}: no numeric rows")
    table = np.asarray(data, dtype=np.float64)
    names = header or [f"col{i}" for i in range(width)]
    y = None
    if label_column is not None:
        if isinstance(label_column, str):
            if label_column not in names:
                raise ValueError(f"label_column {label_column!r} not in the columns {names}")
            label_column = names.index(label_column)
        if not -width <= label_column < width:
            raise ValueError(f"label_column index {label_column} out of range for {width} columns")
        col = table[:, label_column]
        if not np.all(col == np.round(col)) or col.min() < 0:
            raise ValueError(f"{path}: label column {names[label_column]!r} must hold integers >= 0")
        y = col.astype(np.int64)
        table = np.delete(table, label_column, axis=1)
        names = [n for i, n in enumerate(names) if i != label_column % width]
    return TableDataset(table, y, name=path, feature_names=names, skipped=skipped)
