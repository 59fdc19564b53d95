"""StyleGAN2's networks (Karras et al., 2020, "Analyzing and Improving the Image Quality of
StyleGAN") on fastgan's layers and ops.

* :class:`MappingNetwork`: z -> pixel_norm -> ``depth`` equalized FC layers with lrelu and an
  lr multiplier of 0.01 -> w; optional class embedding (pixel_norm'ed and concatenated to z);
  ``w_avg`` tracked with β = 0.995 while training; truncation ``w_avg + ψ (w - w_avg)`` on the
  first ``trunc_cutoff`` layers.
* :class:`SynthesisNetwork`: a learned 4x4 constant, then per resolution two modulated 3x3
  convolutions with demodulation (the first upsampling by 2 with the [1,3,3,1] filter), noise
  injection with a learned strength, and ToRGB (no demodulation).  ``arch="skip"`` sums the
  upsampled RGB of every resolution; ``"orig"`` uses the last ToRGB only.
* :class:`Discriminator`: FromRGB, blocks of two 3x3 convs (the second downsampling by 2 with
  the FIR filter) with a 1x1 residual skip scaled by sqrt(1/2) in ``arch="resnet"``; the
  epilogue is minibatch_std (group 4, one channel), a 3x3 conv, an FC layer and the output
  (projection onto a class embedding when conditional: as in StyleGAN2-ADA, the label's embedding
  is pixel_norm'ed and passed through ``mapping_layers`` lrelu FC layers with the mapping network's
  lr multiplier 0.01).

Every computation goes through ``fastgan.ops`` (directly or via ``fastgan.nn``), so the
backend (``impl=`` of the ops, ``fastgan.ops.use_backend``) switches the whole model.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import nn as fnn
from .. import ops
from ..ops.upfirdn2d import setup_filter, upsample2d

__all__ = ["MappingNetwork", "SynthesisNetwork", "Generator", "Discriminator", "channels_for"]

_FILTER = [1, 3, 3, 1]


def channels_for(res: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at resolution ``res``: min(channel_base // res, channel_max)."""
    return max(1, min(channel_base // res, channel_max))


def _check_res(resolution: int) -> int:
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution!r}")
    return int(math.log2(resolution))


# ---------------------------------------------------------------------------------- mapping
class MappingNetwork(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, depth=8, lr_mul=0.01, w_avg_beta=0.995,
                 embed_features=None, layer_features=None):
        super().__init__()
        if depth < 1:
            raise ValueError(f"mapping depth must be >= 1, got {depth}")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        self.embed = fnn.EqualizedLinear(c_dim, embed_features) if c_dim else None
        feats = [z_dim + (embed_features if c_dim else 0)] + [layer_features] * (depth - 1) + [w_dim]
        self.fc = nn.ModuleList(fnn.EqualizedLinear(a, b, activation="lrelu", lr_multiplier=lr_mul)
                                for a, b in zip(feats[:-1], feats[1:]))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, c=None, psi=1.0, trunc_cutoff=None, update_w_avg=None):
        """ws [N, num_ws, w_dim]; ``psi`` < 1 truncates towards w_avg on the first
        ``trunc_cutoff`` layers (all when None).  w_avg is updated while training."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {tuple(z.shape)}")
        x = ops.pixel_norm(z, dim=1)
        if self.c_dim:
            if c is None or c.dim() != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"c must be one-hot labels of shape [N, {self.c_dim}]")
            y = ops.pixel_norm(self.embed(c.to(x.dtype)), dim=1)
            x = torch.cat([x, y], dim=1)
        for layer in self.fc:
            x = layer(x)
        if self.training if update_w_avg is None else update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).to(self.w_avg.dtype).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            w_avg = self.w_avg.to(ws.dtype)
            if trunc_cutoff is None:
                ws = w_avg.lerp(ws, psi)
            else:
                ws = torch.cat([w_avg.lerp(ws[:, :trunc_cutoff], psi), ws[:, trunc_cutoff:]], dim=1)
        return ws


# ---------------------------------------------------------------------------------- synthesis
def block_dtype(use_fp16: bool, device: torch.device) -> torch.dtype:
    """A block's compute dtype: float16 for the blocks chosen by num_fp16_res, on CUDA (or anywhere while
    FP16_ON_CPU is set, which the tests use), else float32."""
    return torch.float16 if use_fp16 and (device.type == "cuda" or FP16_ON_CPU) else torch.float32


FP16_ON_CPU = False  # run the fp16 blocks in float16 on the CPU too (slow; for tests)


class SynthesisBlock(nn.Module):
    def __init__(self, cin, cout, w_dim, res, img_channels, is_last, arch="skip", conv_clamp=None, use_fp16=False):
        super().__init__()
        self.cin, self.res, self.arch, self.is_last, self.use_fp16 = cin, res, arch, is_last, use_fp16
        if cin == 0:
            self.const = nn.Parameter(torch.randn(cout, res, res))
        else:
            self.conv0 = fnn.ModulatedConv2d(cin, cout, w_dim, resolution=res, up=2, resample_filter=_FILTER,
                                             conv_clamp=conv_clamp)
        self.conv1 = fnn.ModulatedConv2d(cout, cout, w_dim, resolution=res, conv_clamp=conv_clamp)
        self.torgb = (fnn.ToRGB(cout, img_channels, w_dim, conv_clamp=conv_clamp)
                      if is_last or arch == "skip" else None)
        self.register_buffer("resample_filter", setup_filter(_FILTER), persistent=False)
        self.num_conv = 1 if cin == 0 else 2
        self.num_ws = self.num_conv + (1 if self.torgb is not None else 0)

    def forward(self, x, img, ws, noise_mode="random"):
        i = 0
        dtype = block_dtype(self.use_fp16, ws.device) if ws.dtype == torch.float32 else ws.dtype
        if self.cin == 0:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x.to(dtype), ws[:, i], noise_mode=noise_mode)
            i += 1
        x = self.conv1(x, ws[:, i], noise_mode=noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter.to(img.dtype))
        if self.torgb is not None:  # the image stays in the ws' dtype (float32) whatever the block's dtype
            y = self.torgb(x, ws[:, i + 1]).to(ws.dtype)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim, resolution, img_channels, channel_base=32768, channel_max=512, arch="skip",
                 conv_clamp=None, num_fp16_res=0):
        super().__init__()
        if arch not in ("skip", "orig"):
            raise ValueError(f"generator arch must be 'skip' or 'orig', got {arch!r}")
        top = _check_res(resolution)
        self.w_dim, self.resolution, self.img_channels = w_dim, resolution, img_channels
        self.resolutions = [2 ** i for i in range(2, top + 1)]
        ch = {r: channels_for(r, channel_base, channel_max) for r in self.resolutions}
        fp16_from = 2 ** max(top + 1 - int(num_fp16_res), 3)  # fp16 on the num_fp16_res highest resolutions
        self.blocks = nn.ModuleList()
        for r in self.resolutions:
            self.blocks.append(SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels,
                                              is_last=r == resolution, arch=arch, conv_clamp=conv_clamp,
                                              use_fp16=num_fp16_res > 0 and r >= fp16_from))
        # a block's ToRGB shares its w index with the next block's first conv (as in the paper)
        self.num_ws = sum(b.num_conv for b in self.blocks) + 1

    def forward(self, ws, noise_mode="random"):
        if ws.dim() != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be random, const or none, got {noise_mode!r}")
        x = img = None
        i = 0
        for b in self.blocks:
            x, img = b(x, img if b.arch == "skip" else None, ws[:, i:i + b.num_ws], noise_mode)
            i += b.num_conv
        return img


class Generator(nn.Module):
    """``G(z, c=None, psi=1, trunc_cutoff=None, noise_mode="random")`` -> images."""

    def __init__(self, z_dim, c_dim, w_dim, resolution, img_channels, mapping_layers=8, channel_base=32768,
                 channel_max=512, arch="skip", conv_clamp=None, lr_mul=0.01, w_avg_beta=0.995, num_fp16_res=0):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.synthesis = SynthesisNetwork(w_dim, resolution, img_channels, channel_base, channel_max, arch,
                                          conv_clamp, num_fp16_res)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, mapping_layers, lr_mul, w_avg_beta)

    def forward(self, z, c=None, psi=1.0, trunc_cutoff=None, noise_mode="random"):
        return self.synthesis(self.mapping(z, c, psi, trunc_cutoff), noise_mode)


# ---------------------------------------------------------------------------------- discriminator
class DiscriminatorBlock(nn.Module):
    def __init__(self, cin, ctmp, cout, img_channels, arch="resnet", conv_clamp=None, use_fp16=False):
        super().__init__()
        self.arch, self.use_fp16 = arch, use_fp16
        self.fromrgb = fnn.EqualizedConv2d(img_channels, ctmp, 1, activation="lrelu", conv_clamp=conv_clamp) \
            if cin == 0 else None
        self.conv0 = fnn.EqualizedConv2d(ctmp, ctmp, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = fnn.EqualizedConv2d(ctmp, cout, 3, activation="lrelu", down=2, resample_filter=_FILTER,
                                         conv_clamp=conv_clamp)
        self.skip = (fnn.EqualizedConv2d(ctmp, cout, 1, bias=False, down=2, resample_filter=_FILTER)
                     if arch == "resnet" else None)

    def forward(self, x, img):
        dtype = block_dtype(self.use_fp16, img.device) if img.dtype == torch.float32 else img.dtype
        if self.fromrgb is not None:
            x = self.fromrgb(img.to(dtype))
        x = x.to(dtype)
        if self.skip is not None:
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
            return y + x
        return self.conv1(self.conv0(x))


class Discriminator(nn.Module):
    """``D(img, c=None)`` -> logits [N, 1]; projection discriminator when ``c_dim > 0``."""

    def __init__(self, c_dim, resolution, img_channels, channel_base=32768, channel_max=512, arch="resnet",
                 mbstd_group=4, mbstd_channels=1, conv_clamp=None, cmap_dim=None, mapping_layers=8,
                 num_fp16_res=0, mapping_lr_mul=0.01):
        super().__init__()
        if arch not in ("resnet", "orig"):
            raise ValueError(f"discriminator arch must be 'resnet' or 'orig', got {arch!r}")
        top = _check_res(resolution)
        self.c_dim, self.resolution, self.img_channels = c_dim, resolution, img_channels
        res = [2 ** i for i in range(top, 2, -1)]
        ch = {r: channels_for(r, channel_base, channel_max) for r in res + [4]}
        fp16_from = 2 ** max(top + 1 - int(num_fp16_res), 3)
        self.blocks = nn.ModuleList(DiscriminatorBlock(0 if r == resolution else ch[r], ch[r], ch[r // 2],
                                                       img_channels, arch, conv_clamp,
                                                       use_fp16=num_fp16_res > 0 and r >= fp16_from)
                                    for r in res)
        c4 = ch[4]
        self.fromrgb4 = (fnn.EqualizedConv2d(img_channels, c4, 1, activation="lrelu", conv_clamp=conv_clamp)
                         if resolution == 4 else None)
        self.cmap_dim = (c4 if cmap_dim is None else cmap_dim) if c_dim else 0
        if c_dim:
            if mapping_layers < 0:
                raise ValueError(f"mapping_layers must be >= 0, got {mapping_layers}")
            # c -> embedding (lr 1) -> pixel_norm -> mapping_layers lrelu FC layers (lr mapping_lr_mul): the
            # z-less mapping network of StyleGAN2-ADA's conditional D
            self.c_embed = fnn.EqualizedLinear(c_dim, self.cmap_dim)
            self.c_mapping = nn.ModuleList(fnn.EqualizedLinear(self.cmap_dim, self.cmap_dim, activation="lrelu",
                                                               lr_multiplier=mapping_lr_mul)
                                           for _ in range(mapping_layers))
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        self.conv = fnn.EqualizedConv2d(c4 + mbstd_channels, c4, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = fnn.EqualizedLinear(c4 * 16, c4, activation="lrelu")
        self.out = fnn.EqualizedLinear(c4, self.cmap_dim or 1)

    def forward(self, img, c=None):
        if img.dim() != 4 or img.shape[1:] != (self.img_channels, self.resolution, self.resolution):
            raise ValueError(f"img must have shape [N, {self.img_channels}, {self.resolution}, "
                             f"{self.resolution}], got {tuple(img.shape)}")
        x = self.fromrgb4(img) if self.fromrgb4 is not None else None
        for b in self.blocks:
            x = b(x, img)
        if x is not None:
            x = x.to(img.dtype)  # the epilogue runs in float32
        if self.mbstd_group and self.mbstd_channels:
            x = ops.minibatch_std(x, self.mbstd_group, self.mbstd_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.c_dim:
            if c is None or c.dim() != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"c must be one-hot labels of shape [N, {self.c_dim}]")
            cmap = ops.pixel_norm(self.c_embed(c.to(x.dtype)), dim=1)
            for layer in self.c_mapping:
                cmap = layer(cmap)
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x
