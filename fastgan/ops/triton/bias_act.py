"""Triton kernels of bias_act (GPU; tested on CPU tensors under TRITON_INTERPRET=1).

One program handles BLOCK consecutive elements of the dense input; the channel of element i
is (i // inner) % C, as in the C++ and CUDA kernels. Activation codes follow
csrc/include/fastgan/activations.h.
"""
import torch
import triton
import triton.language as tl
from torch.library import wrap_triton

BLOCK = 1024


@triton.jit
def _sigmoid(v):
    return 1.0 / (1.0 + tl.exp(-v))


@triton.jit
def act_eval(v, alpha, ACT: tl.constexpr, ORDER: tl.constexpr):
    """ORDER-th derivative of activation ACT at v (ORDER 0: the activation)."""
    one = 1.0
    pos = v > 0
    if ACT == 0:  # linear
        if ORDER == 0:
            r = v
        elif ORDER == 1:
            r = v * 0 + one
        else:
            r = v * 0
    elif ACT == 1:  # relu
        if ORDER == 0:
            r = tl.where(pos, v, 0.0)
        elif ORDER == 1:
            r = tl.where(pos, one, 0.0)
        else:
            r = v * 0
    elif ACT == 2:  # lrelu
        if ORDER == 0:
            r = tl.where(pos, v, v * alpha)
        elif ORDER == 1:
            r = tl.where(pos, one, v * 0 + alpha)
        else:
            r = v * 0
    elif ACT == 3:  # tanh = 2 sigmoid(2v) - 1
        t = 2.0 * _sigmoid(2.0 * v) - 1.0
        p = one - t * t
        if ORDER == 0:
            r = t
        elif ORDER == 1:
            r = p
        elif ORDER == 2:
            r = -2.0 * t * p
        else:
            r = p * (6.0 * t * t - 2.0)
    elif ACT == 4:  # sigmoid
        s = _sigmoid(v)
        p = s * (one - s)
        if ORDER == 0:
            r = s
        elif ORDER == 1:
            r = p
        elif ORDER == 2:
            r = p * (one - 2.0 * s)
        else:
            r = p * (one - 6.0 * s + 6.0 * s * s)
    elif ACT == 5:  # elu
        e = alpha * tl.exp(tl.where(pos, 0.0, v))
        if ORDER == 0:
            r = tl.where(pos, v, e - alpha)
        elif ORDER == 1:
            r = tl.where(pos, one, e)
        else:
            r = tl.where(pos, 0.0, e)
    elif ACT == 6:  # selu
        # constants as hi + lo float32 pairs so float64 inputs keep full precision
        zero = v * 0
        sa = (zero + 1.0507010221481323) + -3.479265231476347e-08
        sab = (zero + 1.7580993175506592) + 2.3296717444054593e-08  # scale * alpha
        e = sab * tl.exp(tl.where(pos, 0.0, v))
        if ORDER == 0:
            r = tl.where(pos, sa * v, e - sab)
        elif ORDER == 1:
            r = tl.where(pos, sa, e)
        else:
            r = tl.where(pos, 0.0, e)
    elif ACT == 7:  # softplus
        s = _sigmoid(v)
        p = s * (one - s)
        if ORDER == 0:
            r = tl.maximum(v, 0.0) + tl.log(one + tl.exp(-tl.abs(v)))
        elif ORDER == 1:
            r = s
        elif ORDER == 2:
            r = p
        else:
            r = p * (one - 2.0 * s)
    else:  # swish
        s = _sigmoid(v)
        p = s * (one - s)
        q = one - 2.0 * s
        if ORDER == 0:
            r = v * s
        elif ORDER == 1:
            r = s + v * p
        elif ORDER == 2:
            r = p * (2.0 + v * q)
        else:
            r = p * (q * (3.0 + v * q) - 2.0 * v * p)
    return r


@triton.jit
def _load_v(x_ptr, b_ptr, offs, mask, C, inner, HAS_B: tl.constexpr, F64: tl.constexpr):
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    v = x.to(tl.float64) if F64 else x.to(tl.float32)
    if HAS_B:
        c = (offs // inner) % C
        v += tl.load(b_ptr + c, mask=mask, other=0.0).to(v.dtype)
    return v


@triton.jit
def _fwd_kernel(x_ptr, b_ptr, y_ptr, n, C, inner, alpha, gain, clamp, HAS_B: tl.constexpr, ACT: tl.constexpr,
                CLAMP: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    v = _load_v(x_ptr, b_ptr, offs, mask, C, inner, HAS_B, F64)
    y = act_eval(v, alpha, ACT, 0) * gain
    if CLAMP:
        y = tl.where(y < -clamp, -clamp, tl.where(y > clamp, clamp, y))
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _grad_kernel(dy_ptr, x_ptr, b_ptr, dx_ptr, n, C, inner, alpha, gain, clamp, HAS_B: tl.constexpr,
                 ACT: tl.constexpr, CLAMP: tl.constexpr, ORDER: tl.constexpr, F64: tl.constexpr,
                 BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    v = _load_v(x_ptr, b_ptr, offs, mask, C, inner, HAS_B, F64)
    g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(v.dtype)
    d = g * gain * act_eval(v, alpha, ACT, ORDER)
    if CLAMP:
        y = act_eval(v, alpha, ACT, 0) * gain
        d = tl.where((y < -clamp) | (y > clamp), 0.0, d)
    tl.store(dx_ptr + offs, d.to(dx_ptr.dtype.element_ty), mask=mask)


def _common(x, b, clamp):
    return dict(HAS_B=b is not None, CLAMP=clamp >= 0, F64=x.dtype == torch.float64, BLOCK=BLOCK)


def fwd(x, b, y, outer, C, inner, act, alpha, gain, clamp):
    n = x.numel()
    wrap_triton(_fwd_kernel)[(triton.cdiv(n, BLOCK),)](
        x, b if b is not None else x, y, n, C, inner, alpha, gain, max(clamp, 0.0), ACT=act, **_common(x, b, clamp))


def grad(dy, x, b, dx, outer, C, inner, act, alpha, gain, clamp, order):
    n = x.numel()
    wrap_triton(_grad_kernel)[(triton.cdiv(n, BLOCK),)](
        dy, x, b if b is not None else x, dx, n, C, inner, alpha, gain, max(clamp, 0.0), ACT=act, ORDER=order,
        **_common(x, b, clamp))
