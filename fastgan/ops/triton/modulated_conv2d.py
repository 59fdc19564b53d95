"""Triton kernels of the modulated convolution's epilogue (GPU; tested on CPU tensors under
TRITON_INTERPRET=1). The convolution itself is PyTorch's.

One program handles BLOCK consecutive elements of the dense convolution output c [N, O, P]:
contiguous (element i is pixel i % P of plane i // P) or channels_last (channel i % O of pixel row
i // O). z = c * d[n, o] + noise[n, p] + b[o]; the forward stores clamp(gain * act(z)); the
backward stores dc = u * d and u = dy * gain * act'(z) * mask (PyTorch reduces u into the dcoef,
noise and bias gradients). Activation math is bias_act's.
"""
import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

from .bias_act import act_eval

BLOCK = 1024


@triton.jit
def _z(c_ptr, d_ptr, nz_ptr, b_ptr, offs, mask, O, P, NSN, HAS_D: tl.constexpr, HAS_N: tl.constexpr,
       HAS_B: tl.constexpr, CL: tl.constexpr, F64: tl.constexpr):
    if CL:
        o = offs % O
        row = offs // O
        n = row // P
        p = row % P
    else:
        o = (offs // P) % O
        n = offs // (P * O)
        p = offs % P
    cv = tl.load(c_ptr + offs, mask=mask, other=0.0)
    cv = cv.to(tl.float64) if F64 else cv.to(tl.float32)
    d = cv * 0 + 1.0
    if HAS_D:
        d = tl.load(d_ptr + n * O + o, mask=mask, other=0.0).to(cv.dtype)
    z = cv * d
    if HAS_N:
        z += tl.load(nz_ptr + n * NSN + p, mask=mask, other=0.0).to(cv.dtype)
    if HAS_B:
        z += tl.load(b_ptr + o, mask=mask, other=0.0).to(cv.dtype)
    return z, d


@triton.jit
def _fwd_kernel(c_ptr, d_ptr, nz_ptr, b_ptr, y_ptr, n_el, O, P, NSN, alpha, gain, clamp, HAS_D: tl.constexpr,
                HAS_N: tl.constexpr, HAS_B: tl.constexpr, CL: tl.constexpr, ACT: tl.constexpr, CLAMP: tl.constexpr,
                F64: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_el
    z, d = _z(c_ptr, d_ptr, nz_ptr, b_ptr, offs, mask, O, P, NSN, HAS_D, HAS_N, HAS_B, CL, F64)
    y = act_eval(z, alpha, ACT, 0) * gain
    if CLAMP:
        y = tl.where(y < -clamp, -clamp, tl.where(y > clamp, clamp, y))
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _grad_kernel(dy_ptr, c_ptr, d_ptr, nz_ptr, b_ptr, dc_ptr, u_ptr, n_el, O, P, NSN, alpha, gain, clamp,
                 HAS_D: tl.constexpr, HAS_N: tl.constexpr, HAS_B: tl.constexpr, CL: tl.constexpr, ACT: tl.constexpr,
                 CLAMP: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_el
    z, d = _z(c_ptr, d_ptr, nz_ptr, b_ptr, offs, mask, O, P, NSN, HAS_D, HAS_N, HAS_B, CL, F64)
    g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(z.dtype)
    u = g * gain * act_eval(z, alpha, ACT, 1)
    if CLAMP:
        y = act_eval(z, alpha, ACT, 0) * gain
        u = tl.where((y < -clamp) | (y > clamp), 0.0, u)
    tl.store(dc_ptr + offs, (u * d).to(dc_ptr.dtype.element_ty), mask=mask)
    tl.store(u_ptr + offs, u.to(u_ptr.dtype.element_ty), mask=mask)


def _flags(c, d, noise, b, cl, act, clamp):
    return dict(HAS_D=d is not None, HAS_N=noise is not None, HAS_B=b is not None, CL=cl, ACT=act, CLAMP=clamp >= 0,
                F64=c.dtype == torch.float64, BLOCK=BLOCK)


def epilogue_fwd(c, d, noise, nsn, b, y, n, o, p, cl, act, alpha, gain, clamp):
    n_el = c.numel()
    wrap_triton(_fwd_kernel)[(triton.cdiv(n_el, BLOCK),)](
        c, d if d is not None else c, noise if noise is not None else c, b if b is not None else c, y, n_el, o, p, nsn,
        alpha, gain, max(clamp, 0.0), **_flags(c, d, noise, b, cl, act, clamp))


def epilogue_grad(dy, c, d, noise, nsn, b, dc, u, n, o, p, cl, act, alpha, gain, clamp):
    n_el = c.numel()
    wrap_triton(_grad_kernel)[(triton.cdiv(n_el, BLOCK),)](
        dy, c, d if d is not None else c, noise if noise is not None else c, b if b is not None else c, dc, u, n_el, o,
        p, nsn, alpha, gain, max(clamp, 0.0), **_flags(c, d, noise, b, cl, act, clamp))
