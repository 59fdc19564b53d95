"""Two unaligned image domains for unpaired translation (CycleGAN): dict batches ``{"A", "B"}``.

Users' data follows the reference layout: a folder or a ``.zip`` holding ``trainA``,
``trainB``, ``testA`` and ``testB`` (see :func:`load_unaligned`), or any two image folders
or zips given directly.  The built-in ``digits`` pair (MNIST <-> MNIST-M, see
:mod:`fastgan.data.mnistm`) needs no download.

:class:`UnalignedLoader` draws each domain with its own :class:`~fastgan.data.BatchLoader`
(seeds ``2 * seed`` and ``2 * seed + 1``), so each domain is reshuffled every epoch on its
own and the A/B pairing changes from epoch to epoch, as in the reference code's random B
index; sharding under DDP and exact resume come from the two loaders.
"""
from __future__ import annotations

import os

import torch

from .images import ArrayImages, FileImages, ImageDataset
from .loader import BatchLoader
from .mnistm import MNISTM_SEED, digits_pair

__all__ = ["UnalignedData", "UnalignedLoader", "load_unaligned", "check_domains", "SPLIT_FOLDERS", "BUILTIN_PAIRS"]

SPLIT_FOLDERS = {"train": ("trainA", "trainB"), "test": ("testA", "testB")}
BUILTIN_PAIRS = ("digits",)


def check_domains(A: ImageDataset, B: ImageDataset, same_channels: bool = True) -> None:
    """Raise ValueError when a domain is empty or (``same_channels``) the channel counts differ."""
    for name, ds in (("A", A), ("B", B)):
        if len(ds) == 0:
            raise ValueError(f"domain {name} ({ds.name}) has no images")
    if same_channels and A.shape[0] != B.shape[0]:
        raise ValueError(f"domain A ({A.name}) has {A.shape[0]} channels and domain B ({B.name}) {B.shape[0]}; "
                         f"pass channels=1 or 3 to convert both")


def load_unaligned(root=None, split: str = "train", *, a=None, b=None, resolution=None, channels: int | None = None,
                   on_error: str = "raise", same_channels: bool = True) -> tuple[ImageDataset, ImageDataset]:
    """The two domains as image data sets ``(A, B)`` (uint8 ``[C, H, W]`` items).

    Args:
        root: ``"digits"`` (the built-in MNIST <-> MNIST-M pair; split ``train`` or ``test``),
            or a folder / ``.zip`` with ``trainA``, ``trainB``, ``testA``, ``testB`` inside.
        split: ``"train"`` or ``"test"``.
        a, b: instead of ``root``, two image folders or zips, one per domain.
        resolution, channels, on_error: as for :class:`~fastgan.data.FileImages`.
        same_channels: require both domains to have the same channel count (the identity loss needs it).
    """
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {tuple(SPLIT_FOLDERS)}, got {split!r}")
    if (root is None) == (a is None and b is None) or (root is None and (a is None or b is None)):
        raise ValueError("give either root (the reference layout or 'digits') or both a and b")
    opts = dict(resolution=resolution, channels=channels, on_error=on_error, use_labels=False)
    if root == "digits":
        (xa, ya), (xb, yb) = digits_pair("train" if split == "train" else "heldout", MNISTM_SEED)
        A = ArrayImages(xa, ya, name=f"mnist-5k/{split}", resolution=resolution)
        B = ArrayImages(xb, yb, name=f"mnist-m/{split}", resolution=resolution)
    elif root is not None:
        root = os.fspath(root)
        if not os.path.exists(root):
            raise ValueError(f"root {root!r} does not exist; give 'digits' or a folder/.zip with "
                             f"{', '.join(SPLIT_FOLDERS['train'] + SPLIT_FOLDERS['test'])}")
        fa, fb = SPLIT_FOLDERS[split]
        A, B = FileImages(root, folder=fa, **opts), FileImages(root, folder=fb, **opts)
    else:
        A, B = FileImages(os.fspath(a), **opts), FileImages(os.fspath(b), **opts)
    check_domains(A, B, same_channels)
    return A, B


class UnalignedData:
    """The two domains of a translation data set, for a family that owns its data.

    ``shape`` is domain A's ``(C, H, W)``; ``len`` is the larger domain's size (the
    reference code's epoch); ``labels`` of the built-in digits pair ride along for metrics."""

    def __init__(self, A: ImageDataset, B: ImageDataset, name: str = ""):
        self.A, self.B = A, B
        self.name = name or f"{A.name} <-> {B.name}"
        self.shape, self.num_classes = tuple(A.shape), 0

    def __len__(self) -> int:
        return max(len(self.A), len(self.B))

    def describe(self) -> str:
        return f"{self.name}: A {len(self.A)} images {'x'.join(map(str, self.A.shape))}, " \
               f"B {len(self.B)} images {'x'.join(map(str, self.B.shape))}"

    @classmethod
    def load(cls, root=None, split: str = "train", **kw) -> "UnalignedData":
        """:func:`load_unaligned` wrapped in one object."""
        A, B = load_unaligned(root, split, **kw)
        return cls(A, B, name=f"{os.path.basename(os.path.normpath(os.fspath(root)))}/{split}" if root else "")


class UnalignedLoader:
    """``next(loader) -> {"A": uint8 [b, C, H, W], "B": uint8 [b, C', H', W']}``, this rank's share.

    Args:
        A, B: image data sets (anything with ``len`` and ``get_batch``).
        batch, seed, rank, world, hflip: as for :class:`~fastgan.data.BatchLoader`, per domain.
    """

    def __init__(self, A, B, batch: int, *, seed: int = 0, rank: int = 0, world: int = 1, hflip: bool = False):
        self.loaders = {"A": BatchLoader(A, batch, seed=2 * int(seed), rank=rank, world=world, hflip=hflip),
                        "B": BatchLoader(B, batch, seed=2 * int(seed) + 1, rank=rank, world=world, hflip=hflip)}
        self.batch, self.local_batch = batch, self.loaders["A"].local_batch

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        return {k: next(loader)[0] for k, loader in self.loaders.items()}

    @property
    def images_seen(self) -> int:
        """Global A images drawn so far (B draws the same number)."""
        return self.loaders["A"].images_seen

    def state_dict(self) -> dict:
        return {k: loader.state_dict() for k, loader in self.loaders.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, loader in self.loaders.items():
            loader.load_state_dict(state[k])
