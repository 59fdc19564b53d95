"""High-level entry points: stats and metrics from generators, data sets, folders or stats files.

Image *sources* are anything :func:`~fastgan.metrics.features.iter_image_batches` accepts: a
generator function ``f(batch_size) -> images in [-1, 1]``, a ``fastgan.data`` data set, an array
of images, an iterable of batches, or (here) a path: an image folder, a zip, a .npy/.npz array,
or a built-in data name such as ``"mnist"`` (through ``fastgan.data.make_dataset``).
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ..data import make_dataset

from ._result import MetricResult
from .digits import DigitsFeatures
from .features import FeatureExtractor, extract, get_extractor
from .fid import fid_from_stats
from .scores import (density_coverage, inception_score, kernel_inception_distance, mode_coverage,
                     precision_recall)
from .stats import FIDStats

__all__ = ["compute_stats", "compute_fid", "compute_metrics", "fid_digits", "TRAINING_METRICS", "METRICS",
           "resolve_source"]

METRICS = ("fid", "kid", "is", "pr", "dc", "modes")
_EXTRACTORS: dict = {}


def _extractor(features, device, **kw) -> FeatureExtractor:
    if isinstance(features, str) and features in ("digits", "inception"):
        key = (features, str(device), kw.get("inception_weights"))
        if key not in _EXTRACTORS:
            _EXTRACTORS[key] = get_extractor(features, device=device, **kw)
        return _EXTRACTORS[key]
    return get_extractor(features, device=device, **kw)


def resolve_source(source, *, split: str = "heldout"):
    """Paths and data names become data sets (``fastgan.data.make_dataset``); others pass through."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        return make_dataset(name, split=split) if name == "mnist" else make_dataset(name)
    return source


def _is_stats(x) -> bool:
    return isinstance(x, FIDStats) or (isinstance(x, (str, os.PathLike)) and os.fspath(x).endswith(".npz")
                                       and os.path.isfile(x) and _has_header(os.fspath(x)))


def _has_header(path: str) -> bool:
    with np.load(path, allow_pickle=False) as z:
        return "header" in z.files


def _load_stats(x) -> FIDStats:
    return x if isinstance(x, FIDStats) else FIDStats.load(os.fspath(x))


def compute_stats(source, features="digits", *, n: int | None = None, batch_size: int = 100, device=None,
                  progress: bool = False, **extractor_kw) -> FIDStats:
    """:class:`FIDStats` of a source's features (keep the object: it caches its factor)."""
    ext = _extractor(features, device, **extractor_kw)
    got = extract(ext, resolve_source(source), n=n, batch_size=batch_size, keep_features=False,
                  keep_logits=False, device=device, progress=progress, desc="stats")
    return got.moments.to_stats(ext.feature_id, ext.preprocess_id, features=ext.name)


