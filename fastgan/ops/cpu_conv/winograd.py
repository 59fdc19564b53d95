"""Winograd F(4x4, 3x3): the CPU backend's stride-1 3x3 convolution.

On this class of CPU (AVX2, no Winograd in oneDNN) a 3x3 convolution with a few hundred channels
runs at the machine's GEMM rate; Winograd's F(4x4, 3x3) needs 36 multiplications per 4x4 output tile
instead of 144, so the same GEMM does a quarter of the work (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016). The convolution becomes

    V = B^T d B   per 6x6 input window (fastgan::wino_input, C++)
    U = G g G^T   per 3x3 filter (fastgan::wino_weight, C++)
    M = U @ V     36 GEMMs [O, I] x [I, tiles] (fastgan::bmm, fastgan.ops.cpu_conv.gemm)
    y = A^T M A   per 4x4 output tile (fastgan::wino_output, C++)

Each data transform is linear and registered with its adjoint as backward (and the adjoint's backward
is the transform again), and the rest is PyTorch autograd, so gradients of any order are exact
gradients of this computation: backward costs two more GEMMs and the two adjoint transforms, and the
R1 / path-length double backward works unchanged.

Accuracy: float32 results differ from a direct convolution by a few units in the last place of the
output's scale (the transform points 0, +-1, +-2 amplify rounding by at most ~10x; the tests measure it
against the float64 reference). float64 runs the same path. Other dtypes are not taken here.
"""
from __future__ import annotations

import torch

from .. import _dispatch
from .._op import Kernel
from .gemm import bmm

TILE = 4  # output tile; the input window is TILE + 2

