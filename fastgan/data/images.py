"""Image data sets: in-memory arrays, image folders and zip archives.

Every data set here yields uint8 images ``[C, H, W]`` and int64 labels (``-1`` when
the data has no labels) and offers ``get_batch(indices)`` for the loader.

Folders and zip archives follow the StyleGAN convention: every image file
(``.png .jpg .jpeg .bmp .gif .tif .tiff .webp``) anywhere inside, in sorted
path order, with an optional ``dataset.json`` at the top holding
``{"labels": [["relative/path.png", 3], ...]}`` (or ``"labels": null``).

Bad files (unreadable, a different size or channel count than the first image,
no label while others have one) raise ``ValueError`` naming the file; with
``on_error="skip"`` they are left out and listed in ``skipped`` instead.
Non-square images are fine; ``resolution=(h, w)`` resizes every image.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import torch

from .transforms import parse_size, resize_uint8

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ON_ERROR = ("raise", "skip")

__all__ = ["ImageDataset", "ArrayImages", "FileImages", "load_array_file", "image_source", "IMAGE_EXTENSIONS"]


class ImageDataset:
    """Base: ``len(ds)``, ``ds[i] -> (uint8 [C,H,W], label)``, ``get_batch(idx)``."""

    name: str = "images"
    shape: tuple[int, int, int]       # (C, H, W)
    num_classes: int = 0              # 0 = unlabeled
    skipped: list                     # [(file, reason)] left out with on_error="skip"

    def __len__(self) -> int:
        raise NotImplementedError

    def get_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __getitem__(self, i: int):
        img, lab = self.get_batch(torch.tensor([int(i)]))
        return img[0], int(lab[0])

    @property
    def resolution(self) -> tuple[int, int]:
        return self.shape[1], self.shape[2]

    def describe(self) -> str:
        c, h, w = self.shape
        lab = f"{self.num_classes} classes" if self.num_classes else "unlabeled"
        skip = f", {len(self.skipped)} files skipped" if self.skipped else ""
        return f"{self.name}: {len(self)} images {c}x{h}x{w}, {lab}{skip}"


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")


def _to_nchw_uint8(images: np.ndarray, source: str) -> np.ndarray:
    """Accept [N,H,W], [N,H,W,C] or [N,C,H,W] (C = 1 or 3) as uint8 or floats in [0,1] / [-1,1]."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4:
        last, second = a.shape[-1] in (1, 3), a.shape[1] in (1, 3)
        if last == second:
            raise ValueError(f"{source}: cannot tell the channel axis (1 or 3 channels) of shape {a.shape}; "
                             f"use [N,H,W,C] or [N,C,H,W]")
        if last:
            a = a.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"{source}: images must be [N,H,W] or [N,H,W,C] or [N,C,H,W], got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{source}: no images")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{source}: images must be uint8 or float, got {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{source}: images contain NaN or inf")
    lo, hi = a.min(), a.max()
    if np.issubdtype(np.asarray(images).dtype, np.integer):
        if lo < 0 or hi > 255:
            raise ValueError(f"{source}: integer images must be within 0..255, got {lo}..{hi}")
    elif lo >= 0 and hi <= 1:
        a = a * 255.0
    elif lo >= -1 and hi <= 1:
        a = (a + 1.0) * 127.5
    else:
        raise ValueError(f"{source}: float images must be within [0, 1] or [-1, 1], got {lo:.3g}..{hi:.3g}")
    return np.ascontiguousarray(np.rint(a).astype(np.uint8))


class ArrayImages(ImageDataset):
    """Images held in memory as one uint8 tensor ``[N, C, H, W]``."""

    def __init__(self, images, labels=None, *, name: str = "array", resolution=None,
                 resample: str = "bilinear"):
        a = _to_nchw_uint8(images, name)
        hw = parse_size(resolution, "resolution")
        if hw is not None and a.shape[2:] != hw:
            a = resize_uint8(a.transpose(0, 2, 3, 1), hw, resample).transpose(0, 3, 1, 2)
        self.images = torch.from_numpy(np.ascontiguousarray(a))
        if labels is None:
            self.labels = torch.full((len(a),), -1, dtype=torch.int64)
        else:
            lab = np.asarray(labels)
            if lab.shape != (len(a),) or not np.issubdtype(lab.dtype, np.integer):
                raise ValueError(f"{name}: labels must be integers of shape ({len(a)},), got {lab.dtype} {lab.shape}")
            if lab.min() < 0:
                raise ValueError(f"{name}: labels must be >= 0")
            self.labels = torch.from_numpy(lab.astype(np.int64))
        self.num_classes = int(self.labels.max()) + 1 if labels is not None else 0
        self.shape = tuple(self.images.shape[1:])
        self.name = name
        self.skipped = []

    def __len__(self) -> int:
        return self.images.shape[0]

    def get_batch(self, indices):
        return self.images[indices], self.labels[indices]


def load_array_file(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``.npy`` (images only) or ``.npz`` (``images``/``x`` and optional ``labels``/``y``)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable numpy file ({e})") from e
    if isinstance(data, np.ndarray):
        return data, None
    with data:
        keys = set(data.files)
        img_key = next((k for k in ("images", "x", "X") if k in keys), None)
        if img_key is None:
            raise ValueError(f"{path}: .npz needs an 'images' (or 'x') array; it has {sorted(keys)}")
        lab_key = next((k for k in ("labels", "y") if k in keys), None)
        return data[img_key], (data[lab_key] if lab_key else None)


class _Folder:
    def __init__(self, root):
        self.root = root

    def list(self):
        out = []
        for d, _, files in os.walk(self.root):
            out += [os.path.relpath(os.path.join(d, f), self.root).replace(os.sep, "/") for f in files]
        return sorted(out)

    def read(self, rel):
        with open(os.path.join(self.root, rel), "rb") as f:
            return f.read()

    def where(self, rel):
        return os.path.join(self.root, rel)


class _Zip:
    def __init__(self, path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise ValueError(f"{path}: not a readable zip archive ({e})") from e

    def list(self):
        return sorted(n for n in self.zf.namelist() if not n.endswith("/"))

    def read(self, rel):
        return self.zf.read(rel)

    def where(self, rel):
        return f"{self.path}:{rel}"


class _Sub:
    """The files under one folder of a source (a directory or a zip), named relative to it."""

    def __init__(self, src, folder):
        self.src, self.prefix = src, folder.strip("/") + "/"

    def list(self):
        n = len(self.prefix)
        return [name[n:] for name in self.src.list() if name.startswith(self.prefix)]

    def read(self, rel):
        return self.src.read(self.prefix + rel)

    def where(self, rel):
        return self.src.where(self.prefix + rel)


def image_source(path: str, folder: str | None = None):
    """The files of a directory or ``.zip`` (optionally under ``folder``): an object with
    ``list()`` (sorted relative names), ``read(name) -> bytes`` and ``where(name)`` (for messages)."""
    src = _Zip(path) if os.path.isfile(path) else _Folder(path)
    return _Sub(src, folder) if folder else src


class FileImages(ImageDataset):
    """Images in a folder or a zip archive, decoded on access (headers checked up front).

    Args:
        path: a directory or a ``.zip`` file.
        resolution: ``None`` (all images must share the first one's size) or ``(h, w)``/int to resize.
        channels: ``None`` (all images must share the first one's channel count), 1 or 3 to convert.
        on_error: ``"raise"`` (default) or ``"skip"`` bad files, listed in ``skipped``.
        use_labels: read ``dataset.json`` labels when present.
        folder: only the images under this folder of the directory or archive (e.g. ``"trainA"``).
    """

    def __init__(self, path: str, *, resolution=None, channels: int | None = None,
                 on_error: str = "raise", use_labels: bool = True, resample: str = "bilinear",
                 folder: str | None = None):
        from PIL import Image  # only for image folders

        _check_on_error(on_error)
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be None, 1 or 3, got {channels!r}")
        self._src = image_source(path, folder)
        self.name, self._resample = os.path.basename(os.path.normpath(path)), resample
        if folder:
            self.name, path = f"{self.name}/{folder}", f"{path}/{folder}"
        names = self._src.list()
        labels = self._read_labels(names) if use_labels else None
        files = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
        if not files:
            raise ValueError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
        self.skipped, self.files, keep_labels = [], [], []
        hw, mode = parse_size(resolution, "resolution"), {1: "L", 3: "RGB"}.get(channels)
        for rel in files:
            try:
                with Image.open(io.BytesIO(self._src.read(rel))) as im:
                    size, m = (im.height, im.width), ("L" if im.mode in ("L", "1", "I;16", "I", "F") else "RGB")
                    im.verify()  # reads the whole file: truncated/corrupt data is caught here, not mid-training
                hw = hw or size
                mode = mode or m
                if size != hw and resolution is None:
                    raise ValueError(f"size {size[0]}x{size[1]} differs from the first image's {hw[0]}x{hw[1]} "
                                     f"(pass a resolution to resize)")
                if m != mode and channels is None:
                    raise ValueError(f"mode {m} differs from the first image's {mode} (pass channels=1 or 3)")
                if labels is not None and rel not in labels:
                    raise ValueError("no label in dataset.json")
            except Exception as e:  # noqa: BLE001 - PIL raises many kinds; reported with the file name
                reason = str(e) if isinstance(e, ValueError) else f"unreadable image ({type(e).__name__}: {e})"
                if on_error == "raise":
                    raise ValueError(f"{self._src.where(rel)}: {reason}") from e
                self.skipped.append((self._src.where(rel), reason))
                continue
            self.files.append(rel)
            keep_labels.append(labels[rel] if labels is not None else -1)
        if not self.files:
            raise ValueError(f"{path}: every image file was skipped ({len(self.skipped)} bad files)")
        self._mode, self.shape = mode, ((1 if mode == "L" else 3), *hw)
        self.labels = torch.tensor(keep_labels, dtype=torch.int64)
        self.num_classes = int(self.labels.max()) + 1 if labels is not None else 0

    def _read_labels(self, names):
        if "dataset.json" not in names:
            return None
        where = self._src.where("dataset.json")
        try:
            meta = json.loads(self._src.read("dataset.json"))
        except ValueError as e:
            raise ValueError(f"{where}: not valid JSON ({e})") from e
        entries = meta.get("labels") if isinstance(meta, dict) else None
        if entries is None:
            return None
        out = {}
        for item in entries:
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str)
                    or isinstance(item[1], bool) or not isinstance(item[1], int) or item[1] < 0):
                raise ValueError(f"{where}: each label must be [\"file\", class >= 0], got {item!r}")
            out[item[0]] = item[1]
        return out

    def __len__(self) -> int:
        return len(self.files)

    def _decode(self, rel) -> np.ndarray:
        from PIL import Image  # only for image folders

        try:
            with Image.open(io.BytesIO(self._src.read(rel))) as im:
                im = im.convert(self._mode)
                if (im.height, im.width) != self.shape[1:]:
                    filt = getattr(Image.Resampling, self._resample.upper())
                    im = im.resize((self.shape[2], self.shape[1]), filt)
                a = np.asarray(im, dtype=np.uint8)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"{self._src.where(rel)}: unreadable image ({type(e).__name__}: {e})") from e
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)

    def get_batch(self, indices):
        idx = [int(i) for i in indices]
        imgs = np.stack([self._decode(self.files[i]) for i in idx])
        return torch.from_numpy(imgs), self.labels[idx]
