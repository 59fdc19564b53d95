"""Triton kernels of minibatch_std (GPU; tested on CPU tensors under TRITON_INTERPRET=1).

One program per (group m, part f): it walks the c*HW elements of its part in BLOCK chunks,
loads the G members of each element (samples m, m+M, ...), and either copies them into y
while summing the standard deviations (forward), or writes dx (backward). Element j of a
part is channel f*c + j // HW at pixel j % HW; the strides make the same code serve NCHW
and channels_last. Semantics: csrc/include/fastgan/minibatch_std.h.
"""
import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

BLOCK = 256


@triton.jit
def _group_stats(x_ptr, xo, M, xsn, G, eps, mask, acc_t: tl.constexpr, BLOCK: tl.constexpr):
    """Group mean and standard deviation of the elements at offsets xo of member 0."""
    mu = tl.zeros([BLOCK], dtype=acc_t)
    for g in range(G):
        mu += tl.load(x_ptr + xo + (g * M) * xsn, mask=mask, other=0.0).to(acc_t)
    mu = mu / G
    var = tl.zeros([BLOCK], dtype=acc_t)
    for g in range(G):
        d = tl.load(x_ptr + xo + (g * M) * xsn, mask=mask, other=0.0).to(acc_t) - mu
        var += d * d
    return mu, tl.sqrt(var / G + eps)


@triton.jit
def _fwd_kernel(x_ptr, y_ptr, C, HW, G, F, M, c, xsn, xsc, xsp, ysn, ysc, ysp, eps, F64: tl.constexpr,
                BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    m = pid // F
    f = pid % F
    acc_t = tl.float64 if F64 else tl.float32
    total = tl.zeros([BLOCK], dtype=acc_t)
    part = c * HW
    for j0 in range(0, part, BLOCK):
        j = j0 + tl.arange(0, BLOCK).to(tl.int64)
        mask = j < part
        ch = f * c + j // HW
        p = j % HW
        xo = m * xsn + ch * xsc + p * xsp
        yo = m * ysn + ch * ysc + p * ysp
        mu, sd = _group_stats(x_ptr, xo, M, xsn, G, eps, mask, acc_t, BLOCK)
        total += tl.where(mask, sd, 0.0)
        for g in range(G):
            v = tl.load(x_ptr + xo + (g * M) * xsn, mask=mask)
            tl.store(y_ptr + yo + (g * M) * ysn, v, mask=mask)
    stat = tl.sum(total, axis=0) / part
    for g in range(G):
        n = m + g * M
        for p0 in range(0, HW, BLOCK):
            p = p0 + tl.arange(0, BLOCK).to(tl.int64)
            val = tl.zeros([BLOCK], dtype=acc_t) + stat
            tl.store(y_ptr + n * ysn + (C + f) * ysc + p * ysp, val.to(y_ptr.dtype.element_ty), mask=p < HW)


@triton.jit
def _grad_kernel(dy_ptr, x_ptr, dx_ptr, C, HW, G, F, M, c, xsn, xsc, xsp, ysn, ysc, ysp, eps, F64: tl.constexpr,
                 BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    m = pid // F
    f = pid % F
    acc_t = tl.float64 if F64 else tl.float32
    gs = tl.zeros([BLOCK], dtype=acc_t)
    for g in range(G):
        n = m + g * M
        for p0 in range(0, HW, BLOCK):
            p = p0 + tl.arange(0, BLOCK).to(tl.int64)
            gs += tl.load(dy_ptr + n * ysn + (C + f) * ysc + p * ysp, mask=p < HW, other=0.0).to(acc_t)
    part = c * HW
    coef = tl.sum(gs, axis=0) / (part * G)
    for j0 in range(0, part, BLOCK):
        j = j0 + tl.arange(0, BLOCK).to(tl.int64)
        mask = j < part
        ch = f * c + j // HW
        p = j % HW
        xo = m * xsn + ch * xsc + p * xsp
        yo = m * ysn + ch * ysc + p * ysp
        mu, sd = _group_stats(x_ptr, xo, M, xsn, G, eps, mask, acc_t, BLOCK)
        k = coef / sd
        for g in range(G):
            v = tl.load(x_ptr + xo + (g * M) * xsn, mask=mask, other=0.0).to(acc_t)
            d = tl.load(dy_ptr + yo + (g * M) * ysn, mask=mask, other=0.0).to(acc_t)
            tl.store(dx_ptr + xo + (g * M) * xsn, (d + k * (v - mu)).to(dx_ptr.dtype.element_ty), mask=mask)


def _strides(t, cl, C, HW):
    return (C * HW, 1, C) if cl else (C * HW, HW, 1)


def fwd(x, y, N, C, HW, G, F, eps, cl):
    M = N // G
    wrap_triton(_fwd_kernel)[(M * F,)](
        x, y, C, HW, G, F, M, C // F, *_strides(x, cl, C, HW), *_strides(y, cl, C + F, HW), eps, F64=x.dtype ==
        torch.float64, BLOCK=BLOCK)


def grad(dy, x, dx, N, C, HW, G, F, eps, cl):
    M = N // G
    wrap_triton(_grad_kernel)[(M * F,)](
        dy, x, dx, C, HW, G, F, M, C // F, *_strides(x, cl, C, HW), *_strides(dy, cl, C + F, HW), eps, F64=x.dtype ==
        torch.float64, BLOCK=BLOCK)
