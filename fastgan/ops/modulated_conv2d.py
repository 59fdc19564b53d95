"""modulated_conv2d: StyleGAN2's modulated convolution with the synthesis layer's epilogue fused.

Same argument names and semantics as StyleGAN2-ADA's `modulated_conv2d` plus the epilogue of its
SynthesisLayer (noise, bias, bias_act), so a synthesis layer is one call:

    w = weight * styles[:, None, :, None, None]              per-sample weights [N, O, I, kh, kw]
    dcoefs = rsqrt(sum_{I, kh, kw} w^2 + 1e-8)              (demodulate=True)
    c = conv2d_resample(x, w * dcoefs, resample_filter, up, down, padding, flip_weight)
    y = clamp(act(c + noise + bias) * def_gain(act) * gain, -clamp, clamp)

`up=2` is a transposed convolution followed by FIR filtering with resample_filter; `down=2` FIR
filtering followed by a stride-2 convolution. `gain` multiplies the activation's default gain (as
the SynthesisLayer's `gain` does: lrelu with gain=1 scales by sqrt(2)); `clamp` is absolute.
With fp16 and demodulation, weight and styles are first rescaled by their infinity norms.

The convolution itself is PyTorch's (cuDNN on CUDA, oneDNN on the CPU) except for one CPU case: on the
`cpu` backend a stride-1 3x3 convolution in float32/float64 (every non-resampling synthesis conv, and
D's) runs as Winograd F(4x4, 3x3) (fastgan.ops.cpu_conv.winograd: C++ transforms around PyTorch's batched
GEMM), which does a quarter of the multiplications; STRATEGY["winograd"] = False restores oneDNN.
Likewise the stride-2 3x3 convolutions of up=2 / down=2 layers (transposed before the FIR filter,
strided after it) run by output phase with Winograd F(3, 2) from 8x8 planes up
(fastgan.ops.cpu_conv.winograd_s2, S2_MIN_SIZE; STRATEGY["winograd_s2"] = False restores oneDNN).
The fused backends (`cpu`, `triton`, `cuda`) fuse around the convolution:
- `fused_modconv=False` modulates the activations, x * styles, in one pass (the registered op
  `fastgan::modconv_scale`, whose backward is itself and the per-channel dot product
  `fastgan::modconv_chandot`), convolves with the shared weight, and folds dcoefs into the epilogue;
- `fused_modconv=True` builds per-sample weights weight * styles (without dcoefs), runs one
  grouped convolution, and also folds dcoefs into the epilogue;
- the epilogue `fastgan::modconv_epilogue` computes y from c, dcoefs, noise and bias in one pass
  over the convolution output; its backward `fastgan::modconv_epilogue_grad` produces the
  gradients of c, dcoefs, noise and bias in one pass, and is differentiable again (composed from
  bias_act's derivative ops), so R1 and path-length regularisation differentiate through it.
dcoefs come from the small product styles^2 @ sum_k weight^2 (never materialising w). The CPU
strategy measurements are in benchmarks/RESULTS.md (section modulated_conv2d).
"""
from __future__ import annotations

import functools
from typing import List, Optional

import torch

from . import reference
from ._backend import resolve
from ._common import check_number, check_same, check_tensor, dense, like_layout
from ._op import Kernel, fused_op
from .cpu_conv import gemm, winograd, winograd_s2
from .bias_act import _grad_call as _bias_act_grad
from .upfirdn2d import upfirdn2d

ACTS = tuple(reference.ACTIVATIONS)

# CPU strategy knobs (see the module docstring; benchmarks/op_cases/modulated_conv2d.py measures
# the alternatives by patching this dict): run the convolution in channels_last, where dcoefs
# are applied for fused_modconv=True ("epilogue" or "weights"), and whether stride-1 3x3
# convolutions run as Winograd F(4x4, 3x3) (fastgan.ops.cpu_conv.winograd) instead of oneDNN's direct one.
# "winograd_s2": whether the stride-2 3x3 convolutions of up=2 / down=2 layers (the transposed one before
# the FIR filter, the strided one after it) run by output phase with Winograd F(3, 2)
# (fastgan.ops.cpu_conv.winograd_s2).
# "gemm_1x1": whether unpadded 1x1 float32 convolutions (ToRGB, FromRGB, the resnet D's skips, the phase
# split's odd/odd phase) run as one batched GEMM (fastgan.ops.cpu_conv.gemm.conv1x1) instead of oneDNN. fwd+bwd,
# 2 threads, batch 16, alternating calls (benchmarks/bench_gemm.py): 1.04-1.2x at the D skips, 1.7-1.8x at
# ToRGB's 3 output channels, 1.4-1.5x at FromRGB's 3 inputs. In the bench_train loop (profiled, 2 threads)
# oneDNN's time fell by 62 ms/step and fastgan::bmm's rose by 35.
STRATEGY = {"channels_last": False, "fused_dcoefs": "epilogue", "winograd": True, "winograd_s2": True,
            "gemm_1x1": True}


