"""Triton kernel of upfirdn2d (GPU; tested on CPU tensors under TRITON_INTERPRET=1).

One program computes BLOCK output pixels of one (n, c) plane (grid: planes x pixel blocks). For every tap (ky, kx) of the 2-D
correlation taps w (filter flipped and scaled; a 1-D filter arrives as its outer product), the
zero-stuffed input index is j = o * down + k - pad0; it hits a real sample when j % up == 0 and
the sample j / up lies inside the input. Indices are shifted by a multiple of `up` so they are
never negative (the remainder is then the same on every backend). Filters of up to 8 x 8 taps
are unrolled at compile time; larger ones loop at run time. Index math is 64-bit.
"""
import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

BLOCK = 256
MAX_UNROLL = 8


@triton.jit
def _tap(acc, x_base, w_ptr, oy, ox, ky, kx, H, W, sh, sw, mask, FW: tl.constexpr, UX: tl.constexpr,
         UY: tl.constexpr, DX: tl.constexpr, DY: tl.constexpr, SHIFT_X, SHIFT_Y, KX, KY):
    jy = oy * DY + ky + SHIFT_Y  # >= 0, same remainder mod UY as the true index
    jx = ox * DX + kx + SHIFT_X
    iy = jy // UY - KY
    ix = jx // UX - KX
    ok = mask & (jy % UY == 0) & (jx % UX == 0) & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    v = tl.load(x_base + iy * sh + ix * sw, mask=ok, other=0.0)
    wv = tl.load(w_ptr + ky * FW + kx)
    return acc + v.to(acc.dtype) * wv


@triton.jit
def _kernel(x_ptr, y_ptr, w_ptr, C, H, W, OW, n_out, sxn, sxc, sxh, sxw, syn, syc, syh, syw, SHIFT_X, SHIFT_Y, KX, KY,
            FH: tl.constexpr, FW: tl.constexpr, UX: tl.constexpr, UY: tl.constexpr, DX: tl.constexpr,
            DY: tl.constexpr, UNROLL: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    plane = tl.program_id(0).to(tl.int64)
    n = plane // C
    c = plane % C
    o = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o < n_out
    oy = o // OW
    ox = o % OW
    x_base = x_ptr + n * sxn + c * sxc
    if F64:
        acc = tl.zeros([BLOCK], dtype=tl.float64)
    else:
        acc = tl.zeros([BLOCK], dtype=tl.float32)
    if UNROLL:
        for ky in tl.static_range(FH):
            for kx in tl.static_range(FW):
                acc = _tap(acc, x_base, w_ptr, oy, ox, ky, kx, H, W, sxh, sxw, mask, FW, UX, UY, DX, DY, SHIFT_X,
                           SHIFT_Y, KX, KY)
    else:
        for ky in range(FH):
            for kx in range(FW):
                acc = _tap(acc, x_base, w_ptr, oy, ox, ky, kx, H, W, sxh, sxw, mask, FW, UX, UY, DX, DY, SHIFT_X,
                           SHIFT_Y, KX, KY)
    tl.store(y_ptr + n * syn + c * syc + oy * syh + ox * syw, acc.to(y_ptr.dtype.element_ty), mask=mask)


def _shift(pad0, up):
    """(shift, k) with shift = up * k - pad0 >= 0."""
    k = max(0, -(-pad0 // up))
    return up * k - pad0, k


def upfirdn2d(x, y, w2, n, c, h, w, oh, ow, xs, ys, ux, uy, dx, dy, px0, py0, fw, fh):
    """y <- upfirdn2d(x) with 2-D correlation taps w2 [fh, fw] (float32, or float64 for float64 x);
    x [n, c, h, w] and y [n, c, oh, ow] with element strides xs and ys."""
    shift_x, kx = _shift(px0, ux)
    shift_y, ky = _shift(py0, uy)
    grid = (n * c, triton.cdiv(oh * ow, BLOCK))
    wrap_triton(_kernel)[grid](
        x, y, w2, c, h, w, ow, oh * ow, *xs, *ys, shift_x, shift_y, kx, ky, FH=fh, FW=fw, UX=ux, UY=uy, DX=dx, DY=dy,
        UNROLL=max(fh, fw) <= MAX_UNROLL, F64=x.dtype == torch.float64, BLOCK=BLOCK)