_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0),
       (0, 4, 0, -5, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
      (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
DTYPES = (torch.float32, torch.float64)


def matrices(dtype=torch.float64):
    """(B^T, G, A^T) as tensors, for tests and readers."""
    return tuple(torch.tensor(m, dtype=dtype) for m in (_BT, _G, _AT))


_CPU = ("cpu",)
_INPUT = Kernel("wino_input", "x: Tensor, v: Tensor, ks: int, cs: int, n: int, c: int, h: int, w: int, xs: Strides4, "
                "pad_h: int, pad_w: int, th: int, tw: int", backends=_CPU)
_INPUT_ADJ = Kernel("wino_input_adjoint", "dv: Tensor, ks: int, cs: int, dx: Tensor, n: int, c: int, h: int, w: int, "
                    "dxs: Strides4, pad_h: int, pad_w: int, th: int, tw: int", backends=_CPU)
_OUTPUT = Kernel("wino_output", "m: Tensor, ks: int, os: int, y: Tensor, n: int, o: int, oh: int, ow: int, "
                 "ys: Strides4, th: int, tw: int", backends=_CPU)
_OUTPUT_ADJ = Kernel("wino_output_adjoint", "dy: Tensor, dm: Tensor, ks: int, os: int, n: int, o: int, oh: int, "
                     "ow: int, dys: Strides4, th: int, tw: int", backends=_CPU)
_WEIGHT = Kernel("wino_weight", "w: Tensor, u: Tensor, o: int, i: int, ws: Strides4", backends=_CPU)
_WEIGHT_ADJ = Kernel("wino_weight_adjoint", "du: Tensor, dw: Tensor, o: int, i: int", backends=_CPU)


def _tiles(oh: int, ow: int):
    return -(-oh // TILE), -(-ow // TILE)


# Layout of the transformed tensors [36, C, T] the transforms write: "channel" allocates them [C, 36, T]
# (a channel's 36 transform points 4 * T bytes apart instead of 4 * C * T: far fewer cache-set
# conflicts and TLB misses in the transforms; the batched GEMMs take either layout at the same speed).
LAYOUT = {"transformed": "channel"}


def padded_cols(t: int) -> int:
    """Columns of a transformed tensor holding t tiles: t rounded up past t to a multiple of 8 (1-8 zero
    columns after the tiles, which the C++ kernels that write these tensors set). The rows are then a
    multiple of 32 bytes apart, which the batched GEMMs take 1.2-1.35x faster than the odd t + 1 at the
    32/16 px shapes (`benchmarks/bench_train.py`'s loop at one thread; all bmm 1158 -> 961 ms/step), and, for t a multiple
    of 16, not a large power of two apart, which keeps the transforms' strided accesses out of the same
    cache sets. The zeros add nothing to any product. The C++ ``padded_cols`` is the same function."""
    return (t + 8) // 8 * 8


def _new_transformed(like: torch.Tensor, c: int, t: int) -> torch.Tensor:
    """[36, c, padded_cols(t)] in the LAYOUT, uninitialised."""
    if LAYOUT["transformed"] == "channel":
        return like.new_empty(c, 36, padded_cols(t)).permute(1, 0, 2)
    return like.new_empty(36, c, padded_cols(t))


def _tiles_inner(t: torch.Tensor) -> torch.Tensor:
    """t [36, C, T] with unit stride along T (what the kernels index)."""
    return t if t.stride(2) == 1 else t.contiguous()


# ------------------------------------------------------------------ input transform and its adjoint
@torch.library.custom_op("fastgan::wino_input", mutates_args=())
def _input_op(x: torch.Tensor, pad_h: int, pad_w: int, th: int, tw: int) -> torch.Tensor:
    """V [36, C, padded_cols(N * th * tw)] = B^T d B of every 6x6 window (4-pixel stride, zero padding)."""
    n, c, h, w = x.shape
    v = _new_transformed(x, c, n * th * tw)
    if v.numel():
        _INPUT("cpu", x, v, v.stride(0), v.stride(1), n, c, h, w,
                             x.stride(), pad_h, pad_w, th, tw)
    return v


@_input_op.register_fake
def _(x, pad_h, pad_w, th, tw):
    return _new_transformed(x, x.shape[1], x.shape[0] * th * tw)


@torch.library.custom_op("fastgan::wino_input_adjoint", mutates_args=())
def _input_adj_op(dv: torch.Tensor, n: int, h: int, w: int, pad_h: int, pad_w: int, th: int,
                  tw: int) -> torch.Tensor:
    """dx [N, C, H, W]: the adjoint of fastgan::wino_input (overlapping windows add up)."""
    dv = _tiles_inner(dv)
    dx = dv.new_empty(n, dv.shape[1], h, w)
    if dx.numel():
        _INPUT_ADJ("cpu", dv, dv.stride(0), dv.stride(1), dx, n,
                                     dv.shape[1], h, w, dx.stride(), pad_h, pad_w, th, tw)
    return dx


@_input_adj_op.register_fake
def _(dv, n, h, w, pad_h, pad_w, th, tw):
    return dv.new_empty(n, dv.shape[1], h, w)


def _input_setup(ctx, inputs, output):
    x, pad_h, pad_w, th, tw = inputs
    ctx.args = (x.shape[0], x.shape[2], x.shape[3], pad_h, pad_w, th, tw)


def _input_backward(ctx, dv):
    return _input_adj(dv, *ctx.args), None, None, None, None


_input = _dispatch.register_autograd(_input_op, _input_backward, setup_context=_input_setup)


def _input_adj_setup(ctx, inputs, output):
    ctx.args = inputs[4:]


def _input_adj_backward(ctx, g):
    return _input(g, *ctx.args), None, None, None, None, None, None, None


_input_adj = _dispatch.register_autograd(_input_adj_op, _input_adj_backward, setup_context=_input_adj_setup)


# ------------------------------------------------------------------ output transform and its adjoint
@torch.library.custom_op("fastgan::wino_output", mutates_args=())
def _output_op(m: torch.Tensor, n: int, oh: int, ow: int, th: int, tw: int) -> torch.Tensor:
    """y [N, O, oh, ow] = A^T M A of every 4x4 tile (the partial tiles cropped)."""
    m = _tiles_inner(m)
    y = m.new_empty(n, m.shape[1], oh, ow)
    if y.numel():
        _OUTPUT("cpu", m, m.stride(0), m.stride(1), y, n, m.shape[1], oh,
                              ow, y.stride(), th, tw)
    return y


@_output_op.register_fake
def _(m, n, oh, ow, th, tw):
    return m.new_empty(n, m.shape[1], oh, ow)


@torch.library.custom_op("fastgan::wino_output_adjoint", mutates_args=())
def _output_adj_op(dy: torch.Tensor, th: int, tw: int) -> torch.Tensor:
    """dM [36, O, padded_cols(N * th * tw)] = A dy_tile A^T: the adjoint of fastgan::wino_output."""
    n, o, oh, ow = dy.shape
    dm = _new_transformed(dy, o, n * th * tw)
    if dm.numel():
        _OUTPUT_ADJ("cpu", dy, dm, dm.stride(0), dm.stride(1), n, o,
                                      oh, ow, dy.stride(), th, tw)
    return dm


@_output_adj_op.register_fake
def _(dy, th, tw):
    return _new_transformed(dy, dy.shape[1], dy.shape[0] * th * tw)


def _output_setup(ctx, inputs, output):
    ctx.args = inputs[4:]


def _output_backward(ctx, dy):
    return _output_adj(dy, *ctx.args), None, None, None, None, None


_output = _dispatch.register_autograd(_output_op, _output_backward, setup_context=_output_setup)


def _output_adj_setup(ctx, inputs, output):
    dy, th, tw = inputs
    ctx.args = (dy.shape[0], dy.shape[2], dy.shape[3], th, tw)


def _output_adj_backward(ctx, g):
    return _output(g, *ctx.args), None, None


_output_adj = _dispatch.register_autograd(_output_adj_op, _output_adj_backward, setup_context=_output_adj_setup)


# ------------------------------------------------------------------ weight transform and its adjoint
@torch.library.custom_op("fastgan::wino_weight", mutates_args=())
def _weight_op(w: torch.Tensor) -> torch.Tensor:
    """U [36, O, I] = G w G^T of every 3x3 filter of w [O, I, 3, 3]."""
    o, i = w.shape[:2]
    u = w.new_empty(36, o, i)
    if u.numel():
        _WEIGHT("cpu", w, u, o, i, w.stride())
    return u


@_weight_op.register_fake
def _(w):
    return w.new_empty(36, w.shape[0], w.shape[1])


@torch.library.custom_op("fastgan::wino_weight_adjoint", mutates_args=())
def _weight_adj_op(du: torch.Tensor) -> torch.Tensor:
    """dw [O, I, 3, 3] = G^T dU G: the adjoint of fastgan::wino_weight."""
    du = du.contiguous()
    dw = du.new_empty(du.shape[1], du.shape[2], 3, 3)
    if dw.numel():
        _WEIGHT_ADJ("cpu", du, dw, du.shape[1], du.shape[2])
    return dw


@_weight_adj_op.register_fake
def _(du):
    return du.new_empty(du.shape[1], du.shape[2], 3, 3)


def _no_setup(ctx, inputs, output):
    pass


_weight = _dispatch.register_autograd(_weight_op, lambda ctx, g: _weight_adj(g), setup_context=_no_setup)
_weight_adj = _dispatch.register_autograd(_weight_adj_op, lambda ctx, g: _weight(g), setup_context=_no_setup)


# ------------------------------------------------------------------ the convolution
def weight_transform(w: torch.Tensor) -> torch.Tensor:
    """U [36, O, I] = G w G^T for each 3x3 filter (fastgan::wino_weight; its adjoint is the backward)."""
    return _weight(w)


def supported(x: torch.Tensor, w: torch.Tensor, groups: int = 1) -> bool:
    """Whether conv2d_3x3 takes this case: CPU, float32/64, 3x3 weight, one group."""
    return (x.device.type == "cpu" and x.dtype in DTYPES and w.dtype == x.dtype and groups == 1 and w.dim() == 4
            and tuple(w.shape[2:]) == (3, 3) and x.dim() == 4 and w.shape[1] == x.shape[1])


def conv2d_3x3(x: torch.Tensor, w: torch.Tensor, padding=(1, 1)) -> torch.Tensor:
    """F.conv2d(x, w, padding=padding) for a 3x3 w (cross-correlation, stride 1) by Winograd F(4x4, 3x3).

    x: [N, C, H, W] float32/float64 on the CPU, any strides; w: [O, C, 3, 3]; padding (ph, pw) >= 0 or an int.
    """
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if not supported(x, w):
        raise ValueError(f"conv2d_3x3 needs a float32/float64 CPU x [N, C, H, W] and a matching [O, C, 3, 3] weight; "
                         f"got x {tuple(x.shape)} {x.dtype} on {x.device}, weight {tuple(w.shape)} {w.dtype}")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {(ph, pw)}")
    n, _, h, wd = x.shape
    oh, ow = h + 2 * ph - 2, wd + 2 * pw - 2
    if oh < 1 or ow < 1:
        raise ValueError(f"padding {(ph, pw)} leaves an empty output for x of shape {tuple(x.shape)}")
    th, tw = _tiles(oh, ow)
    v = _input(x, ph, pw, th, tw)
    m = bmm(weight_transform(w), v, n_valid=n * th * tw)  # the pad columns of V are zeros
    return _output(m, n, oh, ow, th, tw)