def _conv_cpu(x, w, padding, groups):
    """The cpu backend's stride-1 convolution: Winograd for 3x3 float32/64 single-group, one batched GEMM
    for an unpadded 1x1 float32 one, else PyTorch's."""
    if STRATEGY["winograd"] and winograd.supported(x, w, groups):
        return winograd.conv2d_3x3(x, w, padding)
    if STRATEGY["gemm_1x1"] and _gemm_1x1_ok(x, w, padding, groups):
        return gemm.conv1x1(x, w)
    return torch.nn.functional.conv2d(x, w, padding=padding, groups=groups)


def _gemm_1x1_ok(x, w, padding, groups):
    return (x.device.type == "cpu" and x.dtype == torch.float32 and w.dtype == x.dtype and x.dim() == 4
            and w.dim() == 4 and tuple(w.shape[1:]) == (x.shape[1], 1, 1) and groups == 1 and not any(padding))


# The phase split pays from 8x8 planes up (the smaller side of the transposed conv's input / the strided conv's
# output); on 4x4 planes its extra passes cost more than the multiplications it saves. fwd+bwd against oneDNN,
# 1 thread, batch 16, 256 channels (scratch timing of winograd_s2 vs F.conv_transpose2d / F.conv2d):
# transposed 0.78x at 4x4, 1.20x at 8x8, 1.19x at 16x16; strided 0.81x, 1.17x, 1.39x.
S2_MIN_SIZE = 8


def _s2_ok(x, w, stride, groups, cin_dim, size):
    return (STRATEGY["winograd_s2"] and stride == 2 and groups == 1 and size >= S2_MIN_SIZE
            and winograd_s2.supported(x, w) and w.shape[cin_dim] == x.shape[1])


def _conv_up_cpu(x, wt, stride, padding, groups):
    """The cpu backend's transposed convolution: by phase (winograd_s2) for stride 2, 3x3, no padding."""
    if _s2_ok(x, wt, stride, groups, 0, min(x.shape[2:])) and list(padding) == [0, 0]:
        return winograd_s2.conv_transpose2d_s2(x, wt)
    return torch.nn.functional.conv_transpose2d(x, wt, stride=stride, padding=padding, groups=groups)


