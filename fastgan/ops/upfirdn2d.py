"""upfirdn2d: upsample, pad, FIR-filter and downsample a batch of images in one pass.

Same argument names and semantics as StyleGAN2-ADA's `upfirdn2d`, so it can be swapped in.
For an input x of shape [N, C, H, W], in order:

1. upsample by inserting up-1 zeros after every sample (`up` = int or (ux, uy));
2. pad by (x0, x1, y0, y1) (`padding` = int, (px, py) or (x0, x1, y0, y1)); negative values crop;
3. convolve with the FIR filter f: 2-D [fh, fw], or 1-D [k] applied along both axes
   (separable). The filter is scaled by `gain` (a 1-D filter by sqrt(gain) per axis) and, with
   flip_filter=False, flipped, i.e. a true convolution rather than a correlation;
4. keep every down-th sample (`down` = int or (dx, dy)).

The output is [N, C, (H*uy + y0 + y1 - fh) // dy + 1, (W*ux + x0 + x1 - fw) // dx + 1].

The gradient with respect to x is upfirdn2d again, with up and down swapped, the filter flipped
and the padding recomputed; it is the same registered op `fastgan::upfirdn2d`, so derivatives of
any order work. The filter is a constant: it receives no gradient (use impl='ref' to learn it).
"""
from __future__ import annotations

from typing import List, Optional

import torch

from . import reference
from ._backend import resolve
from ._common import check_number, check_tensor, dense
from ._op import Kernel, fused_op

parse_scaling = reference.parse_scaling
parse_padding = reference.parse_padding


