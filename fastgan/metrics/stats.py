"""Feature statistics for FID: streaming float64 moments and :class:`FIDStats`.

:class:`StreamingMoments` accumulates the mean and the centred scatter matrix batch by batch
(each batch centred on its own mean, merged with Chan et al.'s update), in float64, so the
result does not depend on how the samples were split into batches (up to float64 rounding),
including a last partial batch.  The covariance is unbiased (N − 1) by default; ``ddof=0``
gives the maximum-likelihood one, and the choice is recorded in the stats.  While the sample
count does not exceed the dimension, the centred rows are also kept, so the stats carry the
*data factor* that makes the n ≤ d FID exact.

Under DDP, :meth:`StreamingMoments.all_reduce` combines the ranks: one reduction of
``(n, Σx)`` gives the global mean, each rank re-centres its scatter on it, and a second
reduction sums the scatters.  Any ``sum_fn(np.ndarray) -> np.ndarray`` that sums across
ranks can be passed; the default uses ``torch.distributed.all_reduce``.
"""
from __future__ import annotations

import json
import os
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from .factor import factorize

__all__ = ["StreamingMoments", "FIDStats", "check_cov", "check_mean"]

_FORMAT = "fastgan-fidstats-v1"


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def check_mean(name: str, mu) -> int:
    if getattr(mu, "ndim", None) != 1:
        raise ValueError(f"{name} must be a 1-d vector, got shape {tuple(getattr(mu, 'shape', ()))}")
    if mu.shape[0] < 1:
        raise ValueError(f"{name} is empty")
    finite = bool(mu.isfinite().all()) if _is_torch(mu) else bool(np.isfinite(mu).all())
    if not finite:
        raise ValueError(f"{name} contains NaN or inf")
    return int(mu.shape[0])


def _all_finite(s) -> bool:
    if _is_torch(s):
        return bool(s.isfinite().all())
    total = float(np.sum(s))  # one fast pass; an overflow to inf is re-checked element-wise
    return True if np.isfinite(total) else bool(np.isfinite(s).all())


def check_cov(name: str, s) -> int:
    """Validate a covariance (square, finite, symmetric); return its size.

    Cheap on purpose (it runs on every FID): finiteness in one summing pass, symmetry on the
    diagonal scale and a fixed sample of 32·d mirrored entry pairs, which catches any matrix
    that is not a covariance while costing O(d) instead of a transposed d×d pass."""
    if getattr(s, "ndim", None) != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"{name} must be a square [d, d] matrix, got shape {tuple(getattr(s, 'shape', ()))}")
    d = int(s.shape[0])
    if d < 1:
        raise ValueError(f"{name} is empty")
    if not _all_finite(s):
        raise ValueError(f"{name} contains NaN or inf")
    idx = np.random.default_rng(d).integers(0, d, size=(2, min(32 * d, d * d)))
    if _is_torch(s):
        i, j = (s.new_tensor(a, dtype=__import__("torch").long) for a in idx)
        diag = s.diagonal().abs().max().item()
        asym = (s[i, j] - s[j, i]).abs().max().item()
        scale = max(diag, s[i, j].abs().max().item())
    else:
        diag = float(np.abs(np.diagonal(s)).max())
        a, b = s[idx[0], idx[1]], s[idx[1], idx[0]]
        asym = float(np.abs(a - b).max())
        scale = max(diag, float(np.abs(a).max()))
    if asym > 1e-6 * scale:
        raise ValueError(f"{name} is not symmetric (|S - S^T| up to {asym:.3g}, max |S| = {scale:.3g})")
    return d


def _as_rows(x) -> np.ndarray:
    if _is_torch(x):
        x = x.detach().to("cpu").double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be a [batch, dim] array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    return x


