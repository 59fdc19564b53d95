"""The base of every plain two-network GAN: :class:`GAN` and its :class:`GANRecipe`.

Every option is a recipe field (``--set name=value``):

* ``loss``: any pair of ``fastgan.losses`` (minimax, ns, ls, hinge, wasserstein);
  a network whose last layer is a Sigmoid (the source's D) exposes ``logits`` and
  the losses see those, so ``BCE(sigmoid(a), t)`` is computed stably and a
  Wasserstein/hinge critic sees the same network without its sigmoid;
* ``n_critic``: D steps per G step;
* ``optimizer``: ``adam`` (``lr_*``, ``betas``) or ``rmsprop`` (WGAN);
* ``clip``: weight clipping of D to [-c, c] after each D step (WGAN);
* ``gp_lambda``: the WGAN-GP gradient penalty on random interpolates,
  ``fastgan.losses.wgan_gp_penalty`` (fused lerp and per-sample norm-penalty ops);
* ``augment``: DiffAugment or ADA on every image D sees (``fastgan.family.augment``);
* ``r1_gamma``: Mescheder et al.'s R1 penalty gamma/2 * E|grad D(x)|^2 on real
  images (``fastgan.losses.r1_penalty``), for any loss;
* ``reg_every``: lazy regularisation (Karras et al. 2020): the gradient penalty and
  R1 are added every this many training steps, their weight multiplied by it;
* ``instance_noise``: N(0, sigma^2) added to every image D sees (real and fake),
  sigma annealed linearly from this value to 0 over the run;
* ``latent_dist``: ``normal`` N(0, I) or ``uniform`` U[-1, 1];
* ``lr_decay``: the last this fraction of the run lowers both learning rates
  linearly to 0 (0: constant rates);
* ``digits``: train on these classes only (the source's digits 1 and 2).

Every D step logs D's mean output on real and fake data; with the Wasserstein
loss also ``W``, the critic's estimate E[D(x)] - E[D(G(z))] of the Wasserstein-1
distance (up to the Lipschitz constant), the progress signal of WGAN.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .. import losses
from .augment import Augmenter
from .contract import Context, Family, Phase, Recipe
from .schedules import linear_decay, run_steps

__all__ = ["GANRecipe", "GAN", "critic_output", "LATENTS", "OPTIMIZERS"]

LATENTS = ("normal", "uniform")
OPTIMIZERS = ("adam", "rmsprop")


@dataclasses.dataclass
class GANRecipe(Recipe):
    """Recipe of a plain two-network GAN (see :class:`GAN`)."""

    z_dim: int = 64                      # latent size
    loss: str = "ns"                     # a name in fastgan.losses.NAMES
    n_critic: int = 1                    # D steps per G step
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    latent_dist: str = "normal"          # normal: z ~ N(0, I); uniform: z ~ U[-1, 1]
    optimizer: str = "adam"              # adam (lr_g, lr_d, betas) | rmsprop (lr_g, lr_d)
    clip: float = 0.0                    # > 0: clip D's weights to [-clip, clip] after each D step (WGAN)
    gp_lambda: float = 0.0               # > 0: WGAN-GP penalty lambda * E(|grad D(x_hat)| - 1)^2
    r1_gamma: float = 0.0                # > 0: R1 penalty gamma / 2 * E|grad D(x_real)|^2
    reg_every: int = 1                   # the penalties (gp_lambda, r1_gamma) every this many steps, x this weight
    instance_noise: float = 0.0          # > 0: std of Gaussian noise on D's inputs, annealed to 0
    lr_decay: float = 0.0                # the last this fraction of the run decays both lrs linearly to 0
    digits: tuple[int, ...] = ()         # train on these classes only (empty: all)


def critic_output(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """D's raw output (logit / critic value): ``D.logits`` when D ends with a Sigmoid, else ``D``."""
    fn = getattr(D, "logits", D)
    return fn(x) if labels is None else fn(x, labels)



