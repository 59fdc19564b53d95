"""Pure-PyTorch reference of every fastgan op: the oracle the kernels are tested against.

Written the way a competent PyTorch user would write each op (vectorised, no Python loops
over pixels or samples), differentiable to any order by autograd. Op modules call into here
for the `ref` backend; tests call it in float64.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

# ------------------------------------------------------------------ bias_act
# name -> (activation, default alpha, default gain)
ACTIVATIONS = {
    "linear": (lambda x, a: x, 0.0, 1.0),
    "relu": (lambda x, a: torch.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": (lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": (lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": (lambda x, a: F.elu(x, a), 1.0, 1.0),
    "selu": (lambda x, a: torch.selu(x), 0.0, 1.0),
    "softplus": (lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": (lambda x, a: x * torch.sigmoid(x), 0.0, math.sqrt(2)),
}


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None, clamp: Optional[float] = None):
    """y = clamp(act(x + b broadcast along dim, alpha) * gain, -clamp, clamp)."""
    fn, def_alpha, def_gain = ACTIVATIONS[act]
    alpha = def_alpha if alpha is None else float(alpha)
    gain = def_gain if gain is None else float(gain)
    if b is not None:
        shape = [1] * x.dim()
        shape[dim] = -1
        x = x + b.reshape(shape)
    y = fn(x, alpha)
    if gain != 1:
        y = y * gain
    if clamp is not None and clamp >= 0:
        y = y.clamp(-clamp, clamp)
    return y


# ------------------------------------------------------------------ upfirdn2d
def parse_scaling(s, name="up"):
    """int or (sx, sy) -> (sx, sy), each an int >= 1."""
    if isinstance(s, int) and not isinstance(s, bool):
        s = (s, s)
    if (not isinstance(s, (list, tuple)) or len(s) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in s)):
        raise ValueError(f"{name} must be an int or a pair of ints (x, y); got {s!r}")
    if min(s) < 1:
        raise ValueError(f"{name} must be >= 1; got {s!r}")
    return int(s[0]), int(s[1])


def parse_padding(p, name="padding"):
    """int, (px, py) or (x0, x1, y0, y1) -> (x0, x1, y0, y1); negative values crop."""
    if isinstance(p, int) and not isinstance(p, bool):
        p = (p, p)
    if not isinstance(p, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in p):
        raise ValueError(f"{name} must be an int, (px, py) or (x0, x1, y0, y1) of ints; got {p!r}")
    if len(p) == 2:
        return int(p[0]), int(p[0]), int(p[1]), int(p[1])
    if len(p) == 4:
        return tuple(int(v) for v in p)
    raise ValueError(f"{name} must have 1, 2 or 4 entries (x0, x1, y0, y1); got {len(p)}: {p!r}")


def filter_size(f):
    """(fw, fh) of a 1-D (separable) or 2-D [fh, fw] filter; None means the 1x1 identity."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1):
    """Upsample by zero insertion, pad (negative crops), FIR filter, keep every down-th sample.

    Written as pad + depthwise conv2d, the way NVlabs' reference path computes it. x: [N, C, H, W];
    f: 2-D [fh, fw], or 1-D applied on both axes (gain split as sqrt per axis); None = identity.
    """
    ux, uy = parse_scaling(up, "up")
    dx, dy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        f = torch.ones(1, 1, dtype=x.dtype, device=x.device)
    n, c, h, w = x.shape
    if ux > 1 or uy > 1:  # zero insertion: every sample followed by up-1 zeros
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, ux - 1, 0, 0, 0, uy - 1])
        x = x.reshape(n, c, h * uy, w * ux)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
    f = f.to(x.dtype) * (gain ** (f.dim() / 2))
    if not flip_filter:  # conv2d correlates; flipping makes it a true convolution
        f = f.flip(list(range(f.dim())))
    if f.dim() == 2:
        x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None].repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::dy, ::dx]