def _conv_down_cpu(x, w, stride, groups):
    """The cpu backend's strided convolution (no padding): by phase (winograd_s2) for stride 2, 3x3."""
    if _s2_ok(x, w, stride, groups, 1, (min(x.shape[2:]) - 1) // 2) and min(x.shape[2:]) >= 3:
        return winograd_s2.conv2d_s2(x, w)
    return torch.nn.functional.conv2d(x, w, stride=stride, groups=groups)


_CPU_CONVS = {"conv": _conv_cpu, "conv_up": _conv_up_cpu, "conv_down": _conv_down_cpu}


def _convs_for(backend):
    """The convolution hooks of reference.conv2d_resample for a backend (PyTorch's own off the cpu backend)."""
    return _CPU_CONVS if backend == "cpu" else {}


# ------------------------------------------------------------------ kernels
# The modulation's scale and channel dot run fused on the cpu backend only (PyTorch's ops elsewhere).
_SCALE = Kernel("modconv_scale", "x: Tensor, s: Tensor, y: Tensor, n: int, c: int, p: int, xs: Strides3, "
                "ys: Strides3", backends=("cpu",))
_CHANDOT = Kernel("modconv_chandot", "a: Tensor, b: Tensor, out: Tensor, n: int, c: int, p: int, as_: Strides3, "
                  "bs: Strides3", backends=("cpu",))
_EPI = Kernel("modconv_epilogue_fwd", "c: Tensor, d: Tensor?, noise: Tensor?, noise_sn: int, b: Tensor?, y: Tensor, "
              "n: int, o: int, p: int, channels_last: bool, act: int, alpha: float, gain: float, clamp: float",
              triton="modulated_conv2d.epilogue_fwd")
_EPI_ARGS = "n: int, o: int, p: int, channels_last: bool, act: int, alpha: float, gain: float, clamp: float"
# The C++ backward reduces dd, dnoise and db in the same pass; the CUDA and Triton ones write
# u = dy * phi'(z) and leave the reductions to PyTorch.
_EPI_GRAD_CPU = Kernel("modconv_epilogue_grad", "dy: Tensor, c: Tensor, d: Tensor?, noise: Tensor?, noise_sn: int, "
                       "b: Tensor?, dc: Tensor, dd: Tensor?, dnoise: Tensor?, db: Tensor?, " + _EPI_ARGS,
                       backends=("cpu",))
_EPI_GRAD = Kernel("modconv_epilogue_grad", "dy: Tensor, c: Tensor, d: Tensor?, noise: Tensor?, noise_sn: int, "
                   "b: Tensor?, dc: Tensor, u: Tensor, " + _EPI_ARGS, backends=("cuda",),
                   triton="modulated_conv2d.epilogue_grad")


# ------------------------------------------------------------------ modulation ops
def _nc_p(t):
    """[N, C, P] element strides of a dense 4-D tensor."""
    return t.stride(0), t.stride(1), t.stride(3)


def _scale_impl(x: torch.Tensor, s: torch.Tensor, channels_last: bool, backend: str) -> torch.Tensor:
    """y[n, c] = x[n, c] * s[n, c], written contiguous or channels_last."""
    x = dense(x)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if backend != "cpu":
        return (x * s[:, :, None, None]).contiguous(memory_format=fmt)
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    if y.numel():
        n, c, h, w = x.shape
        _SCALE(backend, x, s.contiguous(), y, n, c, h * w, _nc_p(x), _nc_p(y))
    return y


def _scale_fake(x, s, channels_last, backend):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=fmt)


def _chandot_impl(a: torch.Tensor, b: torch.Tensor, backend: str) -> torch.Tensor:
    """out[n, c] = sum over pixels of a[n, c] * b[n, c]."""
    if backend != "cpu":
        acc = torch.float64 if a.dtype == torch.float64 else torch.float32
        return (a.to(acc) * b.to(acc)).sum(dim=[2, 3]).to(a.dtype)
    a = dense(a)
    b = like_layout(b, a)
    out = torch.empty(a.shape[:2], dtype=a.dtype, device=a.device)
    if out.numel():
        n, c, h, w = a.shape
        _CHANDOT(backend, a, b, out, n, c, h * w, _nc_p(a), _nc_p(b))
    return out


def _chandot_fake(a, b, backend):
    return a.new_empty(a.shape[:2])


def _scale_setup(ctx, inputs, output):
    x, s, _, backend = inputs
    ctx.save_for_backward(x, s)
    ctx.args = (not dense(x).is_contiguous(), backend)


def _scale_backward(ctx, g):
    x, s = ctx.saved_tensors
    x_cl, backend = ctx.args
    dx = _scale[backend](g, s, x_cl, backend) if ctx.needs_input_grad[0] else None
    ds = _chandot[backend](g, x, backend) if ctx.needs_input_grad[1] else None
    return dx, ds, None, None


def _chandot_setup(ctx, inputs, output):
    a, b, backend = inputs
    ctx.save_for_backward(a, b)
    ctx.args = (backend,)


def _chandot_backward(ctx, g):  # d/da = b * g[n, c], d/db = a * g[n, c]
    a, b = ctx.saved_tensors
    (backend,) = ctx.args
    da = _scale[backend](b, g, not dense(a).is_contiguous(), backend) if ctx.needs_input_grad[0] else None
    db = _scale[backend](a, g, not dense(b).is_contiguous(), backend) if ctx.needs_input_grad[1] else None
    return da, db, None


_scale = fused_op("modconv_scale", _scale_impl, fake=_scale_fake, setup_context=_scale_setup,
                  backward=_scale_backward, triton=False)
