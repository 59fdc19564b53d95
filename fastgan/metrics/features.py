"""Feature networks behind FID/IS/KID/PR, and the loop that runs them over images.

``get_extractor(spec)`` accepts

* ``"inception"``: the FID InceptionV3 (pool3 2048-d features, 1008 logits for IS);
* ``"digits"``: the shipped MNIST classifier (128-d features, 10 logits);
* ``"module:pkg.mod:attr"`` or ``"module:/path/file.py:attr"``: any ``nn.Module`` (or a
  zero-argument factory returning one);
* an ``nn.Module`` instance.

A user module's ``forward(images)`` may return a features tensor, a ``(features, logits)``
pair or a dict with ``"features"`` (and optionally ``"logits"``); it receives the images as
given ([N, C, H, W], float in [-1, 1]).  Its ``feature_id`` is its class name plus a hash of its
parameters and buffers, unless the module (or the caller) defines ``feature_id``.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .stats import StreamingMoments

__all__ = ["FeatureExtractor", "get_extractor", "extract", "Extracted", "iter_image_batches"]


class FeatureExtractor(nn.Module):
    """Uniform wrapper: ``forward(images) -> (features [N, D], logits [N, C] or None)``."""

    def __init__(self, net: nn.Module, feature_id: str, preprocess_id: str, name: str):
        super().__init__()
        self.net = net.eval()
        self.feature_id, self.preprocess_id, self.name = feature_id, preprocess_id, name

    @torch.no_grad()
    def forward(self, images: torch.Tensor):
        out = self.net(images)
        if isinstance(out, dict):
            if "features" not in out:
                raise ValueError(f"feature module {self.name} returned a dict without 'features'")
            feats, logits = out["features"], out.get("logits")
        elif isinstance(out, (tuple, list)):
            if len(out) != 2:
                raise ValueError(f"feature module {self.name} must return features or (features, logits)")
            feats, logits = out
        else:
            feats, logits = out, None
        if not isinstance(feats, torch.Tensor) or feats.ndim < 2:
            raise ValueError(f"feature module {self.name} must return a [N, D] tensor of features")
        return feats.flatten(1), (logits.flatten(1) if logits is not None else None)

    def conventions(self) -> dict:
        return {"features": self.name, "feature_id": self.feature_id, "preprocess_id": self.preprocess_id}


def _module_hash(m: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(m.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _load_object(spec: str):
    """``pkg.mod:attr`` or ``/path/file.py:attr`` -> the object."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"module spec must be 'pkg.module:attr' or '/path/file.py:attr', got {spec!r}")
    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise FileNotFoundError(f"feature module file {target} does not exist")
        mspec = importlib.util.spec_from_file_location(f"_fastgan_user_features_{abs(hash(target))}", target)
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(target)
    if not hasattr(mod, attr):
        raise ValueError(f"{target} has no attribute {attr!r}")
    return getattr(mod, attr)


def get_extractor(spec, *, device=None, inception_weights: str | None = None, download: bool = True,
                  feature_id: str | None = None, preprocess_id: str | None = None) -> FeatureExtractor:
    """Resolve a feature-network spec (see the module docstring) to a :class:`FeatureExtractor`."""
    if isinstance(spec, FeatureExtractor):
        ext = spec
    elif isinstance(spec, nn.Module):
        ext = FeatureExtractor(spec, feature_id or getattr(spec, "feature_id", None)
                               or f"module:{type(spec).__qualname__}:sha256={_module_hash(spec)}",
                               preprocess_id or getattr(spec, "preprocess_id", "none (module input)"),
                               f"module:{type(spec).__qualname__}")
    elif spec == "digits":
        from .digits import DigitsFeatures  # each extractor loads only when chosen
        net = DigitsFeatures()
        ext = FeatureExtractor(net, net.feature_id, net.preprocess_id, "digits")
    elif spec == "inception":
        from .inception import PREPROCESS_ID, load_inception  # each extractor loads only when chosen
        net, digest = load_inception(inception_weights, download=download)
        ext = FeatureExtractor(net, f"inception-v3-fid-2015-12-05:sha256={digest[:16]}", PREPROCESS_ID, "inception")
    elif isinstance(spec, str) and spec.startswith("module:"):
        obj = _load_object(spec[len("module:"):])
        if isinstance(obj, type) or (callable(obj) and not isinstance(obj, nn.Module)):
            obj = obj()
        if not isinstance(obj, nn.Module):
            raise TypeError(f"{spec} must name an nn.Module or a factory returning one, got {type(obj).__name__}")
        return get_extractor(obj, device=device, feature_id=feature_id, preprocess_id=preprocess_id)
    else:
        raise ValueError(f"features must be 'inception', 'digits', 'module:pkg.mod:attr' or an nn.Module, got {spec!r}")
    if device is not None:
        ext = ext.to(device)
    return ext