def compute_metrics(real, fake, metrics=("fid",), *, features="digits", n: int | None = None,
                    batch_size: int = 100, device=None, progress: bool = False, seed: int = 0,
                    kid_subsets: int = 100, kid_subset_size: int = 1000, **extractor_kw) -> dict:
    """``{name: MetricResult}`` for ``metrics`` (any of :data:`METRICS`) between two sources.

    ``real`` may also be :class:`FIDStats` or a stats .npz (then only ``fid`` is possible);
    ``n`` caps the number of images taken from each source (required for a generator).
    ``is`` and ``modes`` use only the fake images' logits."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ValueError(f"metrics must be a non-empty list from {METRICS}, got {metrics!r}")
    ext = _extractor(features, device, **extractor_kw)
    need_real = any(m in ("kid", "pr", "dc", "fid") for m in metrics)
    need_feats = any(m in ("kid", "pr", "dc") for m in metrics)
    need_logits = any(m in ("is", "modes") for m in metrics)
    real_stats = None
    if need_real and _is_stats(real):
        if need_feats:
            raise ValueError("real is a stats file: only 'fid' can be computed from stats; "
                             "give images for kid/pr/dc")
        real_stats = _load_stats(real)
        real_stats.check_compatible(FIDStats(real_stats.mu, real_stats.sigma, 2, ext.feature_id,
                                             ext.preprocess_id), "feature network")
    conv = ext.conventions()
    fake_x = extract(ext, resolve_source(fake), n=n, batch_size=batch_size, keep_features=need_feats,
                     keep_logits=need_logits, device=device, progress=progress, desc="fake features")
    real_x = None
    if need_real and real_stats is None:
        real_x = extract(ext, resolve_source(real), n=n, batch_size=batch_size, keep_features=need_feats,
                         keep_logits=False, device=device, progress=progress, desc="real features")
        real_stats = real_x.moments.to_stats(ext.feature_id, ext.preprocess_id, features=ext.name)
    out: dict[str, MetricResult] = {}
    for m in metrics:
        if m == "fid":
            fake_stats = fake_x.moments.to_stats(ext.feature_id, ext.preprocess_id, features=ext.name)
            out[m] = fid_from_stats(real_stats, fake_stats)
            out[m].conventions.update(conv)
        elif m == "kid":
            out[m] = kernel_inception_distance(real_x.features, fake_x.features, num_subsets=kid_subsets,
                                               subset_size=kid_subset_size, seed=seed, **conv)
        elif m == "pr":
            out[m] = precision_recall(real_x.features, fake_x.features, **conv)
        elif m == "dc":
            out[m] = density_coverage(real_x.features, fake_x.features, **conv)
        elif m in ("is", "modes"):
            if fake_x.logits is None:
                raise ValueError(f"metric {m!r} needs class logits; the {ext.name} features give none")
            if m == "is":
                out[m] = inception_score(fake_x.logits, **conv)
            else:
                out[m] = mode_coverage(logits=fake_x.logits, num_classes=fake_x.logits.shape[1], **conv)
    return out


def compute_fid(fake, real, *, features="digits", n: int | None = None, **kw) -> MetricResult:
    """FID of ``fake`` (e.g. ``lambda b: G(torch.randn(b, 128))``) against ``real`` (FIDStats,
    a stats .npz, or a source).  Pass the same FIDStats object every time: its factor is cached."""
    return compute_metrics(real, fake, ("fid",), features=features, n=n, **kw)["fid"]


CLASS_SHARE = 0.02  # a digit class counts as covered when >= 2% of the samples are classified as it


@torch.no_grad()
def fid_digits(sample, real, *, n: int = 5000, batch_size: int = 500, device=None,
               cache: dict | None = None) -> MetricResult:
    """FID with the digits features of ``n`` generated images against a real data set.

    ``sample(i, b)`` returns images ``i .. i+b-1`` in [-1, 1] of a fixed evaluation set;
    ``real`` is a data set with ``get_batch`` (images of the generated size).  ``values`` also
    hold ``classes`` (digit classes the shipped classifier predicts for >= 2% of the samples)
    and the predicted-class ``histogram``.  ``cache``
    (a dict kept between calls) holds the feature network and the real statistics."""
    cache = {} if cache is None else cache
    if "net" not in cache:
        cache["net"] = DigitsFeatures().to(device or "cpu")
    net = cache["net"]

    def feats(batches, logits=None):
        out = []
        for x in batches:
            f, lg = net(x.to(next(net.parameters()).device))
            out.append(f.double().cpu())
            if logits is not None:
                logits.append(lg.argmax(1).cpu())
        return torch.cat(out).numpy()
    if "real" not in cache:
        m = len(real)
        f = feats(real.get_batch(torch.arange(i, min(i + batch_size, m)))[0] for i in range(0, m, batch_size))
        cache["real"] = FIDStats.from_features(f, net.feature_id, net.preprocess_id)
    predicted: list = []
    f = feats((sample(i, min(batch_size, n - i)) for i in range(0, n, batch_size)), predicted)
    res = fid_from_stats(cache["real"], FIDStats.from_features(f, net.feature_id, net.preprocess_id))
    hist = torch.bincount(torch.cat(predicted), minlength=net.num_classes)
    # class coverage: classes the shipped classifier predicts for >= CLASS_SHARE of the samples
    res.values.update(classes=int((hist >= CLASS_SHARE * n).sum()), histogram=hist.tolist())
    res.conventions.update(features="digits", n_fake=n, class_share=CLASS_SHARE)
    return res


# metrics a family names in ``Family.metrics``; the engine calls ``fn(sample, real, n=, device=, cache=)``
TRAINING_METRICS = {"fid_digits": fid_digits}
