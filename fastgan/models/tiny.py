"""``tiny``: a two-layer MLP GAN for any image or table shape; the engine's test model.

It exercises every engine feature cheaply: the loss choice, n_critic, an optional
lazily applied R1 penalty (a separate phase with an interval), EMA and labels-free
sampling.  Not meant to make good images.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..family import GAN, GANRecipe, Phase


@dataclasses.dataclass
class TinyRecipe(GANRecipe):
    z_dim: int = 8
    hidden: int = 32
    batch: int = 16
    kimg: float = 1.0
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    r1_gamma: float = 0.0        # > 0 adds a lazy R1 phase: gamma/2 * E|grad D(x)|^2 on reals
    r1_interval: int = 4         # R1 every this many steps, with gain r1_interval
    dropout: float = 0.0         # dropout in D (uses the global torch RNG; tests resume of RNG state)


class TinyGAN(GAN):
    name = "tiny"
    Recipe = TinyRecipe
    description = "two-layer MLP GAN for any image/table shape (engine tests)"

    def build(self):
        r, n = self.recipe, math.prod(self.data.shape)
        G = nn.Sequential(nn.Linear(r.z_dim, r.hidden), nn.LeakyReLU(0.2), nn.Linear(r.hidden, n), nn.Tanh(),
                          nn.Unflatten(1, tuple(self.data.shape)))
        D = nn.Sequential(nn.Flatten(), nn.Linear(n, r.hidden), nn.LeakyReLU(0.2), nn.Dropout(r.dropout),
                          nn.Linear(r.hidden, 1))
        return {"G": G, "D": D}

    def prepare(self, batch, labels, device):
        if batch.dtype != torch.uint8:  # tables: standardise nothing, just float32
            return batch.to(device=device, dtype=torch.float32), labels.to(device)
        return super().prepare(batch, labels, device)

    def phases(self):
        ph = super().phases()
        if self.recipe.r1_gamma > 0:
            ph.insert(1, Phase("Dreg", opt="D", loss="r1_loss", interval=self.recipe.r1_interval,
                               fresh_batch=False))
        return ph

    def r1_loss(self, ctx):
        x = ctx.batch.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(ctx.nets["D"](x).sum(), x, create_graph=True)
        return 0.5 * self.recipe.r1_gamma * g.square().flatten(1).sum(1).mean()


FAMILIES = (TinyGAN,)
