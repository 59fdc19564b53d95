"""``wgan`` and ``wgan-gp``: Wasserstein GANs on the DCGAN networks of :mod:`.dcgan`.

The critic is D without a sigmoid; its loss E[D(G(z))] - E[D(x)] makes
-loss an estimate of the Wasserstein-1 distance (Kantorovich-Rubinstein duality,
for a 1-Lipschitz critic), logged every critic step as ``D/W``.

* ``wgan`` (Arjovsky, Chintala & Bottou 2017): Lipschitz by weight clipping to
  [-0.01, 0.01] after every critic step; RMSprop 5e-5; n_critic = 5; batch 64.
  (The paper's extra 100 critic steps at the start and every 500 G steps are not
  reproduced: n_critic is fixed per run.)
* ``wgan-gp`` (Gulrajani et al. 2017): Lipschitz by the penalty
  lambda E(|grad D(x_hat)| - 1)^2 on random interpolates x_hat of real and fake
  (lambda = 10), ``fastgan.losses.wgan_gp_penalty`` on the fused ops
  ``lerp_samples`` and ``grad_norm_penalty``; Adam 1e-4, betas (0, 0.9); n_critic = 5;
  no BatchNorm in the critic (layer norm instead, the paper's suggestion).

Both default to 32x32 (MNIST is resized); ``--set resolution=64`` for the paper's size.
"""
from __future__ import annotations

import dataclasses

from .dcgan import DCGAN, DCGANRecipe

__all__ = ["WGANRecipe", "WGANGPRecipe", "WGAN", "WGANGP"]


@dataclasses.dataclass
class WGANRecipe(DCGANRecipe):
    loss: str = "wasserstein"
    resolution: int = 32
    clip: float = 0.01
    optimizer: str = "rmsprop"
    lr_g: float = 5e-5
    lr_d: float = 5e-5
    n_critic: int = 5
    batch: int = 64


@dataclasses.dataclass
class WGANGPRecipe(DCGANRecipe):
    loss: str = "wasserstein"
    resolution: int = 32
    norm: str = "layer"
    gp_lambda: float = 10.0
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    n_critic: int = 5
    batch: int = 64


class WGAN(DCGAN):
    name = "wgan"
    Recipe = WGANRecipe
    description = "WGAN: DCGAN critic without sigmoid, weight clipping 0.01, RMSprop 5e-5, n_critic 5"
    # cpu: 32 px at half width, batch 16, RMSprop 2e-4, n_critic 2 (n_critic 5 leaves too few G steps for
    # 10 CPU minutes), EMA of G; clipping (0.01) kept.  240 kimg: FID_digits 49.7 against the training digits at
    # 32 px (100 kimg: 62.3; by kimg 88.0, 61.8, 58.3, 53.7, 50.9, 49.7 at 40-240); RMSprop 1e-4 was worse
    presets = {"cpu": {"width": 32, "batch": 16, "lr_g": 2e-4, "lr_d": 2e-4, "n_critic": 2, "kimg": 240.0,
                       "ema_kimg": 1.0, "ema_rampup": 0.05}, "paper": {}}


class WGANGP(DCGAN):
    name = "wgan-gp"
    Recipe = WGANGPRecipe
    description = "WGAN-GP: gradient penalty 10 (fused op), Adam 1e-4 betas (0, 0.9), n_critic 5, layer-norm critic"
    # cpu: 32 px at half width, batch 16, Adam 5e-4, n_critic 2, EMA of G; the penalty and betas kept.
    # Tried first: batch 32, Adam 2e-4, n_critic 5, 100 kimg (625 G steps): collapsed (FID 1044, 4 classes).
    # 160 kimg: FID_digits 10.8 at 32 px (466 s of CPU); 200 kimg reached 8.1 but took 616 s.  The penalty every
    # 4th step at 4x its weight (lazy) makes 200 kimg fit: 7.8 in the sweep
    presets = {"cpu": {"width": 32, "batch": 16, "lr_g": 5e-4, "lr_d": 5e-4, "n_critic": 2, "kimg": 200.0,
                       "ema_kimg": 1.0, "ema_rampup": 0.05, "reg_every": 4}, "paper": {}}


FAMILIES = (WGAN, WGANGP)
