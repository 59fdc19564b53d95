"""``dcgan28``: a small DCGAN for 28x28 grey images, the default model of ``fastgan train``.

Radford et al.'s guidelines at MNIST size, kept small enough to train in a few
minutes on two CPU cores:

* G: z (64) -> Linear -> 128x7x7 -> BN, ReLU -> ConvT 4x4/2 -> 64x14x14 -> BN, ReLU
  -> ConvT 4x4/2 -> 1x28x28 -> Tanh;
* D: Conv 4x4/2 -> 64x14x14 -> LeakyReLU(0.2) -> Conv 4x4/2 -> 128x7x7 -> [BN],
  LeakyReLU(0.2) -> Linear -> logit;
* weights N(0, 0.02), BN scales N(1, 0.02); Adam, betas (0.5, 0.999); non-saturating
  loss; EMA of G.

The defaults (preset ``cpu``) are tuned for the main job's budget on the CPU: batch 16,
Adam 1.6e-3, 100 kimg, and one departure from Radford et al.: D has no BatchNorm and
its loss adds the gradient penalty of WGAN-GP (10 * E(|grad D(x_hat)| - 1)^2 on
random interpolates of real and fake images, the "NS + GP" of Kurach et al. 2019),
lazily: every 4th step at 4x the weight.  On MNIST-5k (FID of 2,000 EMA samples, digits
features, against the training digits) the Radford-style D plateaus near 70 from 30 kimg
on (71.4 at 60 kimg, 72.9 at 80); with the penalty the FID keeps falling: 57.9 (60),
52.1 (80), 39.6 (100), for about 20% more time per kimg.  Preset ``paper`` keeps
Radford et al.'s D with BatchNorm and no penalty, batch 128 and Adam 2e-4.

Any image data works: it is resized to ``resolution`` and converted to one channel.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..family import GAN, GANRecipe


@dataclasses.dataclass
class DCGAN28Recipe(GANRecipe):
    z_dim: int = 64
    width: int = 64              # channels of the 14x14 layer; the 7x7 layer has 2x
    batch: int = 16              # small batches, many steps: best FID per CPU second on MNIST-5k
    kimg: float = 100.0          # the main job: under 10 minutes on this 2-core machine
    lr_g: float = 1.6e-3         # Radford's 2e-4 at batch 128 plateaus near FID 200 on this budget;
    lr_d: float = 1.6e-3         # 8x that at batch 16 reaches FID < 100 (betas stay (0.5, 0.999))
    ema_kimg: float = 1.0
    ema_rampup: float = 0.05
    resolution: int = 28         # images are resized to this (must be a multiple of 4)
    d_norm: str = "none"         # D's second layer: bn (BatchNorm, Radford's) | none (needed by the penalty)
    gp_lambda: float = 10.0      # the gradient penalty on interpolates, with the non-saturating loss
    reg_every: int = 4           # ... added every 4th step at 4x the weight (lazy regularisation)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 64, width: int = 64, resolution: int = 28, channels: int = 1):
        super().__init__()
        self.z_dim, s, c = z_dim, resolution // 4, 2 * width
        self.net = nn.Sequential(
            nn.Linear(z_dim, c * s * s, bias=False), nn.BatchNorm1d(c * s * s), nn.ReLU(True),
            nn.Unflatten(1, (c, s, s)),
            nn.ConvTranspose2d(c, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())
        self.apply(_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, width: int = 64, resolution: int = 28, channels: int = 1, norm: str = "bn"):
        super().__init__()
        s = resolution // 4
        bn = norm == "bn"
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not bn), *([nn.BatchNorm2d(2 * width)] if bn else []),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(), nn.Linear(2 * width * s * s, 1))
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DCGAN28(GAN):
    name = "dcgan28"
    Recipe = DCGAN28Recipe
    description = "small DCGAN for 28x28 grey images (default); 100 kimg of MNIST-5k in under 10 min on 2 CPU cores"
    batchnorm_hint = "use d_norm=none"
    presets = {"cpu": {}, "paper": {"batch": 128, "lr_g": 2e-4, "lr_d": 2e-4, "d_norm": "bn", "gp_lambda": 0.0,
                                    "reg_every": 1, "kimg": 50.0}}

    @classmethod
    def stored_recipe(cls, stored):
        # checkpoints written before d_norm existed have Radford's D (BatchNorm) and no lazy penalty
        if "d_norm" in stored:
            return stored
        return {**stored, "d_norm": "bn", "reg_every": 1}

    @classmethod
    def data_options(cls, recipe):
        return {"resolution": recipe.resolution, "channels": 1}

    def check_data(self, data):
        r = self.recipe.resolution
        if r % 4 or r < 8:
            raise ValueError(f"dcgan28: resolution must be a multiple of 4 and >= 8, got {r}")
        if self.recipe.d_norm not in ("bn", "none"):
            raise ValueError(f"dcgan28: d_norm must be bn or none, got {self.recipe.d_norm!r}")
        if tuple(data.shape) != (1, r, r):
            raise ValueError(f"dcgan28 needs 1x{r}x{r} images, the data has shape {tuple(data.shape)}")

    def build(self):
        r = self.recipe
        return {"G": Generator(r.z_dim, r.width, r.resolution), "D": Discriminator(r.width, r.resolution, norm=r.d_norm)}


FAMILIES = (DCGAN28,)