_chandot = fused_op("modconv_chandot", _chandot_impl, fake=_chandot_fake, setup_context=_chandot_setup,
                    backward=_chandot_backward, triton=False)


# ------------------------------------------------------------------ epilogue ops
def _epi_sizes(c, noise):
    """(noise row stride, n, o, p, channels_last) of a dense convolution output c."""
    n, o, h, w = c.shape
    nsn = 0 if noise is None or noise.shape[0] == 1 else h * w
    return nsn, n, o, h * w, not c.is_contiguous()


def _epi_fwd_impl(c: torch.Tensor, d: Optional[torch.Tensor], noise: Optional[torch.Tensor], b: Optional[torch.Tensor],
                  act: str, alpha: float, gain: float, clamp: float, backend: str) -> torch.Tensor:
    """y = clamp(gain * act(c * d[n, o] + noise[n, p] + b[o])); noise is [N or 1, H * W]."""
    c = dense(c)
    y = torch.empty_like(c)
    if c.numel():
        nsn, *sizes = _epi_sizes(c, noise)
        _EPI(backend, c, d, noise, nsn, b, y, *sizes, ACTS.index(act), alpha, gain, clamp)
    return y


def _epi_grad_impl(dy: torch.Tensor, c: torch.Tensor, d: Optional[torch.Tensor], noise: Optional[torch.Tensor],
                   b: Optional[torch.Tensor], act: str, alpha: float, gain: float, clamp: float,
                   backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dc, dd, dnoise, db) of the epilogue; empty tensors for absent operands."""
    c = dense(c)
    dy = like_layout(dy, c)
    nsn, n, o, p, cl = _epi_sizes(c, noise)
    dc = torch.empty_like(c)
    dd = torch.empty_like(d) if d is not None else c.new_empty(0)
    dn = c.new_empty(n, p) if noise is not None else c.new_empty(0)
    db = torch.empty_like(b) if b is not None else c.new_empty(0)
    if c.numel() == 0:
        return dc, dd.zero_(), dn.zero_(), db.zero_()
    args = (n, o, p, cl, ACTS.index(act), alpha, gain, clamp)
    if backend == "cpu":
        _EPI_GRAD_CPU(backend, dy, c, d, noise, nsn, b, dc, dd if d is not None else None,
                      dn if noise is not None else None, db if b is not None else None, *args)
    else:
        u = torch.empty_like(c)
        _EPI_GRAD(backend, dy, c, d, noise, nsn, b, dc, u, *args)
        acc = torch.float64 if c.dtype == torch.float64 else torch.float32
        if d is not None:
            dd = (u.to(acc) * c.to(acc)).sum(dim=[2, 3]).to(c.dtype)
        if noise is not None:
            dn = u.sum(dim=1, dtype=acc).reshape(n, p).to(c.dtype)
        if b is not None:
            db = u.sum(dim=[0, 2, 3], dtype=acc).to(c.dtype)
    if noise is not None and noise.shape[0] == 1:
        dn = dn.sum(dim=0, keepdim=True)
    return dc, dd, dn, db


def _epi_fake(c, d, noise, b, act, alpha, gain, clamp, backend):
    return torch.empty_like(dense(c))


def _epi_grad_fake(dy, c, d, noise, b, act, alpha, gain, clamp, backend):
    return (torch.empty_like(dense(c)), torch.empty_like(d) if d is not None else c.new_empty(0),
            torch.empty_like(noise) if noise is not None else c.new_empty(0),
            torch.empty_like(b) if b is not None else c.new_empty(0))


def _epi_setup(ctx, inputs, output):
    c, d, noise, b, act, alpha, gain, clamp, backend = inputs
    ctx.save_for_backward(c, d, noise, b)
    ctx.args = (act, alpha, gain, clamp, backend)


def _epi_backward(ctx, dy):
    c, d, noise, b = ctx.saved_tensors
    dc, dd, dn, db = _epi_grad[ctx.args[-1]](dy, c, d, noise, b, *ctx.args)
    return (dc, dd if d is not None else None, dn if noise is not None else None, db if b is not None else None,
            None, None, None, None, None)




def _epi_grad_setup(ctx, inputs, output):
    dy, c, d, noise, b, act, alpha, gain, clamp, backend = inputs
    ctx.save_for_backward(dy, c, d, noise, b)
    ctx.args = (act, alpha, gain, clamp, backend)


def _epi_grad_backward(ctx, g_dc, g_dd, g_dn, g_db):
    """Derivative of (dc, dd, dnoise, db) = (u d, sum_p u c, sum_o u, sum u) with u = dy phi'(z):
    with G = g_dc d + g_dd c + g_dn + g_db (the gradient reaching u) and H = G dy phi''(z):
    d/d dy = G phi'(z); d/dc = H d + g_dd u; d/dd = sum_p (H c + g_dc u); d/dnoise = sum_o H; d/db = sum H.
    Composed of differentiable ops (bias_act's derivative ops), so it differentiates again."""
    dy, c, d, noise, b = ctx.saved_tensors
    act, alpha, gain, clamp, backend = ctx.args
    n, o, h, w = c.shape
    dv = d.reshape(n, o, 1, 1) if d is not None else None
    nz = noise.reshape(-1, 1, h, w) if noise is not None else None
    bv = b.reshape(1, o, 1, 1) if b is not None else None
    z = c if dv is None else c * dv
    if nz is not None:
        z = z + nz
    if bv is not None:
        z = z + bv
    has = lambda g: g is not None and g.numel() > 0  # noqa: E731  (absent outputs arrive as None or empty)
    g_dc, g_dd = (g_dc if has(g_dc) else None), (g_dd if has(g_dd) and d is not None else None)
    g_dn, g_db = (g_dn if has(g_dn) and noise is not None else None), (g_db if has(g_db) and b is not None else None)
    terms = []
    if g_dc is not None:
        terms.append(g_dc if dv is None else g_dc * dv)
    if g_dd is not None:
        terms.append(g_dd.reshape(n, o, 1, 1) * c)
    if g_dn is not None:
        terms.append(g_dn.reshape(-1, 1, h, w))
    if g_db is not None:
        terms.append(g_db.reshape(1, o, 1, 1))
    if not terms:
        return (None,) * 10
    G = functools.reduce(torch.add, terms).expand(n, o, h, w)

    def phi(g, order):  # g * phi^(order)(z), the clamp mask included
        return _bias_act_grad(g, z, None, 1, act, alpha, gain, clamp, order, backend)[0]

    d_dy = phi(G, 1)
    H = phi(G * dy, 2)
    u = phi(dy, 1) if d is not None and (g_dc is not None or g_dd is not None) else None
    d_c = H if dv is None else H * dv
    if g_dd is not None:
        d_c = d_c + g_dd.reshape(n, o, 1, 1) * u
    d_d = d_n = d_b = None
    if d is not None:
        t = H * c if g_dc is None else H * c + g_dc * u
        d_d = t.sum(dim=[2, 3])
    if noise is not None:
        d_n = H.sum(dim=1).reshape(n, h * w)
        if noise.shape[0] == 1:
            d_n = d_n.sum(dim=0, keepdim=True)
    if b is not None:
        d_b = H.sum(dim=[0, 2, 3])
    return d_dy, d_c, d_d, d_n, d_b, None, None, None, None, None


_epi = fused_op("modconv_epilogue", _epi_fwd_impl, fake=_epi_fake, setup_context=_epi_setup, backward=_epi_backward)
_epi_grad = fused_op("modconv_epilogue_grad", _epi_grad_impl, fake=_epi_grad_fake, setup_context=_epi_grad_setup,
                     backward=_epi_grad_backward)


# ------------------------------------------------------------------ public API
def _check_args(x, weight, styles, noise, up, down, padding, resample_filter, bias, act, alpha, gain, clamp):
    check_tensor(x, "x", ndim=(4,))
    check_tensor(weight, "weight", ndim=(4,))
    check_tensor(styles, "styles", ndim=(2,))
    n, i = x.shape[:2]
    o, wi, kh, kw = weight.shape
    if wi != i:
        raise ValueError(f"weight has {wi} input channels but x has {i}")
    if tuple(styles.shape) != (n, i):
        raise ValueError(f"styles must have shape [N, C_in] = [{n}, {i}], got {tuple(styles.shape)}")
    for name, v in (("up", up), ("down", down)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    padding = reference.parse_padding(padding)
    for name, t in (("weight", weight), ("styles", styles), ("noise", noise), ("bias", bias),
                    ("resample_filter", resample_filter)):
        if t is not None:
            check_tensor(t, name)
            if t.device != x.device:
                raise ValueError(f"{name} is on {t.device} but x is on {x.device}")
    if resample_filter is not None and resample_filter.dim() not in (1, 2):
        raise ValueError(f"resample_filter must be a 1-D or 2-D filter, got shape {tuple(resample_filter.shape)}")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"bias must have shape [C_out] = [{o}], got {tuple(bias.shape)}")
    if not isinstance(act, str) or act not in reference.ACTIVATIONS:
        raise ValueError(f"act must be one of {', '.join(ACTS)}; got {act!r}")
    _, def_alpha, def_gain = reference.ACTIVATIONS[act]
    alpha = def_alpha if alpha is None else check_number(alpha, "alpha")
    gain = check_number(gain, "gain")
    clamp = check_number(clamp, "clamp", nonneg=True, allow_none=True)
    return padding, alpha, def_gain * gain, clamp


def _noise_shape(noise, n, oh, ow):
    """noise's shape as 4 dims; ValueError unless it broadcasts to [N, 1, OH, OW]."""
    shape = (1,) * (4 - noise.dim()) + tuple(noise.shape) if noise.dim() <= 4 else None
    if shape is None or shape[0] not in (1, n) or shape[1] != 1 or shape[2] not in (1, oh) or shape[3] not in (1, ow):
        raise ValueError(f"noise must broadcast to [N, 1, H_out, W_out] = [{n}, 1, {oh}, {ow}], "
                         f"got {tuple(noise.shape)}")
    return shape


def _noise_rows(noise, n, oh, ow, dtype):
    """noise (broadcastable to [N, 1, OH, OW]) as contiguous [N or 1, OH * OW] rows."""
    shape = _noise_shape(noise, n, oh, ow)
    rows = n if shape[0] == n else 1
    return noise.to(dtype).reshape(shape).expand(rows, 1, oh, ow).reshape(rows, oh * ow).contiguous()


def _dcoefs(weight, styles):
    """rsqrt(sum_{i,k} (weight[o, i, k] styles[n, i])^2 + 1e-8) = rsqrt(styles^2 @ sum_k weight^2 + 1e-8)."""
    acc = torch.promote_types(weight.dtype, styles.dtype)
    acc = torch.float64 if acc == torch.float64 else torch.float32
    wsq = weight.to(acc).square().sum(dim=[2, 3])  # [O, I]
    return (styles.to(acc).square() @ wsq.t() + 1e-8).rsqrt()


def _axis_out(size, k, fsz, p0, p1, up, down):
    """Output length of conv2d_resample along one axis (follows reference.conv2d_resample)."""
    if up > 1:
        p0, p1 = p0 + (fsz + up - 1) // 2, p1 + (fsz - up) // 2
    if down > 1:
        p0, p1 = p0 + (fsz - down + 1) // 2, p1 + (fsz - down) // 2
    if up > 1:
        p0, p1 = p0 - (k - 1), p1 - (k - up)
        pt = max(min(-p0, -p1), 0)
        t = (size - 1) * up + k - 2 * pt + (p0 + pt) + (p1 + pt) - fsz + 1
        return (t - fsz) // down + 1 if down > 1 else t
    if down > 1:
        return (size + p0 + p1 - fsz + 1 - k) // down + 1
    return size + p0 + p1 - k + 1


def out_size(x_shape, w_shape, f, up, down, padding):
    """(H_out, W_out) of modulated_conv2d."""
    fw, fh = reference.filter_size(f)
    px0, px1, py0, py1 = padding
    return (_axis_out(x_shape[2], w_shape[2], fh, py0, py1, up, down),
            _axis_out(x_shape[3], w_shape[3], fw, px0, px1, up, down))


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: Optional[torch.Tensor] = None,
                     up: int = 1, down: int = 1, padding=0, resample_filter: Optional[torch.Tensor] = None,
                     demodulate: bool = True, flip_weight: bool = True, fused_modconv: bool = True,
                     bias: Optional[torch.Tensor] = None, act: str = "linear", alpha: Optional[float] = None,
                     gain: float = 1, clamp: Optional[float] = None, impl: Optional[str] = None) -> torch.Tensor:
    """Modulated convolution + synthesis-layer epilogue (see the module docstring).

    Args:
        x: [N, C_in, H, W] activations (float32/64/16, bfloat16; contiguous or channels_last).
        weight: [C_out, C_in, kh, kw] shared weight. styles: [N, C_in] per-sample input scales.
        noise: added after the convolution, broadcastable to [N, 1, H_out, W_out] (already scaled by its
            strength), or None.
        up, down: 1 or an integer factor; resample_filter: the FIR filter of the resampling (None: identity).
        padding: the convolution's padding: int, (px, py) or (x0, x1, y0, y1).
        demodulate: normalise each output channel by dcoefs. flip_weight: True correlates with weight as
            PyTorch does (StyleGAN2 passes up == 1). fused_modconv: strategy (results agree to tolerance).
        bias: [C_out] or None. act, alpha, clamp: as bias_act; gain multiplies act's default gain.
        impl: backend (ref, cpu, triton, cuda, auto).
    """
    padding, alpha, total_gain, clamp = _check_args(x, weight, styles, noise, up, down, padding, resample_filter,
                                                    bias, act, alpha, gain, clamp)
    backend = resolve("modulated_conv2d", impl, x.device)
    oh, ow = out_size(x.shape, weight.shape, resample_filter, up, down, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"modulated_conv2d: padding {padding} leaves an empty output ({oh} x {ow}) for x of shape "
                         f"{tuple(x.shape)} and weight of shape {tuple(weight.shape)}")
    if noise is not None:
        _noise_shape(noise, x.shape[0], oh, ow)
    if backend == "ref":
        return reference.modulated_conv2d(x, weight, styles, noise, up, down, padding, resample_filter, demodulate,
                                          flip_weight, fused_modconv, bias, act, alpha, gain, clamp)
    return _fused(x, weight, styles, noise, up, down, padding, resample_filter, demodulate, flip_weight,
                  fused_modconv, bias, act, alpha, total_gain, clamp, backend)


