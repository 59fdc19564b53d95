"""``gmmn``: generative moment matching networks (Li, Swersky & Zemel 2015).

No discriminator: G is trained directly to make the maximum mean discrepancy
between a generated and a real batch small,

    MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y),   k = sum_sigma exp(-|x - y|^2 / (2 sigma^2)),

a mixture of Gaussian kernels (``fastgan.losses.mmd2``, differentiable).  With a
characteristic kernel MMD = 0 only when the two distributions are equal, so all
moments are matched.  ``criterion = "moments"`` matches only the mean and the
variance of every feature instead: the source tutorial's 1-D demo
(``examples/gmmn_1d.py``) shows that this is not enough to match a distribution.

Following Li et al. on MNIST: z ~ U[-1, 1]^10; G = MLP 64-256-256-1024 with ReLU
and a sigmoid output (here Tanh, images in [-1, 1]; the MMD is taken on pixels in
[0, 1], where the kernel bandwidths 2, 5, 10, 20, 40, 80 apply); the loss is
sqrt(MMD^2); batch 1000.  Adam 1e-3 (the paper tuned SGD with momentum).
Table data (shape [F]) get a linear output layer and the MMD on the raw rows.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..family import Context, Family, Phase, Recipe
from ..losses import DEFAULT_BANDWIDTHS, mmd2

__all__ = ["Generator", "GMMNRecipe", "GMMN", "moment_loss", "mmd_loss", "CRITERIA"]

CRITERIA = ("mmd", "moments")


class Generator(nn.Module):
    """z -> MLP (ReLU hidden layers) -> output of ``shape``; Tanh output for images, linear for rows."""

    def __init__(self, z_dim: int = 10, hidden: tuple[int, ...] = (64, 256, 256, 1024),
                 shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        self.z_dim = z_dim
        sizes, layers = (z_dim, *hidden), []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(True)]
        layers.append(nn.Linear(sizes[-1], math.prod(shape)))
        if len(shape) == 3:
            layers.append(nn.Tanh())
        layers.append(nn.Unflatten(1, tuple(shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def moment_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sum over features of (mean_x - mean_y)^2 + (std_x - std_y)^2: matches two moments only."""
    if x.ndim < 1 or y.ndim < 1 or x.shape[1:] != y.shape[1:]:
        raise ValueError(f"x and y must be [n, ...] with equal feature shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.flatten(1), y.flatten(1)
    mean = (x.mean(0) - y.mean(0)).square()
    std = (x.std(0, unbiased=False) - y.std(0, unbiased=False)).square()
    return (mean + std).sum()


def mmd_loss(x: torch.Tensor, y: torch.Tensor, bandwidths=DEFAULT_BANDWIDTHS, root: bool = True) -> torch.Tensor:
    """GMMN's loss sqrt(MMD^2) (or MMD^2) with a mixture of Gaussian kernels."""
    m = mmd2(x, y, bandwidths=bandwidths)
    return m.clamp_min(1e-12).sqrt() if root else m


@dataclasses.dataclass
class GMMNRecipe(Recipe):
    z_dim: int = 10
    hidden: tuple[int, ...] = (64, 256, 256, 1024)
    bandwidths: tuple[float, ...] = DEFAULT_BANDWIDTHS   # sigmas of the kernel mixture (pixels in [0, 1])
    criterion: str = "mmd"       # mmd | moments (mean and variance only)
    root: bool = True            # minimise sqrt(MMD^2) as Li et al.
    batch: int = 1000
    kimg: float = 500.0
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


class GMMN(Family):
    name = "gmmn"
    Recipe = GMMNRecipe
    description = "generative moment matching network: G trained by MMD (Gaussian kernel mixture), no D"
    # cpu: smaller batches (the MMD is quadratic in the batch), more steps, EMA of G.  1,100 kimg: 534 s on one
    # thread under load, FID_digits 139 (400 kimg gave 244, and the FID was still falling at 1,100)
    presets = {"cpu": {"batch": 256, "kimg": 1100.0, "ema_kimg": 1.0, "ema_rampup": 0.05}, "paper": {}}

    def check_data(self, data):
        r = self.recipe
        if r.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {r.criterion!r}")
        if r.z_dim < 1 or not r.hidden or min(r.hidden) < 1:
            raise ValueError(f"z_dim and every hidden size must be >= 1, got z_dim={r.z_dim}, hidden={r.hidden}")
        if not r.bandwidths or min(r.bandwidths) <= 0:
            raise ValueError(f"bandwidths must be positive, got {r.bandwidths}")
        if len(data.shape) not in (1, 3):
            raise ValueError(f"gmmn needs images [C, H, W] or table rows [F], got shape {tuple(data.shape)}")

    def prepare(self, batch, labels, device):
        if batch.dtype != torch.uint8:
            return batch.to(device=device, dtype=torch.float32), labels.to(device)
        return super().prepare(batch, labels, device)

    def build(self):
        r = self.recipe
        return {"G": Generator(r.z_dim, tuple(r.hidden), tuple(self.data.shape))}

    def optimizers(self, nets):
        return {"G": torch.optim.Adam(nets["G"].parameters(), lr=self.recipe.lr, betas=tuple(self.recipe.betas))}

    def phases(self):
        return [Phase("G", opt="G", loss="g_loss")]

    def latent(self, n, ctx_or_gen):
        z_dim = self.recipe.z_dim
        if isinstance(ctx_or_gen, Context):
            return ctx_or_gen.rand(n, z_dim) * 2 - 1
        return torch.rand(n, z_dim, generator=ctx_or_gen) * 2 - 1

    def g_loss(self, ctx: Context):
        r, real = self.recipe, ctx.batch
        fake = ctx.nets["G"](ctx.latent(real.shape[0]))
        if len(self.data.shape) == 3:   # the kernel's bandwidths are for pixels in [0, 1]
            real, fake = (real + 1) / 2, (fake + 1) / 2
        if r.criterion == "moments":
            return moment_loss(fake, real)
        loss = mmd_loss(fake, real, r.bandwidths, r.root)
        return loss, {"mmd2": (loss.detach() ** 2 if r.root else loss.detach())}


FAMILIES = (GMMN,)
