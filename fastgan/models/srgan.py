"""SRGAN's parts (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network"): the SRResNet generator, the discriminator and the
perceptual loss.

* ``SRResNet``: a 9x9 convolution and PReLU; ``n_blocks`` residual blocks
  (conv3x3-BN-PReLU-conv3x3-BN plus a skip; 16 in the paper); conv3x3-BN and a skip
  from the head over the whole body; per x2 of ``scale`` a conv3x3 to 4x the width,
  PixelShuffle(2) and PReLU (x3: one stage with 9x and PixelShuffle(3)); a 9x9
  convolution to the image channels.  Fully convolutional: any input size.
  Images are in [-1, 1] on both sides; the output is linear (clamp for display).
* ``SRDiscriminator``: ``2 * depth`` 3x3 convolutions, pairs of (stride 1, stride 2) at
  widths ``width * 2^i`` (64-64, 128-128, 256-256, 512-512 in the paper), BN on all but
  the first, LeakyReLU(0.2); then dense ``fc`` (1024), LeakyReLU(0.2), dense 1 (a logit;
  the paper's sigmoid is in the loss).  The dense layer fixes the input size ``hr_size``.
* Losses: the content loss is the MSE of pixels or of features of a frozen network
  (:class:`ContentLoss`; VGG19 ``relu5_4`` features rescaled by 1/12.75 in the paper, see
  :mod:`fastgan.models.vgg`); the adversarial loss ``-log D(G(LR))`` weighted by 1e-3.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SRResNet", "SRDiscriminator", "SRResidualBlock", "ContentLoss", "perceptual_loss",
           "discriminator_loss", "adversarial_loss", "upsample_stages", "VGG_FEATURE_SCALE"]

VGG_FEATURE_SCALE = 1 / 12.75   # the paper's rescaling of the VGG feature maps


def _check_int(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


def upsample_stages(scale: int) -> list[int]:
    """The PixelShuffle factors that make up ``scale``: powers of two as x2 stages, 3 as one x3 stage."""
    _check_int("scale", scale, 1)
    if scale == 3:
        return [3]
    if scale & (scale - 1):
        raise ValueError(f"scale must be 3 or a power of two, got {scale}")
    return [2] * int(math.log2(scale))


class SRResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.PReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))

    def forward(self, x):
        return x + self.body(x)


class SRResNet(nn.Module):
    """``[N, channels, h, w] -> [N, channels, scale*h, scale*w]``."""

    def __init__(self, channels: int = 3, scale: int = 4, n_blocks: int = 16, width: int = 64):
        super().__init__()
        self.channels = _check_int("channels", channels, 1)
        self.scale = scale
        _check_int("n_blocks", n_blocks, 0)
        _check_int("width", width, 1)
        stages = upsample_stages(scale)
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[SRResidualBlock(width) for _ in range(n_blocks)],
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        up = []
        for f in stages:
            up += [nn.Conv2d(width, width * f * f, 3, padding=1), nn.PixelShuffle(f), nn.PReLU()]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be [N, {self.channels}, H, W], got shape {tuple(x.shape)}")
        h = self.head(x)
        return self.tail(self.upsample(h + self.body(h)))


class SRDiscriminator(nn.Module):
    """``[N, channels, hr_size, hr_size] -> [N, 1]`` logits."""

    def __init__(self, channels: int = 3, hr_size: int = 96, width: int = 64, depth: int = 4, fc: int = 1024):
        super().__init__()
        _check_int("channels", channels, 1)
        _check_int("width", width, 1)
        _check_int("depth", depth, 1)        # stride-2 convolutions
        _check_int("fc", fc, 1)              # width of the hidden dense layer
        _check_int("hr_size", hr_size, 1)
        if hr_size % 2 ** depth:
            raise ValueError(f"hr_size must be a multiple of 2**depth = {2 ** depth}, got {hr_size}")
        self.channels, self.hr_size = channels, hr_size
        layers, ch = [], channels
        for i in range(depth):
            w = width * 2 ** i
            for stride in (1, 2):
                layers.append(nn.Conv2d(ch, w, 3, stride=stride, padding=1))
                if ch != channels or stride == 2:     # every convolution but the first has BN
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.LeakyReLU(0.2, True))
                ch = w
        side = hr_size // 2 ** depth
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(ch * side * side, fc), nn.LeakyReLU(0.2, True),
                                  nn.Linear(fc, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.hr_size, self.hr_size):
            raise ValueError(f"x must be [N, {self.channels}, {self.hr_size}, {self.hr_size}], "
                             f"got shape {tuple(x.shape)}")
        return self.head(self.features(x))


class ContentLoss(nn.Module):
    """MSE between ``features(sr)`` and ``features(hr)`` times ``feature_scale^2`` (the features
    are rescaled before the MSE); pixel MSE when ``features`` is None.

    The feature network is frozen: no gradients for its parameters, always in eval mode; the
    gradient still flows through it to ``sr``.  ``features(x)`` may return a tensor or a tuple
    whose first item is the feature tensor."""

    def __init__(self, features: nn.Module | None = None, feature_scale: float = 1.0):
        super().__init__()
        if features is not None and not callable(features):
            raise TypeError(f"features must be a module or None, got {type(features).__name__}")
        self.features, self.feature_scale = features, float(feature_scale)
        if isinstance(features, nn.Module):
            features.requires_grad_(False).eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if isinstance(self.features, nn.Module):
            self.features.eval()
        return self

    def _phi(self, x):
        out = self.features(x)
        return (out[0] if isinstance(out, (tuple, list)) else out) * self.feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}")
        if self.features is None:
            return F.mse_loss(sr, hr)
        with torch.no_grad():
            target = self._phi(hr)
        return F.mse_loss(self._phi(sr), target)


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-log D(G(LR))`` averaged, written as ``softplus(-logit)``."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-log D(HR) - log(1 - D(G(LR)))`` averaged."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def perceptual_loss(content: torch.Tensor, fake_logits: torch.Tensor, adversarial_weight: float = 1e-3):
    """The generator's loss ``l_content + 1e-3 * l_adv``; returns ``(loss, {"content", "adv"})``."""
    adv = adversarial_loss(fake_logits)
    return content + adversarial_weight * adv, {"content": content.detach(), "adv": adv.detach()}