def _gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor,
                      labels: torch.Tensor | None) -> torch.Tensor:
    """E(|grad_x D(x_hat)| - 1)^2 at x_hat = real + alpha (fake - real) (Gulrajani et al.), through
    ``fastgan.losses.wgan_gp_penalty`` (the fused lerp and per-sample norm penalty ops)."""
    return losses.wgan_gp_penalty(lambda x: critic_output(D, x, labels), real, fake, lam=1.0, alpha=alpha)


class GAN(Family):
    """A generator ``G(z)`` and a discriminator ``D(x)`` trained with a loss of
    ``fastgan.losses``: ``n_critic`` D phases on fresh real batches, then one G phase,
    with the options of :class:`GANRecipe`.  Subclasses set ``name``/``Recipe`` and
    implement ``build``; conditional families set ``conditional = True`` and their
    networks take ``(input, labels)``."""

    Recipe = GANRecipe

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        self._d_fn, self._g_fn = losses.get(recipe.loss)
        r = recipe
        if r.latent_dist not in LATENTS:
            raise ValueError(f"latent_dist must be one of {LATENTS}, got {r.latent_dist!r}")
        if r.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {r.optimizer!r}")
        for field in ("clip", "gp_lambda", "r1_gamma", "instance_noise", "lr_g", "lr_d"):
            v = getattr(r, field)
            if not v >= 0:
                raise ValueError(f"{field} must be >= 0, got {v!r}")
        if r.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {r.z_dim}")
        if isinstance(r.reg_every, bool) or not isinstance(r.reg_every, int) or r.reg_every < 1:
            raise ValueError(f"reg_every must be an int >= 1, got {r.reg_every!r}")
        if not 0 <= r.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in [0, 1], got {r.lr_decay!r}")
        if r.digits:
            if not data.num_classes:
                raise ValueError(f"digits={list(r.digits)} needs labelled data; {data.name or 'the data'} has no labels")
            bad = [d for d in r.digits if not 0 <= d < data.num_classes]
            if bad or len(set(r.digits)) != len(r.digits):
                raise ValueError(f"digits must be distinct classes in [0, {data.num_classes}), got {list(r.digits)}")
        if self.conditional and not data.num_classes:
            raise ValueError(f"{self.name} is class-conditional and needs labelled data; "
                             f"{data.name or 'the data'} has no labels")
        self._last_subset = None
        self.augmenter = Augmenter(self)

    # -- data and latents -------------------------------------------------------------
    def prepare(self, batch, labels, device):
        if batch.dtype != torch.uint8:  # tables / toy points: used as they are
            batch = batch.to(dtype=torch.float32)
        else:
            batch, labels = super().prepare(batch, labels, device)
        if not self.recipe.digits:
            return batch, labels
        keep = torch.isin(labels, torch.tensor(self.recipe.digits, device=labels.device))
        if keep.any():
            # a step sees the drawn batch's rows of these classes (about batch * k / num_classes)
            self._last_subset = batch[keep], labels[keep]
        elif self._last_subset is None:
            raise ValueError(f"the first batch holds none of digits {list(self.recipe.digits)}; "
                             f"use a larger batch")
        return self._last_subset

    def latent(self, n, ctx_or_gen):
        if self.recipe.latent_dist == "normal":
            return super().latent(n, ctx_or_gen)
        z_dim = self.recipe.z_dim
        if isinstance(ctx_or_gen, Context):
            return ctx_or_gen.rand(n, z_dim) * 2 - 1
        return torch.rand(n, z_dim, generator=ctx_or_gen) * 2 - 1

    def fake_labels(self, ctx: Context) -> torch.Tensor | None:
        """Classes of the generated batch: the real batch's labels (conditional families)."""
        return ctx.labels if self.conditional else None

    # -- training -----------------------------------------------------------------------
    batchnorm_hint = "train a D without it"   # how a family's recipe builds D without BatchNorm

    def check_penalties(self, D: nn.Module) -> None:
        """The gradient penalties differentiate each sample's D output by that sample alone, which BatchNorm
        in D breaks: it mixes the samples of a batch.  Raised when the networks are built for training."""
        r = self.recipe
        if not (r.gp_lambda > 0 or r.r1_gamma > 0):
            return
        bn = next((m for m in D.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)), None)
        if bn is not None:
            raise ValueError(f"{self.name}: D has {type(bn).__name__}, which mixes the samples of a batch, so the "
                             f"per-sample gradient penalties (gp_lambda, r1_gamma) are wrong; {self.batchnorm_hint}")

    def optimizers(self, nets):
        self.check_penalties(nets["D"])
        r = self.recipe
        if r.optimizer == "rmsprop":
            return {k: torch.optim.RMSprop(nets[k].parameters(), lr=lr) for k, lr in (("G", r.lr_g), ("D", r.lr_d))}
        return {k: torch.optim.Adam(nets[k].parameters(), lr=lr, betas=tuple(r.betas))
                for k, lr in (("G", r.lr_g), ("D", r.lr_d))}

    def schedulers(self, opts):
        r = self.recipe
        if r.lr_decay <= 0:
            return {}
        total = max(1, self.run_steps())
        decay = max(1, round(total * r.lr_decay))
        return {k: linear_decay(o, max(0, total - decay), decay) for k, o in opts.items()}

    def run_steps(self) -> int:
        """The training steps of the run (what a schedule counts): each draws ``n_critic`` fresh batches for D
        and updates G once."""
        r = self.recipe
        return run_steps(r.kimg, r.batch * r.n_critic)

    def phases(self):
        return [Phase("D", opt="D", loss="d_loss", repeat=self.recipe.n_critic),
                Phase("G", opt="G", loss="g_loss", fresh_batch=False)]

    def _noisy(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        """What D sees of images x: the recipe's augmentation, then the instance noise."""
        r = self.recipe
        x = self.augmenter(x, ctx)
        if r.instance_noise <= 0:
            return x
        sigma = r.instance_noise * max(0.0, 1.0 - ctx.kimg / r.kimg) if r.kimg > 0 else r.instance_noise
        return x + sigma * ctx.randn(*x.shape).to(x.dtype) if sigma > 0 else x

    def _fake(self, ctx: Context, labels):
        z = ctx.latent(ctx.batch.shape[0])
        return ctx.nets["G"](z) if labels is None else ctx.nets["G"](z, labels)

    def d_loss(self, ctx: Context):
        D, labels = ctx.nets["D"], self.fake_labels(ctx)
        with torch.no_grad():
            fake = self._fake(ctx, labels)
        real_out = critic_output(D, self._noisy(ctx.batch, ctx), labels)
        fake_out = critic_output(D, self._noisy(fake, ctx), labels)
        loss = self._d_fn(real_out, fake_out)
        logs = {"D_real": real_out.detach().mean(), "D_fake": fake_out.detach().mean(),
                **self.augmenter.observe(real_out)}
        if self.recipe.loss == "wasserstein":
            logs["W"] = logs["D_real"] - logs["D_fake"]
        r = self.recipe
        if (r.gp_lambda > 0 or r.r1_gamma > 0) and ctx.step % r.reg_every == 0:
            if r.gp_lambda > 0:
                alpha = ctx.rand(ctx.batch.shape[0])
                gp = _gradient_penalty(D, ctx.batch, fake, alpha, labels)
                loss = loss + (r.gp_lambda * r.reg_every) * gp
                logs["gp"] = gp.detach()
            if r.r1_gamma > 0:
                r1 = losses.r1_penalty(lambda x: critic_output(D, x, labels), ctx.batch, 1.0)
                loss = loss + (r.r1_gamma * r.reg_every) * r1
                logs["r1"] = r1.detach()
        return loss, logs

    def g_loss(self, ctx: Context):
        labels = self.fake_labels(ctx)
        fake = self._fake(ctx, labels)
        return self._g_fn(critic_output(ctx.nets["D"], self._noisy(fake, ctx), labels))

    def after_phase(self, phase, ctx):
        c = self.recipe.clip
        if c > 0 and phase.opt == "D":
            with torch.no_grad():
                for p in ctx.nets["D"].parameters():
                    p.clamp_(-c, c)
