"""MNIST-M-style digits, built offline: MNIST digits blended over colour photo patches.

The construction of Ganin et al. 2015 ("Unsupervised Domain Adaptation by
Backpropagation", section 5): each output pixel is ``|patch - digit|`` per colour
channel, where ``patch`` is a random 28x28 crop of a colour photograph and ``digit``
the MNIST image (0 = background, 255 = ink).  Where the digit is fully on, the output is
the inverted patch colour; where it is off, the patch itself.  Ganin et al. cut the
patches from BSDS500; here they come from the two photographs scikit-learn ships
(``sklearn.datasets.load_sample_images``: china.jpg and flower.jpg, 427x640), so
nothing is downloaded.

The draws use ``numpy.random.RandomState(seed)`` (the legacy generator, whose stream
numpy keeps stable), so a seed gives the same images on every machine.

:func:`digits_pair` is the CycleGAN demo pair: domain A is MNIST (grey replicated to
three channels, so the identity loss applies), domain B is MNIST-M.  On the train split
the two domains come from disjoint halves of MNIST-5k's train split (even and odd
positions), so no B image is a blended copy of an A image.
"""
from __future__ import annotations

import functools

import numpy as np

from .embedded import load_mnist_5k
from .transforms import parse_size

MNISTM_SEED = 2015
__all__ = ["sample_photos", "random_patches", "blend_digits", "make_mnistm", "digits_pair", "MNISTM_SEED"]


@functools.lru_cache(maxsize=1)
def sample_photos() -> tuple[np.ndarray, ...]:
    """scikit-learn's bundled colour photographs as read-only uint8 arrays [H, W, 3]."""
    from sklearn.datasets import load_sample_images  # scikit-learn is slow to import; only the demo needs it

    photos = tuple(np.ascontiguousarray(img, dtype=np.uint8) for img in load_sample_images().images)
    for p in photos:
        p.setflags(write=False)
    return photos


def random_patches(n: int, size=28, seed: int = MNISTM_SEED, photos=None) -> np.ndarray:
    """``n`` random crops of ``size`` (int or (h, w)), uint8 [n, h, w, 3]: photo and corner uniform."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    ph, pw = parse_size(size, "size")
    photos = sample_photos() if photos is None else photos
    for i, p in enumerate(photos):
        if p.ndim != 3 or p.shape[2] != 3 or p.dtype != np.uint8:
            raise ValueError(f"photos[{i}] must be uint8 [H, W, 3], got {p.dtype} {p.shape}")
        if p.shape[0] < ph or p.shape[1] < pw:
            raise ValueError(f"photos[{i}] ({p.shape[0]}x{p.shape[1]}) is smaller than the patch size {ph}x{pw}")
    rs = np.random.RandomState(seed)
    which = rs.randint(len(photos), size=n)
    out = np.empty((n, ph, pw, 3), dtype=np.uint8)
    for k, w in enumerate(which):
        h, wd = photos[w].shape[:2]
        y, x = rs.randint(h - ph + 1), rs.randint(wd - pw + 1)
        out[k] = photos[w][y:y + ph, x:x + pw]
    return out


def blend_digits(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """``|patch - digit|`` per channel: uint8 digits [N, H, W] and patches [N, H, W, 3] -> uint8 [N, 3, H, W]."""
    digits, patches = np.asarray(digits), np.asarray(patches)
    if digits.dtype != np.uint8 or digits.ndim != 3:
        raise ValueError(f"digits must be uint8 [N, H, W], got {digits.dtype} {digits.shape}")
    if patches.dtype != np.uint8 or patches.shape != (*digits.shape, 3):
        raise ValueError(f"patches must be uint8 {(*digits.shape, 3)}, got {patches.dtype} {patches.shape}")
    out = np.abs(patches.astype(np.int16) - digits[..., None].astype(np.int16)).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def make_mnistm(digits: np.ndarray, seed: int = MNISTM_SEED) -> np.ndarray:
    """MNIST-M images uint8 [N, 3, H, W] from uint8 digits [N, H, W]; the same seed gives the same patches."""
    digits = np.asarray(digits)
    if digits.ndim != 3:
        raise ValueError(f"digits must be uint8 [N, H, W], got shape {digits.shape}")
    return blend_digits(digits, random_patches(len(digits), digits.shape[1:], seed))


def digits_pair(split: str = "train", seed: int = MNISTM_SEED):
    """The CycleGAN demo: ``((A, labels_A), (B, labels_B))`` with A = MNIST as uint8 [N, 3, 28, 28]
    (grey in all three channels) and B = MNIST-M uint8 [M, 3, 28, 28].

    ``split="train"``: A from the even, B from the odd positions of MNIST-5k's train split
    (2,250 each).  ``split="heldout"``: both from the 500 held-out digits (B is the blended
    version of A, image for image), for measuring translations against true labels."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    images, labels = load_mnist_5k(split)
    if split == "train":
        a_img, a_lab, b_img, b_lab = images[0::2], labels[0::2], images[1::2], labels[1::2]
    else:
        a_img, a_lab, b_img, b_lab = images, labels, images, labels
        seed = seed + 1   # other patches than the train split's
    a = np.ascontiguousarray(np.repeat(a_img[:, None], 3, axis=1))
    return (a, a_lab.copy()), (make_mnistm(b_img, seed), b_lab.copy())