# ------------------------------------------------------------------ pixel_norm
def pixel_norm(x: torch.Tensor, dim: int = 1, eps: float = 1e-8):
    """y = x * rsqrt(mean(x^2 over dim) + eps)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# ------------------------------------------------------------------ minibatch_std
def minibatch_std(x: torch.Tensor, group_size: Optional[int] = 4, num_channels: int = 1, eps: float = 1e-8):
    """StyleGAN2 minibatch standard deviation: [N, C, H, W] -> [N, C + num_channels, H, W].

    Sample n is in group n mod (N/G), G = min(group_size, N) (N when group_size is None)."""
    N, C, H, W = x.shape
    G = N if group_size is None else min(group_size, N)
    F_ = num_channels
    y = x.reshape(G, N // G, F_, C // F_, H, W)
    y = y - y.mean(dim=0)                      # deviation from the group mean
    y = y.square().mean(dim=0)                 # biased variance over the group
    y = (y + eps).sqrt()
    y = y.mean(dim=[2, 3, 4])                  # [N/G, F]
    y = y.reshape(-1, F_, 1, 1).repeat(G, 1, H, W)
    return torch.cat([x, y], dim=1)


# ------------------------------------------------------------------ gradient-penalty reductions
def _acc(g: torch.Tensor) -> torch.Tensor:
    """g in its accumulate dtype (float32 for 16-bit floats): the dtype the reductions return."""
    return g.to(torch.promote_types(g.dtype, torch.float32))


def grad_sq_norm(g: torch.Tensor):
    """Per-sample ||g||^2 over all non-batch dimensions (R1, R2)."""
    return _acc(g).reshape(g.shape[0], -1).square().sum(dim=1)


def grad_norm_penalty(g: torch.Tensor, target: float = 1.0, one_sided: bool = False):
    """Per-sample (||g|| - target)^2, or max(0, ||g|| - target)^2 when one-sided (WGAN-GP)."""
    d = _acc(g).reshape(g.shape[0], -1).norm(dim=1) - target
    if one_sided:
        d = d.clamp(min=0)
    return d.square()


def path_length_norm(g: torch.Tensor):
    """Per-sample sqrt(mean over the ws of sum over w_dim of g^2), g of shape [N, (num_ws,) w_dim]."""
    sq = _acc(g).square().sum(dim=-1)
    return (sq.reshape(g.shape[0], -1).mean(dim=1) if g.dim() > 2 else sq).sqrt()


def lerp_samples(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor):
    """real + alpha[n] * (fake - real) with one alpha per sample (the WGAN-GP interpolates)."""
    a = alpha.reshape([-1] + [1] * (real.dim() - 1))
    return real + a * (fake - real)


# ------------------------------------------------------------------ modulated_conv2d
def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False,
                    upfirdn=None, conv=None, conv_up=None, conv_down=None):
    """conv2d with up/downsampling by the FIR filter f (StyleGAN2's conv2d_resample).

    up > 1: transposed strided convolution, then FIR filtering (gain up**2) [then down];
    down > 1: FIR filtering, then a strided convolution; padding is the convolution's. A 1x1 kernel with
    only one of up/down runs at the lower resolution (filter-and-downsample then the convolution, or the
    convolution then upsample-and-filter), as StyleGAN2 does. flip_weight=True
    correlates with w (PyTorch's convention). `upfirdn` is the upfirdn2d implementation to use, `conv`
    the stride-1 convolution conv(x, w, [py, px], groups) (default F.conv2d), `conv_up` the transposed
    one conv_up(x, wt, stride, [py, px], groups) (default F.conv_transpose2d) and `conv_down` the
    strided one conv_down(x, w, stride, groups) (default F.conv2d, no padding).
    """
    upfirdn = upfirdn or upfirdn2d
    conv = conv or _conv2d
    conv_up = conv_up or _conv_transpose2d
    conv_down = conv_down or _conv2d_strided
    out_c, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:  # room for the filter around the upsampled image
        px0, px1, py0, py1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    if kh == 1 and kw == 1 and (up > 1) != (down > 1):
        # a 1x1 convolution commutes with the per-channel filter: convolve at the lower resolution
        if down > 1:
            x = upfirdn(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
            return conv(x, w, [0, 0], groups)
        x = conv(x, w, [0, 0], groups)
        return upfirdn(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)
    if up > 1:
        wt = w.reshape(groups, out_c // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_c // groups, kh, kw)
        if flip_weight:
            wt = wt.flip([2, 3])
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = conv_up(x, wt, up, [pyt, pxt], groups)
        x = upfirdn(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2, flip_filter=flip_filter)
        if down > 1:
            x = upfirdn(x, f, down=down, flip_filter=flip_filter)
        return x
    wc = w if flip_weight else w.flip([2, 3])
    if down > 1:
        x = upfirdn(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return conv_down(x, wc, down, groups)
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return conv(x, wc, [py0, px0], groups)
    return conv(upfirdn(x, None, padding=[px0, px1, py0, py1]), wc, [0, 0], groups)


def _conv2d(x, w, padding, groups):
    return F.conv2d(x, w, padding=padding, groups=groups)


def _conv_transpose2d(x, w, stride, padding, groups):
    return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)


def _conv2d_strided(x, w, stride, groups):
    return F.conv2d(x, w, stride=stride, groups=groups)


def fp16_prenormalize(weight, styles):
    """StyleGAN2's fp16 overflow guard: scale weight and styles by their infinity norms (demodulation
    cancels the scale)."""
    o, i, kh, kw = weight.shape
    weight = weight * (1 / math.sqrt(i * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
    styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    return weight, styles


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True, bias=None, act="linear", alpha=None, gain=1, clamp=None):
    """StyleGAN2's modulated convolution followed by the synthesis layer's epilogue, unfused.

    weight [O, I, kh, kw] is scaled per sample by styles [N, I] along I, demodulated by
    dcoefs = rsqrt(sum (weight * styles)^2 + 1e-8), convolved (conv2d_resample); then noise, bias and
    bias_act(act, alpha, gain * default gain of act, clamp).
    """
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if demodulate and torch.float16 in (x.dtype, weight.dtype, styles.dtype):
        weight, styles = fp16_prenormalize(weight, styles)
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None
    if fused_modconv:  # per-sample weights, one grouped convolution
        if demodulate:
            w = w * dcoefs.reshape(n, -1, 1, 1, 1)
        y = conv2d_resample(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, i, kh, kw).to(x.dtype), resample_filter,
                            up, down, padding, groups=n, flip_weight=flip_weight)
        y = y.reshape(n, -1, *y.shape[2:])
    else:  # modulate the activations, shared weight, demodulate the output
        y = conv2d_resample(x * styles.to(x.dtype).reshape(n, -1, 1, 1), weight.to(x.dtype), resample_filter, up,
                            down, padding, flip_weight=flip_weight)
        if demodulate:
            y = y * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
    if noise is not None:
        y = y + noise.to(x.dtype)
    def_gain = ACTIVATIONS[act][2]
    return bias_act(y, None if bias is None else bias.to(x.dtype), 1, act, alpha, def_gain * gain, clamp)
