"""``wgan`` and ``wgan-gp``: Wasserstein GANs on the DCGAN networks of :mod:`.dcgan`.

The critic is D without a sigmoid; its loss E[D(G(z))] - E[D(x)] makes
-loss an estimate of the Wasserstein-1 distance (Kantorovich-Rubinstein duality,
for a 1-Lipschitz critic), logged every critic step as ``D/W``.

* ``wgan`` (Arjovsky, Chintala & Bottou 2017): Lipschitz by weight clipping to
  [-0.01, 0.01] after every critic step; RMSprop 5e-5; n_critic = 5; batch 64; and the
  critic boost of the authors' released training (Arjovsky et al.'s code, not the paper's
  Algorithm 1): 100 critic steps instead of n_critic for each of the first 25 G steps and
  for every 500th, so that the critic is near its optimum when G starts and now and then
  after (``critic_boost``, ``boost_first``, ``boost_every``; ``critic_boost=0`` turns it off).
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
    critic_boost: int = 100      # critic steps in a boosted G step (0, or <= n_critic: no boost)
    boost_first: int = 25        # the first this many G steps are boosted
    boost_every: int = 500       # and every this many-th after (0: never)


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
    # 32 px (100 kimg: 62.3; by kimg 88.0, 61.8, 58.3, 53.7, 50.9, 49.7 at 40-240); RMSprop 1e-4 was worse.
    # No critic boost: at this batch its first 25 G steps eat 40 kimg (120 kimg: 75.5 against 58.3)
    presets = {"cpu": {"width": 32, "batch": 16, "lr_g": 2e-4, "lr_d": 2e-4, "n_critic": 2, "kimg": 240.0,
                       "ema_kimg": 1.0, "ema_rampup": 0.05, "critic_boost": 0}, "paper": {}}

    @classmethod
    def stored_recipe(cls, stored):
        # a run saved before the critic boost existed trained without it: resuming it goes on so
        return {"critic_boost": 0, **stored}

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        for field in ("critic_boost", "boost_first", "boost_every"):
            v = getattr(recipe, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{field} must be an int >= 0, got {v!r}")

    def phase_repeat(self, phase, step):
        """The critic boost: ``critic_boost`` critic steps in G steps ``0 .. boost_first - 1`` and in every
        ``boost_every``-th (0, 500, 1000, ...), ``n_critic`` in the others."""
        r = self.recipe
        if phase.name != "D" or r.critic_boost <= phase.repeat:
            return phase.repeat
        boosted = step < r.boost_first or (r.boost_every > 0 and step % r.boost_every == 0)
        return r.critic_boost if boosted else phase.repeat

    def run_steps(self):
        """Steps until the images seen reach round(kimg * 1000), boosted steps drawing critic_boost batches."""
        r = self.recipe
        target, seen, steps = round(r.kimg * 1000), 0, 0
        d = next(ph for ph in self.phases() if ph.name == "D")
        while seen < target:
            seen += self.phase_repeat(d, steps) * r.batch
            steps += 1
        return steps


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
