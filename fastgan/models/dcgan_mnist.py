"""``dcgan-mnist``: the source's Keras DCGAN for MNIST, layer for layer.

Discriminator (213,633 weights counted the Keras way, i.e. with BatchNorm's
moving mean and variance; 213,249 of them trainable):

1. Conv(1->64, 5x5, stride 2, "same", bias) -> LeakyReLU(0.1) -> Dropout -> BatchNorm;
2. Conv(64->128, 5x5, stride 2, "same", bias) -> LeakyReLU(0.1) -> Dropout -> BatchNorm;
3. Flatten -> Dense(6272 -> 1) -> Sigmoid.

Generator (2,963,328 weights, 25,856 non-trainable BatchNorm statistics):

1. z in R^100 -> Dense(12544, bias) -> Dropout -> LeakyReLU(0.1) -> BatchNorm -> 256x7x7;
2. ConvT(256->128, 5x5, s1, no bias) -> BN -> Dropout -> LeakyReLU(0.1);
3. ConvT(128->128, 5x5, s2, no bias) -> BN -> Dropout -> LeakyReLU(0.1);   (14x14)
4. ConvT(128->128, 5x5, s1, no bias) -> BN -> Dropout -> LeakyReLU(0.1);
5. ConvT(128->1, 7x7, s2, no bias) -> Tanh                                  (28x28).

Keras details kept: "same" padding as TensorFlow pads (the odd pixel goes after,
not before), BatchNorm with momentum 0.99 and epsilon 1e-3, Glorot-uniform
kernels and zero biases.  The source's text says 256-d uniform noise but its
parameter count says 100-d: z is 100-d, uniform on [-1, 1] by default
(``--set latent_dist=normal`` for N(0, I)).  The source gives neither the dropout
rate nor its Adam settings; the layers are those of TensorFlow's DCGAN tutorial,
whose values are used: dropout 0.3, Adam 1e-4 with Keras' betas (0.9, 0.999)
(Keras' default learning rate 1e-3 lets D win outright within ~50 steps here:
D(G(z)) logits near -10, G loss ~10).  It trained 50 epochs and picked its
figures as the best 64 of 16 x 64 samples by D's score: :func:`best_samples`
(from a checkpoint: ``fastgan generate --ckpt RUN --n 64 --best-of 16``).

:func:`keras_param_counts` reports ``(trainable, non_trainable)`` as Keras does.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..family import GAN, GANRecipe
from ._common import best_of_n, keras_param_counts

__all__ = ["SameConv2d", "SameConvTranspose2d", "Generator", "Discriminator", "DCGANMnistRecipe",
           "DCGANMnist", "keras_param_counts", "best_of_n", "best_samples"]

KERAS_BN = {"eps": 1e-3, "momentum": 0.01}   # Keras momentum 0.99 = PyTorch momentum 0.01


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of a strided conv: (before, after), the extra pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``Conv2D(padding="same")`` of Keras: output size ceil(input / stride)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, bias: bool = True):
        super().__init__(cin, cout, k, stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = _same_pads(x.shape[-2], k, s)
        left, right = _same_pads(x.shape[-1], k, s)
        return super().forward(F.pad(x, (left, right, top, bottom)))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """``Conv2DTranspose(padding="same")`` of Keras: output size input * stride, the
    transpose of a "same" conv (the full transposed conv cropped like TF pads)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, bias: bool = True):
        super().__init__(cin, cout, k, stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the full transposed conv cropped by (t, b) rows and (l, r) columns, t <= b, l <= r: its padding
        # argument drops t (l) from both ends without computing them (25% less time for the 5x5 layers on
        # the CPU, the same numbers), then the rows (columns) b - t (r - l) left at the end are cut
        k, s = self.kernel_size[0], self.stride[0]
        (t, _), (l, _) = (_same_pads(n * s, k, s) for n in x.shape[-2:])
        y = F.conv_transpose2d(x, self.weight, self.bias, s, (t, l))
        return y[..., :x.shape[-2] * s, :x.shape[-1] * s]


def _glorot(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Discriminator(nn.Module):
    """``forward`` -> probability of "real"; ``logits`` -> the Dense layer's output."""

    def __init__(self, dropout: float = 0.3, slope: float = 0.1):
        super().__init__()
        self.features = nn.Sequential(
            SameConv2d(1, 64, 5, 2), nn.LeakyReLU(slope), nn.Dropout(dropout), nn.BatchNorm2d(64, **KERAS_BN),
            SameConv2d(64, 128, 5, 2), nn.LeakyReLU(slope), nn.Dropout(dropout), nn.BatchNorm2d(128, **KERAS_BN),
            nn.Flatten(), nn.Linear(7 * 7 * 128, 1))
        self.out = nn.Sigmoid()
        _glorot(self)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def _up_block(cin: int, cout: int, k: int, s: int, dropout: float, slope: float) -> list[nn.Module]:
    return [SameConvTranspose2d(cin, cout, k, s, bias=False), nn.BatchNorm2d(cout, **KERAS_BN),
            nn.Dropout(dropout), nn.LeakyReLU(slope)]


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, dropout: float = 0.3, slope: float = 0.1):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * 256), nn.Dropout(dropout), nn.LeakyReLU(slope),
            nn.BatchNorm1d(7 * 7 * 256, **KERAS_BN),
            nn.Unflatten(1, (7, 7, 256)), _ChannelsFirst(),          # Keras reshapes to (7, 7, 256), NHWC
            *_up_block(256, 128, 5, 1, dropout, slope),
            *_up_block(128, 128, 5, 2, dropout, slope),
            *_up_block(128, 128, 5, 1, dropout, slope),
            SameConvTranspose2d(128, 1, 7, 2, bias=False), nn.Tanh())
        _glorot(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class _ChannelsFirst(nn.Module):
    """NHWC -> NCHW (Keras' Reshape((7, 7, 256)) puts the channels last)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


@dataclasses.dataclass
class DCGANMnistRecipe(GANRecipe):
    z_dim: int = 100
    latent_dist: str = "uniform"         # the source's text: uniform noise
    dropout: float = 0.3                 # not given by the source (TensorFlow's DCGAN tutorial)
    slope: float = 0.1                   # LeakyReLU slope of the source
    loss: str = "ns"                     # Keras: BCE on the combined model with target 1
    batch: int = 64
    kimg: float = 225.0                  # 50 epochs of the 4,500 training images
    lr_g: float = 1e-4                   # TensorFlow's DCGAN tutorial; Keras' betas
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)


class DCGANMnist(GAN):
    name = "dcgan-mnist"
    Recipe = DCGANMnistRecipe
    description = "the source's Keras DCGAN for MNIST, layer for layer (G 2,963,328 / D 213,633 Keras weights)"
    # cpu: the source's networks, loss, dropout, uniform noise and Adam, in 22 kimg (4.9 epochs; G has 2.9M
    # weights: ~19 s of CPU per kimg on one core) instead of 50 epochs (FID 110.7 at 12 kimg, 86.2 at 22):
    # batch 16 for more steps, Adam 1e-3 with beta1 0.5 (the source gives neither; 5e-4 until 2026-12-07:
    # seeds 0 and 1 82.4 and 83.5 at 22 kimg, 1e-3: 79.6 and 60.4), an EMA of G; sample the source's way with
    # best-of-N (fastgan generate --best-of 16)
    presets = {"cpu": {"batch": 16, "lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.5, 0.999), "kimg": 22.0,
                       "ema_kimg": 1.0, "ema_rampup": 0.05}, "paper": {}}

    @classmethod
    def data_options(cls, recipe):
        return {"resolution": 28, "channels": 1}

    def check_data(self, data):
        if tuple(data.shape) != (1, 28, 28):
            raise ValueError(f"dcgan-mnist needs 1x28x28 images, the data has shape {tuple(data.shape)}")

    def build(self):
        r = self.recipe
        return {"G": Generator(r.z_dim, r.dropout, r.slope), "D": Discriminator(r.dropout, r.slope)}


def best_samples(family: GAN, G: nn.Module, D: nn.Module, n: int = 16 * 64, k: int = 64,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The source's figure selection: draw ``n`` latents of ``family``'s distribution
    (seeded) and keep the ``k`` samples D scores highest (``best_of_n``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    device = next(G.parameters()).device
    z = family.latent(n, torch.Generator().manual_seed(seed)).to(device)
    return best_of_n(G, D, z, k)


FAMILIES = (DCGANMnist,)
