"""CTGAN's table encoding (Xu et al. 2019): mode-specific normalisation, one-hot
discrete columns, the conditional vector and training-by-sampling.

* :class:`ModeNormalizer`: a variational Gaussian mixture per continuous column
  (scikit-learn's ``BayesianGaussianMixture``, at most 10 modes; modes whose weight is
  under 0.005 are dropped).  A value x is encoded as (a one-hot of its mode k,
  alpha = (x - mu_k) / (4 sigma_k) clipped to [-1, 1]); decoding x = mu_k + 4 sigma_k alpha
  is exact up to that clip.  The mode is drawn from the posterior over the kept modes
  (the paper) or taken as its argmax (``mode="argmax"``).
* :class:`TableTransformer`: the encoded row is, column by column, ``[alpha, mode one-hot]``
  for a continuous column and the category one-hot for a discrete one; ``spans`` say
  where each part lies and which output activation it takes (tanh or softmax).
* :class:`ConditionalSampler`: the conditional vector holds one slot per category of
  every discrete column.  Training-by-sampling picks a discrete column uniformly, a
  category with probability proportional to log(1 + its frequency), then a real row with
  that category.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .mixed_table import MixedTable

__all__ = ["ModeNormalizer", "TableTransformer", "Span", "ConditionalSampler", "CondBatch"]


def _rng(seed_or_rng) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


class ModeNormalizer:
    """Mode-specific normalisation of one continuous column.

    Args:
        max_modes: components of the variational mixture (at most this many modes).
        weight_threshold: modes whose mixture weight is below it are dropped.
        mode: ``sample`` (draw a value's mode from its posterior) or ``argmax``.
        seed: seeds the mixture fit.
    """

    def __init__(self, max_modes: int = 10, weight_threshold: float = 0.005, mode: str = "sample", seed: int = 0):
        if isinstance(max_modes, bool) or not isinstance(max_modes, int) or max_modes < 1:
            raise ValueError(f"max_modes must be an int >= 1, got {max_modes!r}")
        if not 0.0 <= weight_threshold < 1.0:
            raise ValueError(f"weight_threshold must be in [0, 1), got {weight_threshold!r}")
        if mode not in ("sample", "argmax"):
            raise ValueError(f"mode must be 'sample' or 'argmax', got {mode!r}")
        self.max_modes, self.weight_threshold, self.mode, self.seed = max_modes, weight_threshold, mode, seed
        self.means = self.stds = self.weights = None

    def fit(self, x, column: str = "x") -> "ModeNormalizer":
        # scikit-learn on use: the model registry imports this module (through models.ctgan) for every model
        from sklearn.exceptions import ConvergenceWarning  # (same reason)
        from sklearn.mixture import BayesianGaussianMixture  # (same reason)

        x = self._check(x, column)
        if np.ptp(x) == 0:
            raise ValueError(f"column {column!r} is constant ({x[0]!r}); drop it before fitting")
        k = min(self.max_modes, len(x))
        self._bgm = BayesianGaussianMixture(n_components=k, weight_concentration_prior_type="dirichlet_process",
                                            weight_concentration_prior=0.001, max_iter=100, n_init=1,
                                            random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._bgm.fit(x[:, None])
        keep = self._bgm.weights_ > self.weight_threshold
        if not keep.any():
            keep[np.argmax(self._bgm.weights_)] = True
        self._keep = np.flatnonzero(keep)
        self.means = self._bgm.means_[keep, 0].copy()
        self.stds = np.sqrt(self._bgm.covariances_[keep].reshape(-1))
        self.weights = self._bgm.weights_[keep].copy()
        self.column = column
        return self

    @property
    def n_modes(self) -> int:
        self._check_fitted()
        return len(self.means)

    def _check_fitted(self):
        if self.means is None:
            raise RuntimeError("ModeNormalizer is not fitted; call fit() first")

    @staticmethod
    def _check(x, column):
        x = np.asarray(x, dtype=np.float64).reshape(-1) if np.asarray(x).dtype != object else None
        if x is None:
            raise ValueError(f"column {column!r} must hold numbers")
        if len(x) == 0:
            raise ValueError(f"column {column!r} is empty")
        if not np.isfinite(x).all():
            raise ValueError(f"column {column!r} holds NaN or inf")
        return x

    def posterior(self, x) -> np.ndarray:
        """P(mode | x) over the kept modes, [N, n_modes]."""
        self._check_fitted()
        if not hasattr(self, "_bgm"):
            raise RuntimeError(f"column {self.column!r}: encoding needs the fitted mixture; this normaliser "
                               f"was restored for decoding only (fit it on data)")
        p = self._bgm.predict_proba(np.asarray(x, dtype=np.float64).reshape(-1, 1))[:, self._keep]
        s = p.sum(axis=1, keepdims=True)
        # a value far from every kept mode: fall back to the nearest mode in sigmas
        far = s[:, 0] <= 1e-300
        if far.any():
            z = np.abs(np.asarray(x, dtype=np.float64).reshape(-1, 1)[far] - self.means) / self.stds
            p[far] = np.eye(self.n_modes)[np.argmin(z, axis=1)]
            s[far] = 1.0
        return p / s

    def encode(self, x, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha [N], mode [N] int64)`` for values ``x``."""
        x = self._check(x, getattr(self, "column", "x"))
        p = self.posterior(x)
        if self.mode == "argmax":
            mode = np.argmax(p, axis=1)
        else:
            u = _rng(rng).random((len(x), 1))
            mode = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), self.n_modes - 1)
        alpha = np.clip((x - self.means[mode]) / (4.0 * self.stds[mode]), -1.0, 1.0)
        return alpha, mode.astype(np.int64)

    def decode(self, alpha, mode) -> np.ndarray:
        self._check_fitted()
        alpha = np.clip(np.asarray(alpha, dtype=np.float64), -1.0, 1.0)
        mode = np.asarray(mode, dtype=np.int64)
        if mode.size and (mode.min() < 0 or mode.max() >= self.n_modes):
            raise ValueError(f"mode indices must be in [0, {self.n_modes}), got {mode.min()}..{mode.max()}")
        return self.means[mode] + 4.0 * self.stds[mode] * alpha