class StreamingMoments:
    """Float64 mean and covariance accumulated over batches of features.

    Args:
        dim: feature dimension (checked on every batch; taken from the first batch if None).
        ddof: 1 (default, unbiased N − 1) or 0.
        keep_rows: keep the rows while n ≤ dim so the stats carry the exact data factor
            (``"auto"``, default) or never (``False``).
    """

    def __init__(self, dim: int | None = None, *, ddof: int = 1, keep_rows="auto"):
        if ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
        if dim is not None and (not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if keep_rows not in ("auto", False):
            raise ValueError(f"keep_rows must be 'auto' or False, got {keep_rows!r}")
        self.dim, self.ddof, self.keep_rows = dim, ddof, keep_rows
        self.n = 0
        self._mean = None
        self._scatter = None
        self._rows: list | None = [] if keep_rows == "auto" else None

    def update(self, x) -> "StreamingMoments":
        """Add a batch ``x`` of shape [batch, dim] (numpy or torch, any float dtype)."""
        x = _as_rows(x)
        b, d = x.shape
        if self.dim is None:
            self.dim = d
        if d != self.dim:
            raise ValueError(f"features have dimension {d}, expected {self.dim}")
        if b == 0:
            return self
        mb = x.mean(axis=0)
        xc = x - mb
        sb = xc.T @ xc
        if self.n == 0:
            self._mean, self._scatter = mb, sb
        else:
            n = self.n + b
            delta = mb - self._mean
            self._mean = self._mean + delta * (b / n)
            self._scatter += sb
            self._scatter += np.outer(delta, delta * (self.n * b / n))
        self.n += b
        if self._rows is not None:
            self._rows.append(x)
            if self.n > self.dim:
                self._rows = None
        return self

    @property
    def mean(self) -> np.ndarray:
        self._need(1)
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        self._need(2)
        c = self._scatter / (self.n - self.ddof)
        return (c + c.T) * 0.5  # exact symmetry

    def _need(self, k: int):
        if self.n < k:
            raise ValueError(f"need at least {k} samples, have n={self.n}")

    def data_factor(self) -> np.ndarray | None:
        """F = (X − μ)ᵀ / sqrt(n − ddof) ([dim, n], Σ = F·Fᵀ) while the rows are kept, else None."""
        if self._rows is None or self.n < 2:
            return None
        x = np.concatenate(self._rows, axis=0)
        return np.asfortranarray((x - self._mean).T / np.sqrt(self.n - self.ddof))

    def all_reduce(self, sum_fn: Callable[[np.ndarray], np.ndarray] | None = None) -> "StreamingMoments":
        """Combine the moments of all DDP ranks in place (every rank calls it).

        ``sum_fn`` sums an array over the ranks and returns the sum; by default
        ``torch.distributed.all_reduce`` on a float64 CPU tensor (use a gloo group, or pass your
        own function for NCCL).  Kept rows are dropped (ranks hold different rows)."""
        if sum_fn is None:
            sum_fn = _torch_all_reduce_sum
        if self.dim is None:
            raise ValueError("all_reduce needs dim: construct StreamingMoments(dim=...) on every rank")
        d = self.dim
        mean = self._mean if self.n else np.zeros(d)
        first = np.concatenate([[float(self.n)], mean * self.n])
        tot = np.asarray(sum_fn(first), dtype=np.float64)
        n = int(round(tot[0]))
        if n == 0:
            return self
        g = tot[1:] / n
        scatter = np.zeros((d, d)) if self._scatter is None else self._scatter.copy()
        if self.n:
            delta = mean - g
            scatter += np.outer(delta, delta * self.n)
        scatter = np.asarray(sum_fn(scatter.reshape(-1)), dtype=np.float64).reshape(d, d)
        self.n, self._mean, self._scatter, self._rows = n, g, scatter, None
        return self

    def to_stats(self, feature_id: str, preprocess_id: str, **meta) -> "FIDStats":
        """Freeze into :class:`FIDStats` (needs n ≥ 2)."""
        self._need(2)
        F = self.data_factor()
        return FIDStats(self.mean, self.cov, self.n, feature_id, preprocess_id, ddof=self.ddof,
                        factor=F, factor_kind="data" if F is not None else None, meta=meta)


def _torch_all_reduce_sum(a: np.ndarray) -> np.ndarray:
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("all_reduce: torch.distributed is not initialised; pass sum_fn=")
    t = torch.from_numpy(np.ascontiguousarray(a))
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().numpy()


class FIDStats:
    """μ, Σ and n of a feature set, with the ids that say how the features were made.

    ``feature_id`` names the feature network and its weights (e.g.
    ``"inception-v3-fid:sha256=6726825d..."``), ``preprocess_id`` the preprocessing (e.g.
    ``"bilinear-299,[-1,1]"``).  Two stats are only comparable if both ids and the dimension
    agree.  ``factor`` caches Σ = F·Fᵀ: the Cholesky factor (``ensure_factor``), an eigen-factor,
    or the data factor of a set with n ≤ d.
    """

    def __init__(self, mu, sigma, n: int, feature_id: str, preprocess_id: str, *, ddof: int = 1,
                 factor=None, factor_kind: str | None = None, meta: dict | None = None):
        mu = np.asarray(mu.detach().cpu() if _is_torch(mu) else mu, dtype=np.float64)
        sigma = np.asarray(sigma.detach().cpu() if _is_torch(sigma) else sigma, dtype=np.float64)
        d = check_mean("mu", mu)
        if check_cov("sigma", sigma) != d:
            raise ValueError(f"sigma must be [{d}, {d}] to match mu, got {sigma.shape}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"n must be an int >= 2 (samples behind the covariance), got {n!r}")
        for name, v in (("feature_id", feature_id), ("preprocess_id", preprocess_id)):
            if not isinstance(v, str) or not v:
                raise TypeError(f"{name} must be a non-empty str, got {v!r}")
        if ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
        if factor is not None:
            factor = np.asfortranarray(factor, dtype=np.float64)
            if factor.ndim != 2 or factor.shape[0] != d:
                raise ValueError(f"factor must be [{d}, r], got {factor.shape}")
            if factor_kind not in ("cholesky", "pivoted", "eigen", "data"):
                raise ValueError(f"factor_kind must be 'cholesky', 'pivoted', 'eigen' or 'data', got {factor_kind!r}")
        self.mu, self.sigma, self.n = mu, sigma, int(n)
        self.feature_id, self.preprocess_id, self.ddof = feature_id, preprocess_id, ddof
        self.factor, self.factor_kind = factor, (factor_kind if factor is not None else None)
        self.meta = dict(meta or {})

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])

    @classmethod
    def from_features(cls, features, feature_id: str, preprocess_id: str, *, ddof: int = 1,
                      **meta) -> "FIDStats":
        return StreamingMoments(ddof=ddof).update(features).to_stats(feature_id, preprocess_id, **meta)

    def ensure_factor(self):
        """Compute and cache a factor of Σ (Cholesky, or the eigen-factor if Σ is singular)."""
        if self.factor is None:
            self.factor, self.factor_kind = factorize(np.asfortranarray(self.sigma))
        return self.factor

    def check_compatible(self, other: "FIDStats", name: str = "other") -> None:
        if not isinstance(other, FIDStats):
            raise TypeError(f"{name} must be FIDStats, got {type(other).__name__}")
        if other.feature_id != self.feature_id:
            raise ValueError(f"{name} stats come from feature network {other.feature_id!r}, "
                             f"these from {self.feature_id!r}: FIDs are only comparable with one network")
        if other.preprocess_id != self.preprocess_id:
            raise ValueError(f"{name} stats used preprocessing {other.preprocess_id!r}, "
                             f"these {self.preprocess_id!r}")
        if other.dim != self.dim:
            raise ValueError(f"{name} stats have dimension {other.dim}, these {self.dim}")

    def conventions(self, prefix: str = "") -> dict:
        return {f"{prefix}n": self.n, f"{prefix}feature_id": self.feature_id,
                f"{prefix}preprocess_id": self.preprocess_id,
                f"{prefix}covariance": "unbiased (N-1)" if self.ddof == 1 else "biased (N)",
                **{f"{prefix}{k}": v for k, v in self.meta.items()}}

    def save(self, path: str, *, include_factor: bool | None = None) -> None:
        """Write a .npz (no pickles).  Data factors (n ≤ d) are always kept; a Cholesky or eigen
        factor only with ``include_factor=True`` (it is cheap to recompute)."""
        keep = self.factor is not None and (include_factor or (include_factor is None and self.factor_kind == "data"))
        header = {"format": _FORMAT, "n": self.n, "feature_id": self.feature_id,
                  "preprocess_id": self.preprocess_id, "ddof": self.ddof,
                  "factor_kind": self.factor_kind if keep else None, "meta": self.meta}
        arrays = {"mu": self.mu, "sigma": self.sigma, "header": np.array(json.dumps(header))}
        if keep:
            arrays["factor"] = np.ascontiguousarray(self.factor)
        tmp = f"{path}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "FIDStats":
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z.files:
                raise ValueError(f"{path}: not a fastgan FIDStats file (no header); "
                                 "stats from other tools lack the feature-network id")
            header = json.loads(str(z["header"]))
            if header.get("format") != _FORMAT:
                raise ValueError(f"{path}: unknown stats format {header.get('format')!r}")
            factor = z["factor"] if "factor" in z.files else None
            return cls(z["mu"], z["sigma"], header["n"], header["feature_id"], header["preprocess_id"],
                       ddof=header["ddof"], factor=factor, factor_kind=header.get("factor_kind"),
                       meta=header.get("meta"))

    def __repr__(self) -> str:
        return (f"FIDStats(dim={self.dim}, n={self.n}, feature_id={self.feature_id!r}, "
                f"preprocess_id={self.preprocess_id!r}, factor={self.factor_kind})")
