"""Low/high-resolution pairs for super-resolution (SRGAN): dict batches ``{"lr", "hr"}``.

High-resolution images come from a folder or ``.zip`` (any sizes: :class:`HRImages`), from
arrays, or from the built-in demos; the low-resolution input is the HR image downscaled
by ``scale`` with PIL's bicubic filter, which is antialiased (its support widens with the
scale, like MATLAB's ``imresize``).  Training draws random HR crops of ``crop`` pixels
(a multiple of ``scale``) and downscales each crop.

Built-in demos (no download):

* ``photos``: the two colour photographs scikit-learn ships (china.jpg for training,
  flower.jpg held out as a whole image);
* ``mnist``: MNIST-5k digits, x4 means 7x7 -> 28x28 (train / held-out split of MNIST-5k).

:class:`SRLoader` picks images with a :class:`~fastgan.data.BatchLoader` (shuffled epochs,
DDP shards, resumable) and draws the crop corners and flips of global batch ``k`` from a
generator seeded with ``(seed, k)``, so a resume from the loader's state gives the same crops.
"""
from __future__ import annotations

import io
import os

import numpy as np
import torch
from PIL import Image

from .embedded import load_mnist_5k
from .images import IMAGE_EXTENSIONS, image_source
from .loader import BatchLoader
from .mnistm import sample_photos

__all__ = ["bicubic_downscale", "HRImages", "SRLoader", "sr_demo", "SR_DEMOS", "check_scale"]

SR_DEMOS = ("photos", "mnist")


def check_scale(scale) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an int >= 1, got {scale!r}")
    return int(scale)


