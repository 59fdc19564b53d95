"""Stride-2 3x3 convolutions (transposed and strided) by output phase, with Winograd F(3, 2).

A transposed convolution with stride 2 and a 3x3 kernel, y = conv_transpose2d(x, w, stride=2)
(x [N, C, H, W] -> y [N, O, 2H+1, 2W+1]), splits into its four output phases. Along one axis,
y[2p] = w0 x[p] + w2 x[p-1] is a 2-tap correlation and y[2p+1] = w1 x[p] a 1-tap one, so:

    even rows, even columns   a 2x2 convolution        Winograd F(3x3, 2x2): 16 products per 9 outputs
    even rows, odd columns    2 taps along y only      F(3, 2) along y:      4 products per 3 outputs
    odd rows, even columns    2 taps along x only      F(3, 2) along x
    odd rows, odd columns     a 1x1 convolution        one GEMM on x

That is ~5.6 multiplications per input pixel and channel pair at 32x32 (tile rounding included)
instead of the 9 a direct transposed convolution does. The F(3, 2) points are 0, +-1 and infinity,
so the transforms only add and subtract (B^T, A^T) or halve (G): float32 results are as accurate
as the direct convolution's. The data transforms are C++ (csrc/cpu/winograd.cpp, s2_*), each a
registered op whose backward is its adjoint; the products are fastgan::bmm (fastgan.ops.cpu_conv.gemm), batched
over the transform points; the weight transform is C++ too (fastgan::wino_s2_weight). Everything is linear
or a matmul, so autograd gives exact gradients of any order.

The strided convolution y = conv2d(u, w, stride=2) (3x3, no padding) is the adjoint of the
transposed one with the same weight, so it runs the same pieces in reverse order: the output
transform's adjoint on u, the transposed GEMMs, the input transform's adjoint. StyleGAN2's up=2
layers (transposed conv, then the FIR filter) and its down=2 layers (FIR filter, then the strided
conv) take these on the cpu backend (`fastgan.ops.modulated_conv2d`, `reference.conv2d_resample`'s
`conv_s2` hook).
"""
from __future__ import annotations

import torch

from .. import _dispatch
from .._op import Kernel
from .gemm import bmm, conv1x1
from .winograd import DTYPES, padded_cols
from .winograd import _tiles_inner as _cols_inner  # unit stride along the columns, as the kernels index

# G on the taps (w0, w1, w2) of one axis: the even phase correlates with g = (w2, w0), and F(3, 2)'s
# filter transform is [[1, 0], [1/2, 1/2], [1/2, -1/2], [0, 1]] applied to g.
_GE = ((0.0, 0.0, 1.0), (0.5, 0.0, 0.5), (-0.5, 0.0, 0.5), (1.0, 0.0, 0.0))


