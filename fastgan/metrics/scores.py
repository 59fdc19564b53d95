"""IS, KID, precision/recall, density/coverage, mode coverage: from features or class outputs.

Every function takes plain arrays (numpy or torch, any float dtype; computed in float64) and
returns a :class:`~fastgan.metrics.MetricResult` that records its conventions.

* :func:`inception_score`: exp(E_x KL(p(y|x) || p(y))) over 10 contiguous splits, mean ± std
  (std with ddof 0, as in the original IS code); splits are ``numpy.array_split`` (sizes differ
  by at most one, every sample used).
* :func:`kernel_inception_distance`: unbiased MMD² with k(x, y) = (xᵀy/d + 1)³, averaged over
  100 subsets of min(1000, n_real, n_fake) samples drawn without replacement, seeded.
* :func:`precision_recall`: Kynkäänniemi et al. 2019, k = 3: a fake sample is "precise" if it
  lies in the k-NN ball (radius to the k-th nearest other real sample, ``<=``) of some real
  sample; recall swaps the roles.
* :func:`density_coverage`: Naeem et al. 2020, k = 5: density = mean number of real k-NN balls
  (strict ``<``) containing each fake sample, divided by k; coverage = fraction of real balls
  containing at least one fake sample.
* :func:`mode_coverage`: class histogram of generated samples, the number of classes with at
  least ``min_count`` samples and KL(histogram || uniform) in nats.
"""
from __future__ import annotations

import math

import numpy as np

from ._result import MetricResult

__all__ = ["inception_score", "kernel_inception_distance", "precision_recall", "density_coverage",
           "mode_coverage", "pairwise_distances"]


def _features(name: str, x, min_rows: int = 1) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        x = x.detach().to("cpu").double().numpy()
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from e
    if x.ndim != 2:
        raise ValueError(f"{name} must be a [n, dim] array, got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _same_dim(a, b, na="real", nb="fake"):
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{na} and {nb} features differ in dimension: {a.shape[1]} vs {b.shape[1]}")


def _pos_int(name, v, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


# ----------------------------------------------------------------------------- IS
def inception_score(logits=None, *, probs=None, splits: int = 10, **conventions) -> MetricResult:
    """Inception score from classifier ``logits`` [n, classes] (or ``probs``, rows summing to 1)."""
    if (logits is None) == (probs is None):
        raise ValueError("pass exactly one of logits= or probs=")
    splits = _pos_int("splits", splits)
    if logits is not None:
        z = _features("logits", logits, min_rows=splits)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    else:
        p = _features("probs", probs, min_rows=splits)
        if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
            raise ValueError("probs must be non-negative with rows summing to 1")
        with np.errstate(divide="ignore"):
            logp = np.log(p)
    p = np.exp(logp)
    scores = []
    for part_logp, part_p in zip(np.array_split(logp, splits), np.array_split(p, splits)):
        py = part_p.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part_p > 0, part_p * (part_logp - np.log(py)), 0.0).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    mean, std = float(np.mean(scores)), float(np.std(scores))
    return MetricResult("is", mean, values={"is_std": std},
                        conventions={"splits": splits, "split_method": "numpy.array_split (contiguous)",
                                     "n": int(p.shape[0]), "classes": int(p.shape[1]),
                                     "std_ddof": 0, **conventions})


# ----------------------------------------------------------------------------- KID
def _poly_kernel(a, b, d):
    return (a @ b.T / d + 1.0) ** 3


def kernel_inception_distance(real, fake, *, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0, **conventions) -> MetricResult:
    """KID: mean ± std over subsets of the unbiased MMD² with the cubic polynomial kernel."""
    x, y = _features("real", real, 2), _features("fake", fake, 2)
    _same_dim(x, y)
    num_subsets = _pos_int("num_subsets", num_subsets)
    m = min(_pos_int("subset_size", subset_size, 2), x.shape[0], y.shape[0])
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    vals = np.empty(num_subsets)
    for s in range(num_subsets):
        a = x[rng.choice(x.shape[0], m, replace=False)]
        b = y[rng.choice(y.shape[0], m, replace=False)]
        kxx, kyy, kxy = _poly_kernel(a, a, d), _poly_kernel(b, b, d), _poly_kernel(a, b, d)
        vals[s] = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                   - 2.0 * kxy.mean())
    return MetricResult("kid", float(vals.mean()), values={"kid_std": float(vals.std())},
                        conventions={"kernel": "(x.y/d + 1)^3", "estimator": "unbiased MMD^2",
                                     "num_subsets": num_subsets, "subset_size": m, "seed": seed,
                                     "sampling": "without replacement per subset", "std_ddof": 0,
                                     "n_real": x.shape[0], "n_fake": y.shape[0], **conventions})