# ----------------------------------------------------------------------------- image sources
def _as_image_tensor(x) -> torch.Tensor:
    if isinstance(x, (tuple, list)):  # (images, labels) batches
        x = x[0]
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"image batches must be tensors or arrays, got {type(x).__name__}")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"image batches must be [N, C, H, W], got shape {tuple(x.shape)}")
    return x


def iter_image_batches(source, n: int | None, batch_size: int, *, seed: int = 0):
    """Yield image batches (at most ``n`` images in total) from

    * a callable ``f(batch_size) -> images`` (a generator; needs ``n``);
    * a data set with ``get_batch(indices)`` and ``len`` (``fastgan.data`` sets; first n images);
    * an array / tensor of images [N, C, H, W] (or [N, H, W]);
    * any iterable of batches (tensors or ``(images, labels)`` tuples)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int, got {n!r}")
    if hasattr(source, "get_batch") and hasattr(source, "__len__"):
        total = len(source) if n is None else min(n, len(source))
        for i in range(0, total, batch_size):
            yield _as_image_tensor(source.get_batch(torch.arange(i, min(i + batch_size, total))))
        return
    if isinstance(source, (np.ndarray, torch.Tensor)):
        x = _as_image_tensor(source)
        total = len(x) if n is None else min(n, len(x))
        for i in range(0, total, batch_size):
            yield x[i:i + batch_size]
        return
    if callable(source):
        if n is None:
            raise ValueError("n is required when the source is a generator function")
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            x = _as_image_tensor(source(b))
            if x.shape[0] != b:
                raise ValueError(f"generator function returned {x.shape[0]} images, asked for {b}")
            done += b
            yield x
        return
    done = 0
    for batch in source:
        x = _as_image_tensor(batch)
        if n is not None:
            x = x[: n - done]
        done += x.shape[0]
        yield x
        if n is not None and done >= n:
            return


@dataclass
class Extracted:
    """Features of one image set: moments (always), all features and logits (if kept)."""
    moments: StreamingMoments
    features: np.ndarray | None
    logits: np.ndarray | None
    n: int


def extract(extractor: FeatureExtractor, source, *, n: int | None = None, batch_size: int = 100,
            keep_features: bool = True, keep_logits: bool = True, device=None, progress: bool = False,
            desc: str = "features") -> Extracted:
    """Run the extractor over a source (see :func:`iter_image_batches`); the moments are always
    accumulated, the features and logits kept only if asked."""
    dev = device if device is not None else next(extractor.parameters(), torch.zeros(())).device
    moments = StreamingMoments()
    feats, logits = [], []
    bar = None
    if progress:
        from tqdm import tqdm  # only with progress=True
        bar = tqdm(total=n, desc=desc, unit="img")
    count = 0
    for x in iter_image_batches(source, n, batch_size):
        f, lg = extractor(x.to(dev))
        f64 = f.double().cpu()
        moments.update(f64)
        if keep_features:
            feats.append(f.float().cpu().numpy())
        if keep_logits and lg is not None:
            logits.append(lg.double().cpu().numpy())
        count += x.shape[0]
        if bar is not None:
            bar.update(x.shape[0])
    if bar is not None:
        bar.close()
    if count == 0:
        raise ValueError(f"{desc}: the source yielded no images")
    return Extracted(moments, np.concatenate(feats) if feats else None,
                     np.concatenate(logits) if logits else None, count)