def tiles(h: int, w: int):
    """(TH, TW): 6x6 output blocks covering [2h+1, 2w+1]."""
    return -(-(2 * h + 1) // 6), -(-(2 * w + 1) // 6)


def _new_phases(like: torch.Tensor, c: int, t: int):
    """ee [16, c, padded_cols(t)], eo and oe [4, c, padded_cols(3t)], each allocated channel-major.

    The columns after the tiles are zeros that the C++ kernels write (see winograd.padded_cols: the
    GEMMs run faster on rows a multiple of 32 bytes apart, and the transforms' strided accesses stay out
    of the same cache sets).
    """
    ee = like.new_empty(c, 16, padded_cols(t)).permute(1, 0, 2)
    eo = like.new_empty(c, 4, padded_cols(3 * t)).permute(1, 0, 2)
    oe = like.new_empty(c, 4, padded_cols(3 * t)).permute(1, 0, 2)
    return ee, eo, oe


def _phase_args(ee, eo, oe):
    """The Phases argument of the kernels: each transformed tensor's address, point and channel strides."""
    return (ee.data_ptr(), ee.stride(0), ee.stride(1), eo.data_ptr(), eo.stride(0), eo.stride(1), oe.data_ptr(),
            oe.stride(0), oe.stride(1))


_CPU = ("cpu",)
_SIZES = "n: int, c: int, h: int, w: int, th: int, tw: int"
_INPUT = Kernel("s2_input", "x: Tensor, xs: Strides4, " + _SIZES + ", v: Phases", backends=_CPU)
_INPUT_ADJ = Kernel("s2_input_adjoint", "dv: Phases, dx: Tensor, dxs: Strides4, " + _SIZES, backends=_CPU)
_OUTPUT = Kernel("s2_output", "m: Phases, moo: Tensor, ms: Strides4, y: Tensor, ys: Strides4, " + _SIZES,
                 backends=_CPU)
_OUTPUT_ADJ = Kernel("s2_output_adjoint", "dy: Tensor, dys: Strides4, dm: Phases, moo: Tensor, ms: Strides4, " + _SIZES,
                     backends=_CPU)
_WEIGHT = Kernel("s2_weight", "w: Tensor, ws: Strides4, a: int, b: int, ee: Tensor, eo: Tensor, oe: Tensor, oo: Tensor",
                 backends=_CPU)
_WEIGHT_ADJ = Kernel("s2_weight_adjoint", "ee: Tensor, eo: Tensor, oe: Tensor, oo: Tensor, dw: Tensor, a: int, b: int",
                     backends=_CPU)


# ------------------------------------------------------------------ input transform and its adjoint
@torch.library.custom_op("fastgan::wino_s2_input", mutates_args=())
def _input_op(x: torch.Tensor, th: int, tw: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The even/even, even/odd and odd/even transformed inputs of x [N, C, H, W] (see the C++ header)."""
    n, c, h, w = x.shape
    ee, eo, oe = _new_phases(x, c, n * th * tw)
    if ee.numel():
        _INPUT("cpu", x, x.stride(), n, c, h, w, th, tw, _phase_args(ee, eo, oe))
    return ee, eo, oe


@_input_op.register_fake
def _(x, th, tw):
    return _new_phases(x, x.shape[1], x.shape[0] * th * tw)


@torch.library.custom_op("fastgan::wino_s2_input_adjoint", mutates_args=())
def _input_adj_op(ee: torch.Tensor, eo: torch.Tensor, oe: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """dx [N, C, H, W]: the adjoint of fastgan::wino_s2_input."""
    ee, eo, oe = _cols_inner(ee), _cols_inner(eo), _cols_inner(oe)
    th, tw = tiles(h, w)
    dx = ee.new_empty(n, ee.shape[1], h, w)
    if dx.numel():
        _INPUT_ADJ("cpu", _phase_args(ee, eo, oe), dx, dx.stride(), n, ee.shape[1], h, w, th, tw)
    return dx


@_input_adj_op.register_fake
def _(ee, eo, oe, n, h, w):
    return ee.new_empty(n, ee.shape[1], h, w)


def _input_setup(ctx, inputs, output):
    x = inputs[0]
    ctx.args = (x.shape[0], x.shape[2], x.shape[3])


def _input_backward(ctx, dee, deo, doe):
    return _input_adj(dee, deo, doe, *ctx.args), None, None


_input = _dispatch.register_autograd(_input_op, _input_backward, setup_context=_input_setup)


def _input_adj_setup(ctx, inputs, output):
    ctx.args = tiles(inputs[4], inputs[5])


def _input_adj_backward(ctx, g):
    return (*_input(g, *ctx.args), None, None, None)


_input_adj = _dispatch.register_autograd(_input_adj_op, _input_adj_backward, setup_context=_input_adj_setup)


# ------------------------------------------------------------------ output transform and its adjoint
@torch.library.custom_op("fastgan::wino_s2_output", mutates_args=())
def _output_op(ee: torch.Tensor, eo: torch.Tensor, oe: torch.Tensor, oo: torch.Tensor) -> torch.Tensor:
    """y [N, O, 2H+1, 2W+1] from the phases' GEMM outputs; oo [N, O, H, W] is the odd/odd phase."""
    ee, eo, oe = _cols_inner(ee), _cols_inner(eo), _cols_inner(oe)
    n, o, h, w = oo.shape
    th, tw = tiles(h, w)
    y = ee.new_empty(n, o, 2 * h + 1, 2 * w + 1)
    if y.numel():
        _OUTPUT("cpu", _phase_args(ee, eo, oe), oo, oo.stride(), y, y.stride(), n, o, h, w, th, tw)
    return y


@_output_op.register_fake
def _(ee, eo, oe, oo):
    n, o, h, w = oo.shape
    return ee.new_empty(n, o, 2 * h + 1, 2 * w + 1)


@torch.library.custom_op("fastgan::wino_s2_output_adjoint", mutates_args=())
def _output_adj_op(dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The adjoint of fastgan::wino_s2_output: (ee, eo, oe, oo) from dy [N, O, 2H+1, 2W+1]."""
    n, o, oh, ow = dy.shape
    h, w = (oh - 1) // 2, (ow - 1) // 2
    th, tw = tiles(h, w)
    ee, eo, oe = _new_phases(dy, o, n * th * tw)
    oo = dy.new_empty(n, o, h, w)
    if oo.numel():
        _OUTPUT_ADJ("cpu", dy, dy.stride(), _phase_args(ee, eo, oe), oo, oo.stride(), n, o, h, w, th, tw)
    return ee, eo, oe, oo


@_output_adj_op.register_fake
def _(dy):
    n, o, oh, ow = dy.shape
    h, w = (oh - 1) // 2, (ow - 1) // 2
    th, tw = tiles(h, w)
    return (*_new_phases(dy, o, n * th * tw), dy.new_empty(n, o, h, w))


def _no_setup(ctx, inputs, output):
    pass


_output = _dispatch.register_autograd(_output_op, lambda ctx, dy: _output_adj(dy), setup_context=_no_setup)
_output_adj = _dispatch.register_autograd(_output_adj_op, lambda ctx, *g: _output(*g), setup_context=_no_setup)


# ------------------------------------------------------------------ weights and the convolutions
def _new_weights(w: torch.Tensor, a: int, b: int):
    return w.new_empty(16, a, b), w.new_empty(4, a, b), w.new_empty(4, a, b), w.new_empty(a, b)


@torch.library.custom_op("fastgan::wino_s2_weight", mutates_args=())
def _weight_op(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ee [16, A, B], eo [4, A, B], oe [4, A, B], oo [A, B]): the phases' transformed filters of w [A, B, 3, 3]."""
    a, b = w.shape[:2]
    out = _new_weights(w, a, b)
    if out[3].numel():
        _WEIGHT("cpu", w, w.stride(), a, b, *out)
    return out


@_weight_op.register_fake
def _(w):
    return _new_weights(w, w.shape[0], w.shape[1])


@torch.library.custom_op("fastgan::wino_s2_weight_adjoint", mutates_args=())
def _weight_adj_op(ee: torch.Tensor, eo: torch.Tensor, oe: torch.Tensor, oo: torch.Tensor) -> torch.Tensor:
    """dw [A, B, 3, 3]: the adjoint of fastgan::wino_s2_weight."""
    ee, eo, oe, oo = (t.contiguous() for t in (ee, eo, oe, oo))
    a, b = oo.shape
    dw = oo.new_empty(a, b, 3, 3)
    if dw.numel():
        _WEIGHT_ADJ("cpu", ee, eo, oe, oo, dw, a, b)
    return dw


@_weight_adj_op.register_fake
def _(ee, eo, oe, oo):
    return oo.new_empty(oo.shape[0], oo.shape[1], 3, 3)


_weight = _dispatch.register_autograd(_weight_op, lambda ctx, *g: _weight_adj(*g), setup_context=_no_setup)
_weight_adj = _dispatch.register_autograd(_weight_adj_op, lambda ctx, g: _weight(g), setup_context=_no_setup)


def weight_transform(w: torch.Tensor):
    """The transformed filters of w [A, B, 3, 3] as the GEMMs take them, [k, A, B]: (ee [16, A, B], eo [4, A, B],
    oe [4, A, B], oo [A, B]). The transposed convolution with wt [C, O, 3, 3] passes wt viewed [O, C, 3, 3]
    (C++ fastgan::wino_s2_weight; its adjoint is the backward)."""
    return _weight(w)


def supported(x: torch.Tensor, w: torch.Tensor) -> bool:
    """CPU float32/float64 4-D x and a matching 3x3 weight of the same dtype (the channel check is the caller's)."""
    return (x.device.type == "cpu" and x.dtype in DTYPES and w.dtype == x.dtype and x.dim() == 4 and w.dim() == 4
            and tuple(w.shape[2:]) == (3, 3))


def _check(x, w, cin_dim, what):
    if not supported(x, w) or w.shape[cin_dim] != x.shape[1]:
        raise ValueError(f"{what} needs a float32/float64 CPU x [N, C, H, W] and a matching 3x3 weight of the same "
                         f"dtype; got x {tuple(x.shape)} {x.dtype} on {x.device}, weight {tuple(w.shape)} {w.dtype}")


def conv_transpose2d_s2(x: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    """F.conv_transpose2d(x, wt, stride=2) for wt [C, O, 3, 3]: [N, C, H, W] -> [N, O, 2H+1, 2W+1]."""
    _check(x, wt, 0, "conv_transpose2d_s2")
    n, c, h, w = x.shape
    th, tw = tiles(h, w)
    uee, ueo, uoe, uoo = weight_transform(wt.transpose(0, 1))  # [k, O, C]
    vee, veo, voe = _input(x, th, tw)
    moo = conv1x1(x, uoo)
    t = n * th * tw  # tiles of ee; eo and oe have 3t (their pad columns are zeros)
    return _output(bmm(uee, vee, n_valid=t), bmm(ueo, veo, n_valid=3 * t), bmm(uoe, voe, n_valid=3 * t), moo)


def conv2d_s2(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """F.conv2d(u, w, stride=2) for w [O, C, 3, 3], no padding: [N, C, L, M] -> [N, O, (L-1)//2, (M-1)//2]."""
    _check(u, w, 1, "conv2d_s2")
    n, _, lh, lw = u.shape
    h, wd = (lh - 1) // 2, (lw - 1) // 2
    if h < 1 or wd < 1:
        raise ValueError(f"conv2d_s2: input {tuple(u.shape)} is smaller than the 3x3 kernel")
    u = u[:, :, :2 * h + 1, :2 * wd + 1]  # an even size leaves the last row/column unread
    # w as a transposed-conv weight [O, C] maps O -> C; its adjoint takes the transformed weights [k, O, C]
    uee, ueo, uoe, uoo = weight_transform(w)
    mee, meo, moe, moo = _output_adj(u)
    th, tw = tiles(h, wd)
    t = n * th * tw
    y = _input_adj(bmm(uee, mee, n_valid=t), bmm(ueo, meo, n_valid=3 * t), bmm(uoe, moe, n_valid=3 * t), n, h, wd)
    return y + conv1x1(moo, uoo)