def _fused(x, weight, styles, noise, up, down, padding, f, demodulate, flip_weight, fused_modconv, bias, act, alpha,
           gain, clamp, backend):
    n, i, h, w = x.shape
    o, _, kh, kw = weight.shape
    if demodulate and torch.float16 in (x.dtype, weight.dtype, styles.dtype):
        weight, styles = reference.fp16_prenormalize(weight, styles)
    dcoefs = _dcoefs(weight, styles) if demodulate else None
    upf = functools.partial(upfirdn2d, impl=backend)
    cl = STRATEGY["channels_last"] and backend == "cpu"
    if fused_modconv:
        wn = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
        if dcoefs is not None and STRATEGY["fused_dcoefs"] == "weights":
            wn, dcoefs = wn * dcoefs.reshape(n, -1, 1, 1, 1), None
        xg = x.reshape(1, n * i, h, w)
        c = reference.conv2d_resample(xg, wn.reshape(n * o, i, kh, kw).to(x.dtype), f, up, down, padding, groups=n,
                                      flip_weight=flip_weight, upfirdn=upf, **_convs_for(backend))
        c = c.reshape(n, o, *c.shape[2:])
    else:
        xs = _scale[backend](x, styles.to(x.dtype), cl, backend)
        wx = weight.to(x.dtype)
        if cl:
            wx = wx.contiguous(memory_format=torch.channels_last)
        c = reference.conv2d_resample(xs, wx, f, up, down, padding, flip_weight=flip_weight, upfirdn=upf,
                                      **_convs_for(backend))
    oh, ow = c.shape[2:]
    nz = _noise_rows(noise, n, oh, ow, c.dtype) if noise is not None else None
    d = dcoefs.to(c.dtype) if dcoefs is not None else None
    b = bias.to(c.dtype) if bias is not None else None
    return _epi[backend](c, d, nz, b, act, alpha, gain, -1.0 if clamp is None else clamp, backend)


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False, impl=None):
    """StyleGAN2's conv2d_resample (see reference.conv2d_resample) with upfirdn2d on the chosen backend."""
    backend = resolve("upfirdn2d", impl, x.device)
    upf = functools.partial(upfirdn2d, impl=backend)
    return reference.conv2d_resample(x, w, f, up, down, padding, groups, flip_weight, flip_filter, upfirdn=upf,
                                     **_convs_for(backend))
