"""``toy``: a GAN on low-dimensional points (``fastgan train --model toy``).

MLPs G and D for rows [F]; every option of :class:`~fastgan.family.GANRecipe` (any loss,
WGAN-GP, clipping, instance noise) applies.  Its data sets are in ``fastgan.data.toy``
(the 8-Gaussians ring, 1-D normals), its metric in ``fastgan.metrics.mixture``
(:func:`mode_stats`), the engine stepped between evaluations in ``fastgan.train.toy``,
and the theory in numbers in ``fastgan.theory``.
"""
from __future__ import annotations

import dataclasses

from torch import nn

from ..family import GAN, GANRecipe

__all__ = ["ToyRecipe", "ToyGAN", "mlp"]


def mlp(sizes: tuple[int, ...], act: type = nn.ReLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


@dataclasses.dataclass
class ToyRecipe(GANRecipe):
    z_dim: int = 2
    hidden: int = 128            # units per hidden layer of G and D
    depth: int = 3               # hidden layers of G and D
    loss: str = "ns"
    batch: int = 256
    kimg: float = 500.0
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)


class ToyGAN(GAN):
    name = "toy"
    Recipe = ToyRecipe
    description = "MLP GAN on low-dimensional points (8 Gaussians, 1-D densities, tables); any --set loss=..."

    def check_data(self, data):
        if len(data.shape) != 1:
            raise ValueError(f"toy needs rows [F] (points or a table), got shape {tuple(data.shape)}")
        if self.recipe.hidden < 1 or self.recipe.depth < 1:
            raise ValueError(f"hidden and depth must be >= 1, got {self.recipe.hidden}, {self.recipe.depth}")

    def build(self):
        r, f = self.recipe, self.data.shape[0]
        return {"G": mlp((r.z_dim,) + (r.hidden,) * r.depth + (f,)),
                "D": mlp((f,) + (r.hidden,) * r.depth + (1,), nn.LeakyReLU)}


FAMILIES = (ToyGAN,)
