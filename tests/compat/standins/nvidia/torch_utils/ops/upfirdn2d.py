"""Stand-in for torch_utils.ops.upfirdn2d, plain PyTorch.

Documented semantics of upfirdn2d: upsample by inserting up-1 zeros after each sample, pad (negative
values crop), convolve with the FIR filter f (a true convolution; flip_filter=True correlates), scaled
so the overall gain is `gain` (a 1-D filter is applied along both axes), keep every down-th sample.
"""
import collections

import torch
import torch.nn.functional as F

from .. import custom_ops

CALLS = collections.Counter()
_plugin = None


def _init():
    global _plugin
    CALLS["_init"] += 1
    if _plugin is None:
        _plugin = custom_ops.get_plugin("upfirdn2d_plugin", sources=["upfirdn2d.cpp", "upfirdn2d.cu"])
    return True


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pads(p):
    p = [p, p] if isinstance(p, int) else list(p)
    return [p[0], p[0], p[1], p[1]] if len(p) == 2 else p


def _fsize(f):
    return (1, 1) if f is None else (int(f.shape[-1]), int(f.shape[0]))


def setup_filter(f, device=torch.device("cpu"), normalize=True, flip_filter=False, gain=1, separable=None):
    CALLS["setup_filter"] += 1
    t = torch.as_tensor(1 if f is None else f, dtype=torch.float32)
    t = t.reshape(1) if t.ndim == 0 else t
    if separable is None:
        separable = t.ndim == 1 and t.numel() >= 8
    if t.ndim == 1 and not separable:
        t = t[:, None] * t[None, :]
    if normalize:
        t /= t.sum()
    if flip_filter:
        t = torch.flip(t, list(range(t.ndim)))
    return (t * gain ** (t.ndim / 2)).to(device)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl="cuda"):
    CALLS["upfirdn2d"] += 1
    assert impl in ("ref", "cuda")
    if impl == "cuda" and x.device.type == "cuda" and _init():
        raise NotImplementedError("stand-in: no CUDA plugin")
    ux, uy = _pair(up)
    dx, dy = _pair(down)
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, h * uy, w * ux)
    z[:, :, ::uy, ::ux] = x
    z = F.pad(z, _pads(padding))  # negative entries crop
    f = torch.ones(1, 1, device=x.device) if f is None else f
    k = (f if f.ndim == 2 else torch.outer(f, f)).to(x.dtype) * gain
    if not flip_filter:
        k = torch.flip(k, [0, 1])
    y = F.conv2d(z, k.expand(c, 1, *k.shape).contiguous(), groups=c)
    return y[:, :, ::dy, ::dx]


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl="cuda"):
    CALLS["filter2d"] += 1
    fw, fh = _fsize(f)
    p = _pads(padding)
    p = [p[0] + fw // 2, p[1] + (fw - 1) // 2, p[2] + fh // 2, p[3] + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl="cuda"):
    CALLS["upsample2d"] += 1
    ux, uy = _pair(up)
    fw, fh = _fsize(f)
    p = _pads(padding)
    p = [p[0] + (fw + ux - 1) // 2, p[1] + (fw - ux) // 2, p[2] + (fh + uy - 1) // 2, p[3] + (fh - uy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * ux * uy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl="cuda"):
    CALLS["downsample2d"] += 1
    dx, dy = _pair(down)
    fw, fh = _fsize(f)
    p = _pads(padding)
    p = [p[0] + (fw - dx + 1) // 2, p[1] + (fw - dx) // 2, p[2] + (fh - dy + 1) // 2, p[3] + (fh - dy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)