# ----------------------------------------------------------------------------- k-NN metrics
def pairwise_distances(a: np.ndarray, b: np.ndarray, *, chunk: int = 2048) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] in float64, computed in row chunks."""
    out = np.empty((a.shape[0], b.shape[0]))
    bb = np.einsum("ij,ij->i", b, b)
    for i in range(0, a.shape[0], chunk):
        blk = a[i:i + chunk]
        d2 = np.einsum("ij,ij->i", blk, blk)[:, None] + bb[None, :] - 2.0 * (blk @ b.T)
        np.sqrt(np.maximum(d2, 0.0), out=out[i:i + chunk])
    return out


def _kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest *other* row (self at distance 0 is skipped)."""
    dist = pairwise_distances(x, x)
    np.fill_diagonal(dist, 0.0)
    return np.partition(dist, k, axis=1)[:, k]


def precision_recall(real, fake, *, k: int = 3, **conventions) -> MetricResult:
    """Improved precision and recall (Kynkäänniemi et al. 2019); value = precision."""
    x, y = _features("real", real), _features("fake", fake)
    _same_dim(x, y)
    k = _pos_int("k", k)
    if k >= min(x.shape[0], y.shape[0]):
        raise ValueError(f"k={k} needs more than k samples in each set, got {x.shape[0]} real, {y.shape[0]} fake")
    rx, ry = _kth_radius(x, k), _kth_radius(y, k)
    d = pairwise_distances(y, x)  # [fake, real]
    precision = float((d <= rx[None, :]).any(axis=1).mean())
    recall = float((d.T <= ry[None, :]).any(axis=1).mean())
    return MetricResult("precision", precision, values={"recall": recall},
                        conventions={"k": k, "ball": "k-th nearest other sample, <=",
                                     "n_real": x.shape[0], "n_fake": y.shape[0], **conventions})


def density_coverage(real, fake, *, k: int = 5, **conventions) -> MetricResult:
    """Density and coverage (Naeem et al. 2020); value = density."""
    x, y = _features("real", real), _features("fake", fake)
    _same_dim(x, y)
    k = _pos_int("k", k)
    if k >= x.shape[0]:
        raise ValueError(f"k={k} needs more than k real samples, got {x.shape[0]}")
    rx = _kth_radius(x, k)
    inside = pairwise_distances(x, y) < rx[:, None]  # [real, fake]
    density = float(inside.sum() / (k * y.shape[0]))
    coverage = float(inside.any(axis=1).mean())
    return MetricResult("density", density, values={"coverage": coverage},
                        conventions={"k": k, "ball": "k-th nearest other real sample, <",
                                     "n_real": x.shape[0], "n_fake": y.shape[0], **conventions})


# ----------------------------------------------------------------------------- modes
def mode_coverage(labels=None, *, logits=None, num_classes: int, min_count: int = 1,
                  **conventions) -> MetricResult:
    """Modes covered by generated samples, from predicted ``labels`` [n] or ``logits`` [n, C].

    value = number of classes predicted at least ``min_count`` times; ``values`` also hold
    ``coverage`` (that number / num_classes), ``kl_to_uniform`` (nats, 0 = perfectly balanced,
    log C = a single class) and the ``histogram``."""
    num_classes = _pos_int("num_classes", num_classes)
    min_count = _pos_int("min_count", min_count)
    if (labels is None) == (logits is None):
        raise ValueError("pass exactly one of labels or logits=")
    if logits is not None:
        z = _features("logits", logits)
        if z.shape[1] != num_classes:
            raise ValueError(f"logits have {z.shape[1]} classes, num_classes={num_classes}")
        labels = z.argmax(axis=1)
    if type(labels).__module__.startswith("torch"):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty 1-d integer array, got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    hist = np.bincount(labels, minlength=num_classes)
    p = hist / hist.sum()
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] * num_classes)))
    covered = int((hist >= min_count).sum())
    return MetricResult("modes_covered", covered,
                        values={"coverage": covered / num_classes, "kl_to_uniform": kl,
                                "histogram": hist.tolist()},
                        conventions={"num_classes": num_classes, "min_count": min_count,
                                     "n": int(labels.size), "kl": "KL(hist || uniform), nats",
                                     **conventions})
