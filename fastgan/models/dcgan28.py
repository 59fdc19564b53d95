"""``dcgan28``: a small DCGAN for 28x28 grey images, the default model of ``fastgan train``.

Radford et al.'s guidelines at MNIST size, kept small enough to train in a few
minutes on two CPU cores.  With ``width`` w (32 by default) and ``depth`` 3 (the
default), the layout of the 32 px DCGAN with 28 = 7 x 4:

* G: z (64) -> Linear -> 4w x 4 x 4 -> BN, ReLU -> ConvT 3x3/2 -> 2w x 7 x 7 -> BN, ReLU
  -> ConvT 4x4/2 -> w x 14 x 14 -> BN, ReLU -> ConvT 4x4/2 -> 1 x 28 x 28 -> Tanh;
* D: Conv 4x4/2 -> w x 14 x 14 -> LeakyReLU(0.2) -> Conv 4x4/2 -> 2w x 7 x 7 -> [BN],
  LeakyReLU(0.2) -> Conv 3x3/2 -> 4w x 4 x 4 -> [BN], LeakyReLU(0.2) -> Linear -> logit;
* ``depth`` 2 (the default until 2026-12-07, then at w = 64) drops the 4x4 stage: G's
  Linear makes 2w x 7 x 7 and D's Linear reads it;
* weights N(0, 0.02), BN scales N(1, 0.02); Adam, betas (0.5, 0.999); non-saturating
  loss; EMA of G.

The defaults (preset ``cpu``) are tuned for the main job's budget on the CPU: batch 16,
Adam 1.6e-3, 160 kimg, and one departure from Radford et al.: D has no BatchNorm and
its loss adds the gradient penalty of WGAN-GP (10 * E(|grad D(x_hat)| - 1)^2 on
random interpolates of real and fake images, the "NS + GP" of Kurach et al. 2019),
lazily: every 4th step at 4x the weight.  On MNIST-5k (FID of 2,000 EMA samples, digits
features, against the training digits; ``benchmarks/results/sweeps/dcgan28-*.jsonl``):
the two-stage net at w = 64 with Radford's D plateaus near 70 from 30 kimg on; with the
penalty its FID keeps falling: 57.9 (60 kimg), 52.1 (80), 39.6 (100).  The three-stage
net at w = 32 is cheaper per kimg and better: 48.9 (40), 19.2 (80), 15.1 (120), 11.5
(160).  Preset ``paper`` keeps the two-stage net at w = 64 with Radford et al.'s D
(BatchNorm, no penalty), batch 128 and Adam 2e-4.

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
    width: int = 32              # channels of the 14x14 layer; the 7x7 layer has 2x, the 4x4 one (depth 3) 4x
    batch: int = 16              # small batches, many steps: best FID per CPU second on MNIST-5k
    kimg: float = 160.0          # the main job: under 10 minutes on this 2-core machine
    lr_g: float = 1.6e-3         # Radford's 2e-4 at batch 128 plateaus near FID 200 on this budget;
    lr_d: float = 1.6e-3         # 8x that at batch 16 reaches FID < 100 (betas stay (0.5, 0.999))
    ema_kimg: float = 1.0
    ema_rampup: float = 0.05
    resolution: int = 28         # images are resized to this (must be a multiple of 4)
    d_norm: str = "none"         # D's second layer: bn (BatchNorm, Radford's) | none (needed by the penalty)
    gp_lambda: float = 10.0      # the gradient penalty on interpolates, with the non-saturating loss
    reg_every: int = 4           # ... added every 4th step at 4x the weight (lazy regularisation)
    depth: int = 3               # 3: 4x4 -> 7x7 -> 14 -> 28 as the 32 px DCGAN; 2: from 7x7 (the earlier default)


def _check_depth(depth) -> int:
    if isinstance(depth, bool) or depth not in (2, 3):
        raise ValueError(f"dcgan28: depth must be 2 or 3, got {depth!r}")
    return depth


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 64, width: int = 64, resolution: int = 28, channels: int = 1, depth: int = 2):
        super().__init__()
        self.z_dim, s, c = z_dim, resolution // 4, 2 * width
        if _check_depth(depth) == 2:
            head = [nn.Linear(z_dim, c * s * s, bias=False), nn.BatchNorm1d(c * s * s), nn.ReLU(True),
                    nn.Unflatten(1, (c, s, s))]
        else:   # z -> 4w x t x t (t = ceil(s / 2)) -> 2w x s x s with a 3x3 transposed conv (output_padding for even s)
            t = (s + 1) // 2
            head = [nn.Linear(z_dim, 2 * c * t * t, bias=False), nn.BatchNorm1d(2 * c * t * t), nn.ReLU(True),
                    nn.Unflatten(1, (2 * c, t, t)),
                    nn.ConvTranspose2d(2 * c, c, 3, 2, 1, output_padding=s - 2 * t + 1, bias=False),
                    nn.BatchNorm2d(c), nn.ReLU(True)]
        self.net = nn.Sequential(
            *head,
            nn.ConvTranspose2d(c, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())
        self.apply(_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, width: int = 64, resolution: int = 28, channels: int = 1, norm: str = "bn", depth: int = 2):
        super().__init__()
        s = resolution // 4
        bn = norm == "bn"
        _check_depth(depth)

        def down(cin, cout, k):   # stride-2 conv [-> BN] -> LeakyReLU; the conv has no bias before BN
            return [nn.Conv2d(cin, cout, k, 2, 1, bias=not bn), *([nn.BatchNorm2d(cout)] if bn else []),
                    nn.LeakyReLU(0.2, True)]

        layers = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True), *down(width, 2 * width, 4)]
        c = 2 * width
        if depth == 3:   # 2w x s x s -> 4w x ceil(s / 2) x ceil(s / 2)
            layers += down(c, 2 * c, 3)
            c, s = 2 * c, (s + 1) // 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * s * s, 1))
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DCGAN28(GAN):
    name = "dcgan28"
    Recipe = DCGAN28Recipe
    description = "small DCGAN for 28x28 grey images (default); 160 kimg of MNIST-5k in under 10 min on 2 CPU cores"
    batchnorm_hint = "use d_norm=none"
    presets = {"cpu": {}, "paper": {"batch": 128, "lr_g": 2e-4, "lr_d": 2e-4, "d_norm": "bn", "gp_lambda": 0.0,
                                    "reg_every": 1, "kimg": 50.0, "depth": 2, "width": 64}}

    @classmethod
    def stored_recipe(cls, stored):
        # checkpoints written before d_norm existed have Radford's D (BatchNorm) and no lazy penalty; those
        # written before depth existed have two stages at width 64 (the default then)
        stored = {"depth": 2, "width": 64, **stored}
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
        _check_depth(self.recipe.depth)
        if self.recipe.d_norm not in ("bn", "none"):
            raise ValueError(f"dcgan28: d_norm must be bn or none, got {self.recipe.d_norm!r}")
        if tuple(data.shape) != (1, r, r):
            raise ValueError(f"dcgan28 needs 1x{r}x{r} images, the data has shape {tuple(data.shape)}")

    def build(self):
        r = self.recipe
        return {"G": Generator(r.z_dim, r.width, r.resolution, depth=r.depth),
                "D": Discriminator(r.width, r.resolution, norm=r.d_norm, depth=r.depth)}


FAMILIES = (DCGAN28,)
