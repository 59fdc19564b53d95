"""``dcgan``: Radford, Metz & Chintala (2016), at 32 or 64 px (or any power of two >= 16).

The paper's architecture guidelines:

* strided convolutions in D and fractionally strided (transposed) ones in G;
  no pooling, no fully connected hidden layers (G's first layer is the 4x4
  projection of z, written as a transposed conv of the 1x1 latent; D's last is a
  4x4 conv to one logit);
* BatchNorm in both networks, except G's output and D's input layers;
* ReLU in G with a Tanh output; LeakyReLU(0.2) in D;
* weights N(0, 0.02); Adam 2e-4 with beta1 = 0.5; batch 128; z ~ N(0, I), 100-d.

At 64 px with ``width = 64`` and RGB data the networks are the well-known PyTorch
reference DCGAN: G 3,576,704 and D 2,765,568 parameters.  Channels double at
every halving of the resolution: D has ``width * 2^i`` channels at scale i and G
mirrors it.  The critic's normalisation is an option (``norm``: ``batch`` as in
the paper, ``layer`` or ``none`` for WGAN-GP, whose penalty is per sample), used
by the ``wgan`` families.  Fine-tuning from a checkpoint: :mod:`.finetune`.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..family import GAN, GANRecipe
from ._common import init_normal
from .finetune import FineTune, FinetuneRecipe

__all__ = ["Generator", "Discriminator", "DCGANRecipe", "DCGAN", "NORMS", "check_resolution"]

NORMS = ("batch", "layer", "none")


def check_resolution(resolution: int) -> int:
    """Number of 2x up/down-sampling stages between 4x4 and ``resolution`` (a power of two >= 16)."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 16 \
            or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 16, got {resolution!r}")
    return int(math.log2(resolution)) - 2


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)   # normalises over (C, H, W) of each sample
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class Generator(nn.Module):
    """z [N, z_dim] -> images [N, channels, resolution, resolution] in [-1, 1]."""

    def __init__(self, z_dim: int = 100, width: int = 64, resolution: int = 64, channels: int = 3):
        super().__init__()
        n = check_resolution(resolution)
        self.z_dim = z_dim
        c = width * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.Unflatten(1, (z_dim, 1, 1)),
                                   nn.ConvTranspose2d(z_dim, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """images -> one logit (critic value) per image, shape [N, 1]."""

    def __init__(self, width: int = 64, resolution: int = 64, channels: int = 3, norm: str = "batch"):
        super().__init__()
        n = check_resolution(resolution)
        c = width
        layers: list[nn.Module] = [nn.Conv2d(channels, c, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(n - 1):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), _norm(norm, 2 * c), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.Conv2d(c, 1, 4, 1, 0, bias=False), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclasses.dataclass
class DCGANRecipe(GANRecipe, FinetuneRecipe):
    z_dim: int = 100
    width: int = 64              # G's last / D's first feature maps; doubled at every halving
    resolution: int = 64         # 32 or 64 in the paper's spirit; any power of two >= 16
    norm: str = "batch"          # D's normalisation: batch | layer | none
    loss: str = "ns"
    batch: int = 128
    kimg: float = 500.0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


class DCGAN(FineTune, GAN):
    name = "dcgan"
    Recipe = DCGANRecipe
    description = "Radford et al.'s DCGAN at 32/64 px (--set resolution=32); any image data, resized"
    # cpu: 32 px, half width, batch 16 at 5x the paper's lr, EMA of G (as the main job's dcgan28), and one
    # departure: D without normalisation plus WGAN-GP's penalty on the NS loss (10, every 4th step at 4x), 160
    # kimg: FID_digits 15.4 against the training digits at 32 px (sweep; the paper's batch-normalised D: 31.0 at
    # 80 kimg and no better at 128-160).  Tried: Adam 1.6e-3 (FID rose after 48 kimg); the paper's width 64
    # (6.9 s/kimg of CPU against 2.4: no better at 42 kimg)
    batchnorm_hint = "use norm=layer or norm=none"
    presets = {"cpu": {"resolution": 32, "width": 32, "batch": 16, "lr_g": 1e-3, "lr_d": 1e-3, "kimg": 160.0,
                       "ema_kimg": 1.0, "ema_rampup": 0.05, "norm": "none", "gp_lambda": 10.0, "reg_every": 4},
               "paper": {}}

    @classmethod
    def data_options(cls, recipe):
        return {"resolution": recipe.resolution}

    def check_data(self, data):
        r = self.recipe.resolution
        check_resolution(r)
        if self.recipe.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.recipe.norm!r}")
        if len(data.shape) != 3 or data.shape[0] not in (1, 3) or tuple(data.shape[1:]) != (r, r):
            raise ValueError(f"{self.name} needs 1- or 3-channel {r}x{r} images, the data has shape "
                             f"{tuple(data.shape)}")

    def networks(self):
        r, c = self.recipe, self.data.shape[0]
        return {"G": Generator(r.z_dim, r.width, r.resolution, c),
                "D": Discriminator(r.width, r.resolution, c, r.norm)}


FAMILIES = (DCGAN,)