def bicubic_downscale(images: torch.Tensor, scale: int, source: str = "images") -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` (or ``[C, H, W]``) -> uint8 ``[N, C, H/scale, W/scale]``, PIL bicubic (antialiased).

    H and W must be multiples of ``scale``."""
    scale = check_scale(scale)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError(f"{source} must be a uint8 torch.Tensor")
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{source} must be [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if h % scale or w % scale:
        raise ValueError(f"{source}: size {h}x{w} is not a multiple of the scale {scale}")
    out = np.empty((n, h // scale, w // scale, c), dtype=np.uint8)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        pil = Image.fromarray(img[..., 0] if c == 1 else img)
        out[i] = np.asarray(pil.resize((w // scale, h // scale), Image.Resampling.BICUBIC)).reshape(out.shape[1:])
    lr = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return lr[0] if single else lr


class HRImages:
    """High-resolution images of any sizes, kept decoded in memory as uint8 ``[C, H, W]``.

    Args:
        images: a folder or ``.zip`` of images, or a list of uint8 arrays ``[H, W, C]`` / ``[H, W]``.
        channels: 3 (RGB) or 1 (grey); files are converted.
        min_size: every image must be at least this high and wide (the training crop); the
            error names the file that is smaller.
        names: names of in-memory images for messages.
    """

    def __init__(self, images, *, channels: int = 3, min_size: int = 1, names=None):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.channels, self.images, self.names, self.min_size = channels, [], [], int(min_size)
        self.num_classes = 0
        if isinstance(images, (str, os.PathLike)):
            path = os.fspath(images)
            if not os.path.exists(path):
                raise ValueError(f"{path}: no such folder or zip of images")
            src = image_source(path)
            files = [f for f in src.list() if f.lower().endswith(IMAGE_EXTENSIONS)]
            if not files:
                raise ValueError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
            for rel in files:
                try:
                    with Image.open(io.BytesIO(src.read(rel))) as im:
                        arr = np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
                except Exception as e:  # noqa: BLE001 - PIL raises many kinds; reported with the file name
                    raise ValueError(f"{src.where(rel)}: unreadable image ({type(e).__name__}: {e})") from e
                self._add(arr, src.where(rel), min_size)
            self.name = os.path.basename(os.path.normpath(path))
        else:
            images = list(images)
            if not images:
                raise ValueError("images: empty list")
            names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
            for arr, nm in zip(images, names):
                arr = np.asarray(arr)
                if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
                    raise ValueError(f"{nm}: must be a uint8 [H, W] or [H, W, C] array, got {arr.dtype} {arr.shape}")
                arr = arr[..., None] if arr.ndim == 2 else arr
                if arr.shape[2] != channels:
                    raise ValueError(f"{nm}: has {arr.shape[2]} channels, expected {channels}")
                self._add(arr, nm, min_size)
            self.name = "arrays"

    def _add(self, arr, name, min_size):
        arr = arr[..., None] if arr.ndim == 2 else arr
        if arr.shape[0] < min_size or arr.shape[1] < min_size:
            raise ValueError(f"{name}: {arr.shape[0]}x{arr.shape[1]} is smaller than the crop {min_size}x{min_size}")
        self.images.append(torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C", copy=True)))
        self.names.append(name)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of a training item: ``(channels, min_size, min_size)``, the HR crop."""
        return self.channels, self.min_size, self.min_size

    def describe(self) -> str:
        sides = [min(t.shape[1:]) for t in self.images]
        return f"{self.name}: {len(self)} HR images, {self.channels} channels, shortest side {min(sides)}..{max(sides)}"

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]

    def get_batch(self, indices):   # for BatchLoader: the indices themselves are the data
        return indices.clone(), torch.full((len(indices),), -1, dtype=torch.int64)


class SRLoader:
    """``next(loader) -> {"lr": uint8 [b, C, crop/scale, crop/scale], "hr": uint8 [b, C, crop, crop]}``.

    Args:
        images: :class:`HRImages` (every image at least ``crop`` on each side).
        batch, seed, rank, world: as for :class:`~fastgan.data.BatchLoader` (``batch`` is global).
        crop: HR crop side, a multiple of ``scale``.
        scale: downscaling factor.
        hflip: mirror crops at random.
    """

    def __init__(self, images: HRImages, batch: int, *, crop: int, scale: int, seed: int = 0, rank: int = 0,
                 world: int = 1, hflip: bool = False):
        self.scale = check_scale(scale)
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < scale or crop % scale:
            raise ValueError(f"crop must be a positive multiple of the scale {scale}, got {crop!r}")
        for img, name in zip(images.images, images.names):
            if img.shape[1] < crop or img.shape[2] < crop:
                raise ValueError(f"{name}: {img.shape[1]}x{img.shape[2]} is smaller than the crop {crop}x{crop}")
        self.images, self.crop, self.hflip, self.seed = images, crop, bool(hflip), int(seed)
        self.index = BatchLoader(images, batch, seed=seed, rank=rank, world=world)
        self.batch, self.local_batch = batch, self.index.local_batch

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        k = self.index.images_seen // self.batch       # global batch number
        lo = self.index.rank * self.local_batch
        idx, _ = next(self.index)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        corners = torch.rand(self.batch, 2, generator=g, dtype=torch.float64)[lo:lo + len(idx)]
        flips = (torch.rand(self.batch, generator=g) < 0.5)[lo:lo + len(idx)]
        hr = []
        for i, (u, v), f in zip(idx.tolist(), corners.tolist(), flips.tolist()):
            img = self.images[i]
            y = int(u * (img.shape[1] - self.crop + 1))
            x = int(v * (img.shape[2] - self.crop + 1))
            patch = img[:, y:y + self.crop, x:x + self.crop]
            hr.append(patch.flip(-1) if self.hflip and f else patch)
        hr = torch.stack(hr)
        return {"lr": bicubic_downscale(hr, self.scale), "hr": hr}

    @property
    def images_seen(self) -> int:
        return self.index.images_seen

    def state_dict(self) -> dict:
        return self.index.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.index.load_state_dict(state)


def sr_demo(name: str, split: str = "train", *, min_size: int = 1) -> HRImages:
    """A built-in HR set: ``photos`` (train: china.jpg; heldout: flower.jpg) or ``mnist`` (MNIST-5k)."""
    if name not in SR_DEMOS:
        raise ValueError(f"demo must be one of {SR_DEMOS}, got {name!r}")
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    if name == "photos":
        i = 0 if split == "train" else 1
        ds = HRImages([sample_photos()[i]], channels=3, min_size=min_size,
                      names=[("sklearn china.jpg", "sklearn flower.jpg")[i]])
    else:
        x, _ = load_mnist_5k(split)
        ds = HRImages(list(x), channels=1, min_size=min_size, names=[f"mnist-5k/{split}[{i}]" for i in range(len(x))])
    ds.name = f"{name}/{split}"
    return ds
