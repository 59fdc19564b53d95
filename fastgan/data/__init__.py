"""Datasets: embedded (MNIST-5k, sklearn digits and tables) and users' data.

``make_dataset(name_or_path)`` is what ``fastgan train --data`` calls:

* ``mnist``: the embedded MNIST-5k (split ``train`` = 4,500 images by default);
* ``digits``: scikit-learn's 8x8 digits;
* ``iris``, ``wine``, ``breast_cancer``, ``diabetes``: scikit-learn's tables;
* a directory or ``.zip`` of images (optional ``dataset.json`` labels);
* a ``.npy``/``.npz`` array of images; a ``.csv`` table.
"""
from __future__ import annotations

import os

from .embedded import (  # noqa: F401
    MNIST_SPLIT_SEED, SPLITS, TABLES, Table, load_digits, load_mnist_5k, load_table, mnist_5k_path,
)
from .images import ArrayImages, FileImages, ImageDataset, load_array_file  # noqa: F401
from .loader import BatchLoader  # noqa: F401
from .tables import TableDataset, read_csv  # noqa: F401
from .transforms import hflip, resize_uint8, save_grid, to_float, to_uint8  # noqa: F401

IMAGE_SETS = ("mnist", "digits")
NAMES = IMAGE_SETS + TABLES
PATH_KINDS = "a directory of images, a .zip of images, a .npy/.npz array or a .csv table"


def make_dataset(name_or_path: str, *, split: str = "train", resolution=None, channels: int | None = None,
                 on_error: str = "raise", label_column=None):
    """Build a data set from a built-in name or a path (see the module doc).

    Args:
        split: for ``mnist``: ``train`` | ``heldout`` | ``all``.
        resolution: resize images to this int or (h, w); ``None`` keeps their size.
        channels: for folders/zips, convert to 1 or 3 channels.
        on_error: ``raise`` on a bad file (the default) or ``skip`` it and count it.
        label_column: for CSV tables, the column that holds class labels.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"data must be a name or a path, got {type(name_or_path).__name__}")
    name = os.fspath(name_or_path)
    if name == "mnist":
        x, y = load_mnist_5k(split)
        return ArrayImages(x, y, name=f"mnist-5k/{split}", resolution=resolution)
    if name == "digits":
        x, y = load_digits(resolution)
        return ArrayImages(x, y, name="sklearn-digits")
    if name in TABLES:
        return TableDataset.builtin(name)
    if not os.path.exists(name):
        raise ValueError(f"unknown data {name!r}: use one of {', '.join(NAMES)} or the path of {PATH_KINDS}")
    lower = name.lower()
    if os.path.isdir(name) or lower.endswith(".zip"):
        return FileImages(name, resolution=resolution, channels=channels, on_error=on_error)
    if lower.endswith((".npy", ".npz")):
        x, y = load_array_file(name)
        return ArrayImages(x, y, name=os.path.basename(name), resolution=resolution)
    if lower.endswith(".csv"):
        return read_csv(name, label_column=label_column, on_error=on_error)
    raise ValueError(f"{name}: unsupported data file; give {PATH_KINDS}")