@dataclasses.dataclass(frozen=True)
class Span:
    """A slice ``[start, end)`` of the encoded row: one column's scalar or one-hot part."""

    column: str
    start: int
    end: int
    activation: str          # "tanh" (a mode-normalised scalar) or "softmax" (a one-hot)
    discrete: bool           # the one-hot of a discrete column (conditionable)

    @property
    def width(self) -> int:
        return self.end - self.start


class TableTransformer:
    """Fits, encodes and decodes a :class:`MixedTable` the CTGAN way (see the module doc)."""

    def __init__(self, max_modes: int = 10, weight_threshold: float = 0.005, mode: str = "sample", seed: int = 0):
        ModeNormalizer(max_modes, weight_threshold, mode, seed)   # validates the arguments
        self.max_modes, self.weight_threshold, self.mode, self.seed = max_modes, weight_threshold, mode, seed
        self.fitted = False

    def fit(self, table: MixedTable) -> "TableTransformer":
        if not isinstance(table, MixedTable):
            raise TypeError(f"table must be a MixedTable, got {type(table).__name__}")
        if len(table) < 2:
            raise ValueError(f"table must have at least 2 rows to fit, got {len(table)}")
        self.names, self.discrete = table.names, table.discrete
        self.normalizers: dict[str, ModeNormalizer] = {}
        self.categories: dict[str, tuple[str, ...]] = {}
        spans, pos = [], 0
        for i, col in enumerate(table.names):
            if col in table.discrete:
                cats = table.categories(col)
                if len(cats) < 2:
                    raise ValueError(f"column {col!r} is constant ({cats[0]!r}); drop it before fitting")
                self.categories[col] = cats
                spans.append(Span(col, pos, pos + len(cats), "softmax", True))
                pos += len(cats)
            else:
                nm = ModeNormalizer(self.max_modes, self.weight_threshold, self.mode, self.seed + i)
                nm.fit(table[col], col)
                self.normalizers[col] = nm
                spans.append(Span(col, pos, pos + 1, "tanh", False))
                spans.append(Span(col, pos + 1, pos + 1 + nm.n_modes, "softmax", False))
                pos += 1 + nm.n_modes
        self.spans: tuple[Span, ...] = tuple(spans)
        self.dim = pos
        self.fitted = True
        return self

    def _check_fitted(self):
        if not self.fitted:
            raise RuntimeError("TableTransformer is not fitted; call fit() first")

    def check_table(self, table, arg: str = "table") -> None:
        self._check_fitted()
        if not isinstance(table, MixedTable):
            raise TypeError(f"{arg} must be a MixedTable, got {type(table).__name__}")
        if table.names != self.names or table.discrete != self.discrete:
            raise ValueError(f"{arg} has columns {list(table.names)} (discrete {list(table.discrete)}); the "
                             f"transformer was fitted on {list(self.names)} (discrete {list(self.discrete)})")

    def category_index(self, column: str, values) -> np.ndarray:
        """Indices of ``values`` among ``column``'s categories; an unknown value is an error naming it."""
        self._check_fitted()
        if column not in self.categories:
            raise ValueError(f"column {column!r} is not a discrete column of the training data "
                             f"(discrete columns: {list(self.categories)})")
        cats = self.categories[column]
        values = np.asarray([str(v) for v in np.atleast_1d(np.asarray(values, dtype=object)).tolist()])
        idx = np.searchsorted(cats, values)
        bad = (idx >= len(cats)) | (np.asarray(cats + ("",))[np.minimum(idx, len(cats))] != values)
        if bad.any():
            raise ValueError(f"column {column!r} has no category {str(values[bad][0])!r} in the training data "
                             f"(categories: {list(cats)})")
        return idx.astype(np.int64)

    def encode(self, table: MixedTable, rng=None) -> np.ndarray:
        """The encoded rows, float32 [N, dim]."""
        self.check_table(table)
        rng = _rng(self.seed if rng is None else rng)
        out = np.zeros((len(table), self.dim), dtype=np.float32)
        rows = np.arange(len(table))
        for sp in self.spans:
            if sp.discrete:
                out[rows, sp.start + self.category_index(sp.column, table[sp.column])] = 1.0
            elif sp.activation == "tanh":
                alpha, mode = self.normalizers[sp.column].encode(table[sp.column], rng)
                out[:, sp.start] = alpha
                out[rows, sp.start + 1 + mode] = 1.0
        return out

    def decode(self, data) -> MixedTable:
        """Encoded rows (or a generator's activated output) back to a table; one-hot parts by argmax."""
        self._check_fitted()
        data = np.asarray(data.detach().cpu() if hasattr(data, "detach") else data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(f"data must have shape [N, {self.dim}], got {data.shape}")
        cols, alpha = {}, None
        for sp in self.spans:
            part = data[:, sp.start:sp.end]
            if sp.activation == "tanh":
                alpha = part[:, 0]
            elif sp.discrete:
                cols[sp.column] = np.asarray(self.categories[sp.column], dtype=object)[np.argmax(part, axis=1)]
            else:
                cols[sp.column] = self.normalizers[sp.column].decode(alpha, np.argmax(part, axis=1))
        return MixedTable({n: cols[n] for n in self.names}, self.discrete, name="decoded")

    def state_dict(self) -> dict:
        """What decoding needs (column names and kinds, categories, the kept modes' means and
        standard deviations), as JSON-friendly lists; :meth:`from_state` rebuilds a decoder."""
        self._check_fitted()
        return {"names": list(self.names), "discrete": list(self.discrete),
                "categories": {c: list(v) for c, v in self.categories.items()},
                "means": {c: n.means.tolist() for c, n in self.normalizers.items()},
                "stds": {c: n.stds.tolist() for c, n in self.normalizers.items()},
                "options": [self.max_modes, self.weight_threshold, self.mode, self.seed]}

    @classmethod
    def from_state(cls, state: dict) -> "TableTransformer":
        """A transformer that decodes (and checks tables) from :meth:`state_dict`; encoding needs
        the fitted mixtures, so it raises until ``fit`` is called on data."""
        try:
            t = cls(*state["options"])
            t.names, t.discrete = tuple(state["names"]), tuple(state["discrete"])
            t.categories = {c: tuple(v) for c, v in state["categories"].items()}
            t.normalizers = {}
            for c in state["means"]:
                nm = ModeNormalizer(t.max_modes, t.weight_threshold, t.mode)
                nm.means, nm.stds = np.asarray(state["means"][c], float), np.asarray(state["stds"][c], float)
                nm.column, nm.weights = c, None
                t.normalizers[c] = nm
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a TableTransformer state: {e}") from e
        spans, pos = [], 0
        for col in t.names:
            if col in t.discrete:
                w = len(t.categories[col])
                spans.append(Span(col, pos, pos + w, "softmax", True))
                pos += w
            else:
                w = len(t.normalizers[col].means)
                spans += [Span(col, pos, pos + 1, "tanh", False), Span(col, pos + 1, pos + 1 + w, "softmax", False)]
                pos += 1 + w
        t.spans, t.dim, t.fitted = tuple(spans), pos, True
        return t

    def output_info(self) -> list[tuple[int, int, str]]:
        """``(start, end, activation)`` per span: what a generator's output layer needs."""
        self._check_fitted()
        return [(s.start, s.end, s.activation) for s in self.spans]


@dataclasses.dataclass
class CondBatch:
    """A batch of conditions: ``cond`` [N, cond_dim] one-hot, ``mask`` [N, n_discrete] marks the
    chosen column, ``column`` and ``category`` [N] its index and the category's index."""

    cond: np.ndarray
    mask: np.ndarray
    column: np.ndarray
    category: np.ndarray


class ConditionalSampler:
    """The conditional vector and training-by-sampling over a fitted transformer's discrete columns.

    Args:
        transformer: a fitted :class:`TableTransformer`.
        table: the training table the transformer was fitted on.
    """

    def __init__(self, transformer: TableTransformer, table: MixedTable | None = None, *,
                 counts: dict | None = None):
        if (table is None) == (counts is None):
            raise ValueError("give exactly one of table and counts")
        if table is not None:
            transformer.check_table(table)
        transformer._check_fitted()
        self.transformer = transformer
        self.columns = tuple(s.column for s in transformer.spans if s.discrete)
        self.sizes = np.array([len(transformer.categories[c]) for c in self.columns], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.dim = int(self.offsets[-1])
        self.counts, self.cum_log, self.cum_freq, self.rows = {}, [], [], None
        if table is not None:
            self.n_rows, self.rows = len(table), []
            for c in self.columns:
                idx = transformer.category_index(c, table[c])
                self.counts[c] = np.bincount(idx, minlength=len(transformer.categories[c])).astype(np.int64)
                order = np.argsort(idx, kind="stable")
                self.rows.append((order, np.concatenate([[0], np.cumsum(self.counts[c])])))
        else:
            self.n_rows = 0
            for c, size in zip(self.columns, self.sizes):
                v = np.asarray(counts.get(c, ()), dtype=np.int64) if isinstance(counts, dict) else None
                if v is None or v.shape != (size,) or (v < 0).any() or v.sum() == 0:
                    raise ValueError(f"counts must give {size} non-negative counts for column {c!r}")
                self.counts[c] = v
        for c in self.columns:
            counts_c = self.counts[c].astype(np.float64)
            lp = np.log1p(counts_c)
            self.cum_log.append(np.cumsum(lp / lp.sum()))
            self.cum_freq.append(np.cumsum(counts_c / counts_c.sum()))

    def state_dict(self) -> dict:
        """The category counts (what generation needs), as lists."""
        return {c: v.tolist() for c, v in self.counts.items()}

    @property
    def n_discrete(self) -> int:
        return len(self.columns)

    def _batch(self, col, cat) -> CondBatch:
        n = len(col)
        cond = np.zeros((n, self.dim), dtype=np.float32)
        mask = np.zeros((n, self.n_discrete), dtype=np.float32)
        if n and self.dim:
            cond[np.arange(n), self.offsets[col] + cat] = 1.0
            mask[np.arange(n), col] = 1.0
        return CondBatch(cond, mask, col, cat)

    def _draw(self, n, rng, cums) -> CondBatch:
        if self.n_discrete == 0:
            none = np.full(n, -1, dtype=np.int64)
            return CondBatch(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.float32), none, none.copy())
        col = rng.integers(0, self.n_discrete, n)
        u = rng.random(n)
        cat = np.empty(n, dtype=np.int64)
        for j in np.unique(col):
            sel = col == j
            cat[sel] = np.minimum(np.searchsorted(cums[j], u[sel], side="right"), self.sizes[j] - 1)
        return self._batch(col, cat)

    def sample_train(self, n: int, rng) -> CondBatch:
        """Training conditions: column uniform, category proportional to log(1 + frequency)."""
        return self._draw(n, _rng(rng), self.cum_log)

    def sample_original(self, n: int, rng) -> CondBatch:
        """Generation conditions: column uniform, category by its frequency in the data."""
        return self._draw(n, _rng(rng), self.cum_freq)

    def sample_rows(self, batch: CondBatch, rng) -> np.ndarray:
        """A real row index per condition, drawn uniformly among the rows with that category."""
        if self.rows is None:
            raise RuntimeError("this sampler was built from counts; sampling real rows needs the table")
        rng = _rng(rng)
        n = len(batch.column)
        if self.n_discrete == 0:
            return rng.integers(0, self.n_rows, n)
        out = np.empty(n, dtype=np.int64)
        u = rng.random(n)
        for j in np.unique(batch.column):
            sel = batch.column == j
            order, starts = self.rows[j]
            lo, hi = starts[batch.category[sel]], starts[batch.category[sel] + 1]
            out[sel] = order[lo + np.minimum((u[sel] * (hi - lo)).astype(np.int64), hi - lo - 1)]
        return out

    def condition(self, condition: dict, n: int) -> CondBatch:
        """``n`` copies of a user's condition ``{"column": "value"}`` (one column)."""
        if not isinstance(condition, dict) or len(condition) != 1:
            raise ValueError(f"condition must be a dict with one column -> value, got {condition!r}")
        (column, value), = condition.items()
        if column not in self.columns:
            raise ValueError(f"condition names column {column!r}, which is not a discrete column of the "
                             f"training data (discrete columns: {list(self.columns)})")
        cat = self.transformer.category_index(column, [value])[0]
        j = self.columns.index(column)
        return self._batch(np.full(n, j, dtype=np.int64), np.full(n, cat, dtype=np.int64))
