"""Helpers every op module shares: argument checks and dense layouts (the native call
conventions are in _op.py)."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def check_tensor(t, name: str, *, ndim: Optional[Sequence[int]] = None, min_ndim: Optional[int] = None,
                 floating: bool = True) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if floating and t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {t.dtype}")
    if ndim is not None and t.dim() not in tuple(ndim):
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {tuple(t.shape)}")
    if min_ndim is not None and t.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(t.shape)}")


def check_same(t, ref, name: str, ref_name: str) -> None:
    if t.device != ref.device:
        raise ValueError(f"{name} is on {t.device} but {ref_name} is on {ref.device}")
    if t.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {t.dtype} but {ref_name} has dtype {ref.dtype}")


def check_number(v, name: str, *, positive=False, nonneg=False, allow_none=False) -> Optional[float]:
    if v is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a number, got None")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        else:
            raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if nonneg and v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def check_dim(dim, ndim: int, name: str = "dim") -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{name}={dim} is out of range for a tensor with {ndim} dimensions")
    return dim % ndim


def dense(x: torch.Tensor) -> torch.Tensor:
    """x itself if it is contiguous or channels_last(_3d) dense, else a contiguous copy."""
    if x.is_contiguous():
        return x
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x
    if x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d):
        return x
    return x.contiguous()


def like_layout(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """t with the same dense layout as x (x must come from `dense`)."""
    if t.stride() == x.stride():
        return t
    if x.is_contiguous():
        return t.contiguous()
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    return t.contiguous(memory_format=fmt)


def outer_c_inner(x: torch.Tensor, dim: int):
    """For a dense x, memory is [outer][C][inner] with C = x.shape[dim]."""
    n = x.numel()
    c = x.shape[dim]
    if c <= 1:
        return 1, 1, n
    inner = x.stride(dim)
    return n // (c * inner), c, inner