# ------------------------------------------------------------------ helpers (StyleGAN2 conventions)
def setup_filter(f, device=torch.device("cpu"), normalize: bool = True, flip_filter: bool = False, gain: float = 1,
                 separable: Optional[bool] = None) -> torch.Tensor:
    """A float32 filter tensor for upfirdn2d from a list/array/tensor (None -> [1]).

    normalize divides by the sum; gain multiplies (by gain ** (ndim / 2) for the returned ndim,
    so the overall scale is gain either way). A 1-D filter stays 1-D (separable) when
    `separable` is True, or by default when it has >= 8 taps; otherwise it becomes the 2-D
    outer product, as in StyleGAN2.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.dim() == 0:
        f = f[None]
    if f.dim() not in (1, 2) or f.numel() == 0:
        raise ValueError(f"f must be a 1-D or 2-D filter, got shape {tuple(f.shape)}")
    if separable is None:
        separable = f.dim() == 1 and f.numel() >= 8
    if f.dim() == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.dim())))
    f = f * (gain ** (f.dim() / 2))
    return f.to(device=device)


def _filter_size(f):
    return reference.filter_size(f)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl=None):
    """Filter x with f keeping its size: the padding is centred, (fw//2, (fw-1)//2, fh//2, (fh-1)//2),
    added to `padding`."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = _filter_size(f)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Upsample by `up` (zero insertion) and filter with f: output size H*up x W*up.

    Padding (fw+ux-1)//2 before and (fw-ux)//2 after (likewise in y) is added to `padding`, and the
    gain is multiplied by ux*uy, which keeps the signal's magnitude (the zeros take up the rest).
    """
    ux, uy = parse_scaling(up, "up")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = _filter_size(f)
    p = [px0 + (fw + ux - 1) // 2, px1 + (fw - ux) // 2, py0 + (fh + uy - 1) // 2, py1 + (fh - uy) // 2]
    return upfirdn2d(x, f, up=(ux, uy), padding=p, flip_filter=flip_filter, gain=gain * ux * uy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Filter with f and keep every down-th sample: output size H/down x W/down.

    Padding (fw-dx+1)//2 before and (fw-dx)//2 after (likewise in y) is added to `padding`; the gain
    is unchanged (a normalised filter averages).
    """
    dx, dy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = _filter_size(f)
    p = [px0 + (fw - dx + 1) // 2, px1 + (fw - dx) // 2, py0 + (fh - dy + 1) // 2, py1 + (fh - dy) // 2]
    return upfirdn2d(x, f, down=(dx, dy), padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


# ------------------------------------------------------------------ kernels
_SIZES = ("n: int, c: int, h: int, w: int, oh: int, ow: int, xs: Strides4, ys: Strides4, ux: int, uy: int, dx: int, "
          "dy: int, px0: int, py0: int, fw: int, fh: int")
# The C++ kernel takes the two 1-D filters of a separable filter (and factors a 2-D one itself);
# the CUDA and Triton kernels take 2-D correlation taps.
_CPU = Kernel("upfirdn2d", "x: Tensor, y: Tensor, taps: Acc, separable: bool, " + _SIZES, backends=("cpu",))
_GPU = Kernel("upfirdn2d", "x: Tensor, y: Tensor, taps: Acc, " + _SIZES, backends=("cuda",),
              triton="upfirdn2d.upfirdn2d")


def out_size(h, w, f_shape, up, down, padding):
    fw, fh = f_shape[-1], f_shape[0]
    (ux, uy), (dx, dy), (px0, px1, py0, py1) = up, down, padding
    return (h * uy + py0 + py1 - fh) // dy + 1, (w * ux + px0 + px1 - fw) // dx + 1


def _taps(f, flip_filter, gain, dtype):
    """Correlation taps for the kernels: the filter flipped (unless flip_filter) and scaled."""
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    w = f.detach().to(acc) * (gain ** (f.dim() / 2))
    if not flip_filter:
        w = w.flip(list(range(f.dim())))
    return w.contiguous()


def _out_like(x, shape):
    fmt = torch.contiguous_format if x.is_contiguous() else torch.channels_last
    return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)


def _run(x: torch.Tensor, f: torch.Tensor, up: List[int], down: List[int], padding: List[int], flip_filter: bool,
         gain: float, backend: str) -> torch.Tensor:
    x = dense(x)
    n, c, h, w = x.shape
    oh, ow = out_size(h, w, f.shape, up, down, padding)
    y = _out_like(x, (n, c, oh, ow))
    if y.numel() == 0:
        return y
    taps = _taps(f, flip_filter, gain, x.dtype)
    (ux, uy), (dx, dy), (px0, _, py0, _) = up, down, padding
    sizes = (n, c, h, w, oh, ow, x.stride(), y.stride(), ux, uy, dx, dy, px0, py0, *_filter_size(f))
    if backend == "cpu":
        sep = f.dim() == 1
        _CPU(backend, x, y, torch.cat([taps, taps]) if sep else taps, sep, *sizes)
    else:
        _GPU(backend, x, y, torch.outer(taps, taps) if f.dim() == 1 else taps, *sizes)
    return y


def _fake(x, f, up, down, padding, flip_filter, gain, backend):
    x = dense(x)
    oh, ow = out_size(x.shape[2], x.shape[3], f.shape, up, down, padding)
    return _out_like(x, (x.shape[0], x.shape[1], oh, ow))


def grad_padding(in_hw, out_hw, f_shape, up, down, padding):
    """Padding of the transposed upfirdn2d that maps the output gradient back onto the input."""
    (h, w), (oh, ow) = in_hw, out_hw
    fw, fh = f_shape[-1], f_shape[0]
    (ux, uy), (dx, dy), (px0, _, py0, _) = up, down, padding
    return [fw - 1 - px0, w * ux - ow * dx + px0 - ux + 1, fh - 1 - py0, h * uy - oh * dy + py0 - uy + 1]


def _setup(ctx, inputs, output):
    x, f, up, down, padding, flip_filter, gain, backend = inputs
    ctx.save_for_backward(f)
    ctx.args = (tuple(x.shape[2:]), tuple(output.shape[2:]), list(up), list(down), list(padding), flip_filter, gain,
                backend)


def _backward(ctx, dy):
    (f,) = ctx.saved_tensors
    in_hw, out_hw, up, down, padding, flip_filter, gain, backend = ctx.args
    p = grad_padding(in_hw, out_hw, f.shape, up, down, padding)
    dx = _upfirdn2d[backend](dy, f, down, up, p, not flip_filter, gain, backend)
    return dx, None, None, None, None, None, None, None


_upfirdn2d = fused_op("upfirdn2d", _run, fake=_fake, setup_context=_setup, backward=_backward)


# ------------------------------------------------------------------ public API
def _check_args(x, f, up, down, padding, gain):
    check_tensor(x, "x", ndim=(4,))
    if f is not None:
        check_tensor(f, "f")
        if f.dim() not in (1, 2):
            raise ValueError(f"f must be a 1-D or 2-D filter, got shape {tuple(f.shape)}")
        if f.numel() == 0:
            raise ValueError("f must not be empty")
        if f.device != x.device:
            raise ValueError(f"f is on {f.device} but x is on {x.device}")
    up = parse_scaling(up, "up")
    down = parse_scaling(down, "down")
    padding = parse_padding(padding)
    gain = check_number(gain, "gain")
    fshape = (1, 1) if f is None else tuple(f.shape)
    oh, ow = out_size(x.shape[2], x.shape[3], fshape, up, down, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"upfirdn2d: padding {padding} and filter {fshape} leave an empty output "
                         f"({oh} x {ow}) for input {tuple(x.shape)}")
    return up, down, padding, gain


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample (see the module docstring).

    Args:
        x: [N, C, H, W] input (float32/64/16, bfloat16; any layout, channels_last stays channels_last).
        f: float FIR filter, 2-D [fh, fw] or 1-D (separable) on x's device; None = identity.
        up: upsampling factor, int or (ux, uy), >= 1.
        down: downsampling factor, int or (dx, dy), >= 1.
        padding: int, (px, py) or (x0, x1, y0, y1); negative values crop.
        flip_filter: False (default) convolves with f, True correlates.
        gain: overall scale of the filter.
        impl: backend (ref, cpu, triton, cuda, auto); see fastgan.ops.use_backend.
    """
    up, down, padding, gain = _check_args(x, f, up, down, padding, gain)
    backend = resolve("upfirdn2d", impl, x.device)
    if backend == "ref":
        return reference.upfirdn2d(x, f, up, down, padding, flip_filter, gain)
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    elif f.requires_grad and torch.is_grad_enabled():
        raise ValueError("f requires grad, but upfirdn2d treats the filter as a constant; detach it, "
                         "or use impl='ref' to differentiate with respect to the filter")
    return _upfirdn2d[backend](x, f, list(up), list(down), list(padding), bool(flip_filter), gain, backend)


__all__ = ["upfirdn2d", "setup_filter", "filter2d", "upsample2d", "downsample2d"]
