"""Image transforms: scale to [-1, 1] and back, resize, horizontal flip.

Images travel as uint8 ``[N, C, H, W]`` (or ``[C, H, W]``) tensors until a family
turns them into floats with :func:`to_float`; that keeps data sets small in memory
and makes every transform exact and deterministic.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

__all__ = ["to_float", "to_uint8", "resize_uint8", "hflip", "parse_size", "save_grid", "RESAMPLE"]

RESAMPLE = ("nearest", "bilinear", "bicubic", "lanczos")


def to_float(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 0..255 -> float in [-1, 1] (0 -> -1, 255 -> 1)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")
    return images.to(dtype) * (2.0 / 255.0) - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 0..255 (clamped, rounded to nearest)."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError("images must be a floating-point torch.Tensor")
    return ((images.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def parse_size(size, name: str = "size") -> tuple[int, int] | None:
    """``None``, an int ``s`` (-> ``(s, s)``) or ``(height, width)``; validated."""
    if size is None:
        return None
    hw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(hw) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in hw):
        raise ValueError(f"{name} must be a positive int or (height, width), got {size!r}")
    return int(hw[0]), int(hw[1])


def resize_uint8(images: np.ndarray, size, resample: str = "bilinear") -> np.ndarray:
    """Resize uint8 images ``[N, H, W]`` or ``[N, H, W, C]`` with PIL (antialiased)."""
    hw = parse_size(size)
    if resample not in RESAMPLE:
        raise ValueError(f"resample must be one of {RESAMPLE}, got {resample!r}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"images must be uint8 [N,H,W] or [N,H,W,C], got {images.dtype} {images.shape}")
    if images.shape[1:3] == hw:
        return images.copy()
    filt = getattr(Image.Resampling, resample.upper())
    out = np.empty((len(images), *hw, *images.shape[3:]), dtype=np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img)
        out[i] = np.asarray(pil.resize((hw[1], hw[0]), filt)).reshape(out.shape[1:])
    return out


def hflip(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images ``[N, C, H, W]`` whose ``mask`` entry (bool ``[N]``) is true."""
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
    if mask.shape != images.shape[:1] or mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool [{images.shape[0]}], got {mask.dtype} {tuple(mask.shape)}")
    return torch.where(mask[:, None, None, None], images.flip(-1), images)


def save_grid(images: torch.Tensor, path: str, nrow: int | None = None, pad: int = 2) -> str:
    """Save float images ``[N, C, H, W]`` in [-1, 1] (C = 1 or 3) as one PNG grid."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, 1|3, H, W], got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = torch.zeros(c, pad + ncol * (h + pad), pad + nrow * (w + pad), dtype=torch.uint8)
    u8 = to_uint8(images.cpu())
    for i in range(n):
        y, x = pad + (i // nrow) * (h + pad), pad + (i % nrow) * (w + pad)
        grid[:, y:y + h, x:x + w] = u8[i]
    arr = grid[0].numpy() if c == 1 else grid.permute(1, 2, 0).numpy()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.png"
    Image.fromarray(arr).save(tmp)
    os.replace(tmp, path)
    return path
