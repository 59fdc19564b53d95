"""What the classic GAN families share: one Family base and a few small helpers.

:class:`ClassicGAN` is :class:`fastgan.train.family.GAN` with the options the
source documents discuss across families, all recipe fields (``--set name=value``):

* ``loss``: any pair of ``fastgan.losses`` (minimax, ns, ls, hinge, wasserstein);
  a network whose last layer is a Sigmoid (the source's D) exposes ``logits`` and
  the losses see those, so ``BCE(sigmoid(a), t)`` is computed stably and a
  Wasserstein/hinge critic sees the same network without its sigmoid;
* ``optimizer``: ``adam`` (``lr_*``, ``betas``) or ``rmsprop`` (WGAN);
* ``clip``: weight clipping of D to [-c, c] after each D step (WGAN);
* ``gp_lambda``: the WGAN-GP gradient penalty on random interpolates,
  ``fastgan.losses.wgan_gp_penalty`` (fused lerp and per-sample norm-penalty ops);
* ``instance_noise``: N(0, sigma^2) added to every image D sees (real and fake),
  sigma annealed linearly from this value to 0 over the run;
* ``latent_dist``: ``normal`` N(0, I) or ``uniform`` U[-1, 1];
* ``digits``: train on these classes only (the source's digits 1 and 2).

Every D step logs D's mean output on real and fake data; with the Wasserstein
loss also ``W``, the critic's estimate E[D(x)] - E[D(G(z))] of the Wasserstein-1
distance (up to the Lipschitz constant), the progress signal of WGAN.

Helpers: :func:`keras_param_counts` (trainable / non-trainable the way Keras
counts them), :func:`best_of_n` (keep the k of n samples D likes best) and
:func:`init_normal` (DCGAN's N(0, 0.02) initialisation).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..train.family import GAN, Context, GANRecipe

__all__ = ["ClassicRecipe", "ClassicGAN", "keras_param_counts", "best_of_n", "init_normal", "critic_output",
           "LATENTS", "OPTIMIZERS"]

LATENTS = ("normal", "uniform")
OPTIMIZERS = ("adam", "rmsprop")


@dataclasses.dataclass
class ClassicRecipe(GANRecipe):
    latent_dist: str = "normal"          # normal: z ~ N(0, I); uniform: z ~ U[-1, 1]
    optimizer: str = "adam"              # adam (lr_g, lr_d, betas) | rmsprop (lr_g, lr_d)
    clip: float = 0.0                    # > 0: clip D's weights to [-clip, clip] after each D step (WGAN)
    gp_lambda: float = 0.0               # > 0: WGAN-GP penalty lambda * E(|grad D(x_hat)| - 1)^2
    instance_noise: float = 0.0          # > 0: std of Gaussian noise on D's inputs, annealed to 0
    digits: tuple[int, ...] = ()         # train on these classes only (empty: all)


def critic_output(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """D's raw output (logit / critic value): ``D.logits`` when D ends with a Sigmoid, else ``D``."""
    fn = getattr(D, "logits", D)
    return fn(x) if labels is None else fn(x, labels)


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """Radford et al.'s init: conv/linear weights N(0, std), norm scales N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def keras_param_counts(module: nn.Module) -> tuple[int, int]:
    """``(trainable, non_trainable)`` as Keras' ``model.summary()`` counts them.

    Keras counts BatchNorm's moving mean and variance as non-trainable weights, so
    non-trainable = frozen parameters + floating-point buffers (running statistics;
    PyTorch's integer ``num_batches_tracked`` has no Keras counterpart)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    stats = sum(b.numel() for b in module.buffers() if b.is_floating_point())
    return trainable, frozen + stats


@torch.no_grad()
def best_of_n(G: nn.Module, D: nn.Module, z: torch.Tensor, k: int, labels: torch.Tensor | None = None,
              batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` of ``len(z)`` samples that D scores highest: ``(images [k, ...], scores [k])``.

    The source drew 16 x 64 images and kept the best 64 this way.  Both networks
    run in eval mode (BatchNorm running statistics, no dropout) and are put back
    in their previous mode."""
    if not isinstance(z, torch.Tensor) or z.ndim < 2:
        raise ValueError(f"z must be a [n, z_dim] tensor, got {getattr(z, 'shape', type(z).__name__)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(z):
        raise ValueError(f"k must be an int in [1, n={len(z)}], got {k!r}")
    if labels is not None and len(labels) != len(z):
        raise ValueError(f"labels must have one entry per latent ({len(z)}), got {len(labels)}")
    modes = G.training, D.training
    G.eval(), D.eval()
    try:
        imgs, scores = [], []
        for i in range(0, len(z), batch):
            lab = None if labels is None else labels[i:i + batch]
            x = G(z[i:i + batch]) if lab is None else G(z[i:i + batch], lab)
            imgs.append(x)
            scores.append(critic_output(D, x, lab).reshape(len(x), -1).mean(1))
    finally:
        G.train(modes[0]), D.train(modes[1])
    imgs, scores = torch.cat(imgs), torch.cat(scores)
    top = scores.topk(k).indices
    return imgs[top], scores[top]


def _gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor,
                      labels: torch.Tensor | None) -> torch.Tensor:
    """E(|grad_x D(x_hat)| - 1)^2 at x_hat = real + alpha (fake - real) (Gulrajani et al.), through
    ``fastgan.losses.wgan_gp_penalty`` (the fused lerp and per-sample norm penalty ops)."""
    from .. import losses

    return losses.wgan_gp_penalty(lambda x: critic_output(D, x, labels), real, fake, lam=1.0, alpha=alpha)


class ClassicGAN(GAN):
    """A two-network GAN with the options of :class:`ClassicRecipe`.  Subclasses set
    ``name``/``Recipe`` and implement ``build``; conditional families set
    ``conditional = True`` and their networks take ``(input, labels)``."""

    Recipe = ClassicRecipe

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        r = recipe
        if r.latent_dist not in LATENTS:
            raise ValueError(f"latent_dist must be one of {LATENTS}, got {r.latent_dist!r}")
        if r.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {r.optimizer!r}")
        for field in ("clip", "gp_lambda", "instance_noise", "lr_g", "lr_d"):
            v = getattr(r, field)
            if not v >= 0:
                raise ValueError(f"{field} must be >= 0, got {v!r}")
        if r.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {r.z_dim}")
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

    # -- data and latents -------------------------------------------------------------
    def prepare(self, batch, labels, device):
        if batch.dtype != torch.uint8:  # tables / toy points: used as they are
            batch, labels = batch.to(device=device, dtype=torch.float32), labels.to(device)
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
    def optimizers(self, nets):
        r = self.recipe
        if r.optimizer == "rmsprop":
            return {k: torch.optim.RMSprop(nets[k].parameters(), lr=lr) for k, lr in (("G", r.lr_g), ("D", r.lr_d))}
        return super().optimizers(nets)

    def _noisy(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        r = self.recipe
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
        logs = {"D_real": real_out.detach().mean(), "D_fake": fake_out.detach().mean()}
        if self.recipe.loss == "wasserstein":
            logs["W"] = logs["D_real"] - logs["D_fake"]
        if self.recipe.gp_lambda > 0:
            alpha = ctx.rand(ctx.batch.shape[0])
            gp = _gradient_penalty(D, ctx.batch, fake, alpha, labels)
            loss = loss + self.recipe.gp_lambda * gp
            logs["gp"] = gp.detach()
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
