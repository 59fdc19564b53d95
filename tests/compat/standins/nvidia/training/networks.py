"""Stand-in for training.networks (stylegan2-ada): modulated_conv2d and a tiny network using every op."""
import collections
import math

import torch

from torch_utils.ops import bias_act, conv2d_resample, fma, upfirdn2d

CALLS = collections.Counter()


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True):
    """Weights scaled per sample by styles, demodulated by rsqrt(sum w^2 + 1e-8), conv2d_resample, + noise."""
    CALLS["modulated_conv2d"] += 1
    return _modconv(x, weight, styles, noise, up, down, padding, resample_filter, demodulate, flip_weight,
                    fused_modconv)


def _modconv(x, weight, styles, noise, up, down, padding, resample_filter, demodulate, flip_weight, fused_modconv):
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:  # keep the fp16 products in range (demodulation cancels it)
        weight = weight / (math.sqrt(i * kh * kw) * weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)
    wmod = weight[None] * styles[:, None, :, None, None]
    d = (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None
    if fused_modconv:
        if demodulate:
            wmod = wmod * d[:, :, None, None, None]
        xg, wg = x.reshape(1, n * i, *x.shape[2:]), wmod.reshape(n * o, i, kh, kw).to(x.dtype)
        y = conv2d_resample.conv2d_resample(xg, wg,
                                            f=resample_filter, up=up, down=down, padding=padding, groups=n,
                                            flip_weight=flip_weight)
        y = y.reshape(n, o, *y.shape[2:])
        return y if noise is None else y + noise
    y = conv2d_resample.conv2d_resample(x * styles.to(x.dtype)[:, :, None, None], weight.to(x.dtype), f=resample_filter,
                                        up=up, down=down, padding=padding, flip_weight=flip_weight)
    if demodulate and noise is not None:
        return fma.fma(y, d.to(x.dtype)[:, :, None, None], noise.to(x.dtype))
    if demodulate:
        return y * d.to(x.dtype)[:, :, None, None]
    return y if noise is None else y + noise.to(x.dtype)


class TinyNet(torch.nn.Module):
    """A generator-then-discriminator chain through every op of the stand-in tree (8x8 -> 16x16 -> score)."""

    def __init__(self, c=5, w_dim=6):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("f", upfirdn2d.setup_filter([1, 3, 3, 1]))
        self.affine = torch.nn.Parameter(torch.randn(w_dim, c, generator=g) * 0.5)
        self.w_up = torch.nn.Parameter(torch.randn(c, c, 3, 3, generator=g))
        self.w_rgb = torch.nn.Parameter(torch.randn(3, c, 1, 1, generator=g))
        self.b = torch.nn.Parameter(torch.randn(c, generator=g) * 0.1)
        self.w_down = torch.nn.Parameter(torch.randn(4, 3, 3, 3, generator=g) * 0.3)
        self.fc = torch.nn.Parameter(torch.randn(4, generator=g) * 0.1)

    def forward(self, x, w, noise, fused_modconv=False):
        s = bias_act.bias_act(w @ self.affine, None, act="linear", gain=1.0) + 1
        y = modulated_conv2d(x, self.w_up, s, noise=noise, up=2, padding=1, resample_filter=self.f,
                             flip_weight=False, fused_modconv=fused_modconv)
        y = bias_act.bias_act(y, self.b, act="lrelu", clamp=3.0)
        rgb = modulated_conv2d(y, self.w_rgb, s, demodulate=False, fused_modconv=fused_modconv)
        rgb = rgb + upfirdn2d.upsample2d(x[:, :3], self.f)
        rgb = upfirdn2d.filter2d(rgb, self.f)
        h = conv2d_resample.conv2d_resample(rgb, self.w_down, f=self.f, down=2, padding=1)
        h = bias_act.bias_act(h, self.fc, act="swish") + upfirdn2d.downsample2d(rgb, self.f)[:, :1]
        h = upfirdn2d.upfirdn2d(h, self.f, padding=[2, 1, 1, 2])
        return fma.fma(h, h, h).mean(dim=[1, 2, 3])
