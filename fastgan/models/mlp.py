"""``mlp``: the plain GAN of the source's course project (PyTorch, MNIST digits 1 and 2).

* D: flatten 28x28 -> Linear(784, 256) -> LeakyReLU(0.2) -> Linear(256, 1) -> Sigmoid
  (201,217 parameters);
* G: z in R^100 ~ N(0, I) -> Linear(100, 256) -> ReLU -> Linear(256, 784) -> Tanh
  (227,344 parameters), reshaped to 1x28x28;
* D loss = BCE(D(x), 1) + BCE(D(G(z).detach()), 0); G loss = BCE(D(G(z)), 1)
  (``loss = "ns"``); Adam; images in [-1, 1].

The source trains on the digits 1 and 2 only: ``--set digits=[1,2]`` (the default
here is all ten digits, so that FID with the digits features is comparable with
the other families; see :mod:`fastgan.family.gan` for how a subset is drawn).
The source gives no learning rate; Adam 2e-4 with beta1 = 0.5 is used.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..family import GAN, GANRecipe

__all__ = ["Generator", "Discriminator", "MLPRecipe", "MLPGAN"]


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, hidden: int = 256, shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        n = 1
        for s in shape:
            n *= s
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, n), nn.Tanh(),
                                 nn.Unflatten(1, tuple(shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """``forward`` gives the probability of "real" (the source's Sigmoid output);
    ``logits`` the same network without its Sigmoid (what the losses use)."""

    def __init__(self, hidden: int = 256, shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        n = 1
        for s in shape:
            n *= s
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.out = nn.Sigmoid()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


@dataclasses.dataclass
class MLPRecipe(GANRecipe):
    z_dim: int = 100
    hidden: int = 256
    loss: str = "ns"             # BCE(D(G(z)), 1) is the non-saturating loss
    batch: int = 64
    kimg: float = 100.0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


class MLPGAN(GAN):
    name = "mlp"
    Recipe = MLPRecipe
    description = "the source's plain MLP GAN (784-256-1 / 100-256-784); --set digits=[1,2] as in the source"
    # cpu: the source's networks and loss; small batches, a higher lr and an EMA of G for a 10-minute CPU run,
    # and one departure: WGAN-GP's gradient penalty (10, every 4th step at 4x) added to the source's loss.
    # Without it: 900 kimg, FID_digits 136 (503 s on one thread under load; 400 kimg gave 191); with it 114.5
    # at 900 kimg and 75.8 at 1,800 (sweeps in benchmarks/results/sweeps/mlp-gp10-*.jsonl); Adam 1e-3 (was 5e-4):
    # 51.3 at 1,800 (2e-3: 52.8; mlp-lr*-1800.jsonl)
    presets = {"cpu": {"batch": 32, "lr_g": 1e-3, "lr_d": 1e-3, "kimg": 1800.0, "ema_kimg": 1.0, "ema_rampup": 0.05,
                       "gp_lambda": 10.0, "reg_every": 4}, "paper": {}}

    def check_data(self, data):
        if len(data.shape) != 3:
            raise ValueError(f"mlp needs images [C, H, W] (Tanh output in [-1, 1]), got shape {tuple(data.shape)}")

    def build(self):
        r, shape = self.recipe, tuple(self.data.shape)
        return {"G": Generator(r.z_dim, r.hidden, shape), "D": Discriminator(r.hidden, shape)}


FAMILIES = (MLPGAN,)
