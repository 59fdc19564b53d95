"""``progan``: Progressive Growing of GANs (Karras et al., 2018) on the fused ops.

Training starts at 4x4 and alternates two phases per resolution, each
``phase_kimg`` thousand real images long (the paper uses 600):

* **fade-in**: the new, higher-resolution block is blended in with weight α that
  ramps linearly from 0 to 1; the old path is upsampled (G) or the image is
  downsampled into the old path (D);
* **stabilise**: α = 1, the new block alone.

The networks are built at full size; ``self.state`` holds the current level
(``lod``: 0 = 4x4, 1 = 8x8, ...) and α, both derived from the images shown and
saved in checkpoints, so a run resumed mid-transition continues with the same α.
Real images are served at the current resolution (box-filtered down) and, during a
fade-in, blended between the current and the previous resolution exactly like the
generator's output.

Networks (paper, Table 2): equalized learning rate in every layer, pixel_norm after
every conv of G, leaky ReLU 0.2, nearest upsampling and 2x2 average pooling (the box
filter [1, 1] through ``fastgan.ops.upfirdn2d``), minibatch_std (group 4, one
channel) in D's last block.  Training: WGAN-GP with λ = 10 plus drift 0.001·D(x)²,
Adam 1e-3 with β = (0, 0.99), EMA of G with β = 0.999 per step.  ``reg_every`` = k > 1 adds the
gradient penalty lazily (Karras et al. 2020): on every k-th step only, at k times λ.

Preset ``paper`` keeps these (with the paper's widths and 600-kimg phases); preset ``cpu`` trains in under 10
minutes on one CPU thread: 32 channels, 1-kimg phases, Adam 3e-3 and a 1-kimg EMA half-life (``ema_beta`` 0
means ``ema_kimg`` is used as given), 60 kimg (55 of them at 32x32).
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .. import losses, ops
from ..family import Context, Family, Phase, Recipe
from ..nn import EqualizedConv2d, EqualizedLinear
from ..ops.upfirdn2d import downsample2d, setup_filter, upsample2d

__all__ = ["ProGANRecipe", "ProGAN", "Generator", "Discriminator", "schedule"]

_BOX = setup_filter([1.0, 1.0])   # nearest-neighbour upsampling / 2x2 average pooling as a FIR filter


@dataclasses.dataclass
class ProGANRecipe(Recipe):
    batch: int = 16
    kimg: float = 12.0
    z_dim: int = 128             # latent size (paper: 512)
    resolution: int = 32         # final resolution, a power of two >= 8
    fmap_base: int = 2048        # channels at resolution r: min(fmap_base // r, fmap_max) (paper: 8192)
    fmap_max: int = 128          # (paper: 512)
    phase_kimg: float = 2.0      # kimg per fade-in and per stabilise phase (paper: 600)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.99)
    gp_lambda: float = 10.0      # WGAN-GP weight
    gp_target: float = 1.0
    reg_every: int = 1           # the gradient penalty every this many steps, x this weight (lazy regularisation)
    drift: float = 0.001         # drift weight eps in eps * D(x)^2
    mbstd_group: int = 4
    ema_beta: float = 0.999      # EMA decay per step; sets ema_kimg from batch (0: use ema_kimg as given)
    ema_kimg: float = 0.0

    def __post_init__(self):
        if self.ema_beta:
            if not 0.0 < self.ema_beta < 1.0:
                raise ValueError(f"ema_beta must be in (0, 1), got {self.ema_beta}")
            self.ema_kimg = self.batch * math.log(0.5) / math.log(self.ema_beta) / 1000.0


def schedule(kimg: float, phase_kimg: float, max_lod: int) -> tuple[int, float]:
    """``(lod, alpha)`` after ``kimg`` thousand images: 4x4 stabilises for one phase, then
    every level fades in (α 0 -> 1) for one phase and stabilises for one phase."""
    if phase_kimg <= 0:
        return max_lod, 1.0
    t = kimg / phase_kimg
    if t < 1.0:
        return 0, 1.0
    j = t - 1.0
    lod = 1 + int(j // 2)
    if lod > max_lod:
        return max_lod, 1.0
    within = j - 2 * (lod - 1)
    return lod, min(within, 1.0)


def _up(x):
    return upsample2d(x, _BOX.to(device=x.device, dtype=x.dtype))


def _down(x):
    return downsample2d(x, _BOX.to(device=x.device, dtype=x.dtype))


def _channels(recipe, res):
    return min(recipe.fmap_base // res, recipe.fmap_max)


class GBlock(nn.Module):
    """Upsample (nearest), conv 3x3, lrelu, pixel_norm, conv 3x3, lrelu, pixel_norm."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv0 = EqualizedConv2d(cin, cout, 3, activation="lrelu")
        self.conv1 = EqualizedConv2d(cout, cout, 3, activation="lrelu")

    def forward(self, x):
        x = ops.pixel_norm(self.conv0(_up(x)))
        return ops.pixel_norm(self.conv1(x))


class Generator(nn.Module):
    """z -> pixel_norm -> dense to 4x4 -> conv 3x3 -> blocks; ``forward(z, lod, alpha)``."""

    def __init__(self, z_dim, resolution, channels, chan):
        super().__init__()
        self.z_dim, self.max_lod = z_dim, int(math.log2(resolution)) - 2
        c4 = chan(4)
        self.c4 = c4
        self.dense = EqualizedLinear(z_dim, c4 * 16, activation="lrelu")   # the paper's 4x4 transposed conv
        self.conv4 = EqualizedConv2d(c4, c4, 3, activation="lrelu")
        self.blocks = nn.ModuleList(GBlock(chan(4 << i), chan(8 << i)) for i in range(self.max_lod))
        self.torgb = nn.ModuleList(EqualizedConv2d(chan(4 << i), channels, 1) for i in range(self.max_lod + 1))

    def forward(self, z, lod=None, alpha=1.0):
        lod = self.max_lod if lod is None else int(lod)
        x = ops.pixel_norm(z, dim=1)
        x = ops.pixel_norm(self.dense(x).reshape(z.shape[0], self.c4, 4, 4))
        x = ops.pixel_norm(self.conv4(x))
        prev = x
        for i in range(lod):
            prev, x = x, self.blocks[i](x)
        img = self.torgb[lod](x)
        if lod > 0 and _is_fading(alpha):
            img = torch.lerp(_up(self.torgb[lod - 1](prev)), img, _as(alpha, img))
        return img


class DBlock(nn.Module):
    """conv 3x3, lrelu, conv 3x3, lrelu, 2x2 average pooling."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv0 = EqualizedConv2d(cin, cin, 3, activation="lrelu")
        self.conv1 = EqualizedConv2d(cin, cout, 3, activation="lrelu")

    def forward(self, x):
        return _down(self.conv1(self.conv0(x)))


class Discriminator(nn.Module):
    """fromRGB at the current level -> blocks down to 4x4 -> minibatch_std, conv, dense, dense."""

    def __init__(self, resolution, channels, chan, mbstd_group=4):
        super().__init__()
        self.max_lod = int(math.log2(resolution)) - 2
        self.fromrgb = nn.ModuleList(EqualizedConv2d(channels, chan(4 << i), 1, activation="lrelu")
                                     for i in range(self.max_lod + 1))
        self.blocks = nn.ModuleList(DBlock(chan(8 << i), chan(4 << i)) for i in range(self.max_lod))
        c4 = chan(4)
        self.mbstd_group = mbstd_group
        self.conv = EqualizedConv2d(c4 + 1, c4, 3, activation="lrelu")
        self.fc = EqualizedLinear(c4 * 16, c4, activation="lrelu")
        self.out = EqualizedLinear(c4, 1)

    def forward(self, img, lod=None, alpha=1.0):
        lod = self.max_lod if lod is None else int(lod)
        x = self.fromrgb[lod](img)
        if lod > 0:
            x = self.blocks[lod - 1](x)
            if _is_fading(alpha):
                x = torch.lerp(self.fromrgb[lod - 1](_down(img)), x, _as(alpha, x))
        for i in range(lod - 2, -1, -1):
            x = self.blocks[i](x)
        x = ops.minibatch_std(x, self.mbstd_group, 1)
        x = self.fc(self.conv(x).flatten(1))
        return self.out(x)


def _is_fading(alpha) -> bool:
    return torch.is_tensor(alpha) or float(alpha) < 1.0


def _as(alpha, like):
    return alpha.to(like.dtype) if torch.is_tensor(alpha) else torch.tensor(float(alpha), dtype=like.dtype,
                                                                          device=like.device)


class ProGAN(Family):
    name = "progan"
    Recipe = ProGANRecipe
    description = "Progressive GAN: growing from 4x4 with fade-in, WGAN-GP + drift, equalized lr"
    # cpu: 32 channels (16 at 32x32), every phase 1 kimg (32x32 from 5 kimg on), Adam 3e-3, and an EMA half-life
    # of 1 kimg: the paper's beta 0.999 per step is an 11-kimg half-life at batch 16, longer than the whole run
    # (its EMA generator still averaged the 8x8 and 16x16 phases' weights: blurry strokes, FID 661 at 28 kimg);
    # 120 kimg, about 900 s of CPU: FID 11.5 (by kimg: 81.1, 40.9, 21.0, 14.6, 11.5 at 24-120; 60 kimg: 24.3,
    # 26 kimg: 72.6) (the lazy penalty, reg_every=4, is worse: 48.7 at 60 kimg, and hardly faster)
    presets = {"cpu": {"fmap_base": 512, "fmap_max": 32, "phase_kimg": 1.0, "lr": 0.003, "ema_beta": 0.0,
                       "ema_kimg": 1.0, "ema_rampup": 0.05, "kimg": 120.0},
               "paper": {"z_dim": 512, "fmap_base": 8192, "fmap_max": 512, "phase_kimg": 600.0}}

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        self.max_lod = int(math.log2(recipe.resolution)) - 2
        self.state = {"lod": 0, "alpha": 1.0}
        self._set_schedule(0.0)

    @classmethod
    def data_options(cls, recipe):
        return {"resolution": recipe.resolution}

    def check_data(self, data):
        r = self.recipe.resolution
        if r < 8 or r & (r - 1):
            raise ValueError(f"progan: resolution must be a power of two >= 8, got {r}")
        if len(data.shape) != 3 or tuple(data.shape[1:]) != (r, r):
            raise ValueError(f"progan needs Cx{r}x{r} images, the data has shape {tuple(data.shape)}")
        if self.recipe.phase_kimg < 0:
            raise ValueError(f"progan: phase_kimg must be >= 0, got {self.recipe.phase_kimg}")
        k = self.recipe.reg_every
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"progan: reg_every must be an int >= 1, got {k!r}")

    def build(self):
        r, chan = self.recipe, (lambda res: _channels(self.recipe, res))
        c = self.data.shape[0]
        return {"G": Generator(r.z_dim, r.resolution, c, chan),
                "D": Discriminator(r.resolution, c, chan, r.mbstd_group)}

    def optimizers(self, nets):
        r = self.recipe
        return {k: torch.optim.Adam(nets[k].parameters(), lr=r.lr, betas=tuple(r.betas), eps=1e-8)
                for k in ("G", "D")}

    def phases(self):
        return [Phase("D", opt="D", loss="d_loss"), Phase("G", opt="G", loss="g_loss", fresh_batch=False)]

    # -- the growth schedule -----------------------------------------------------------------
    def _set_schedule(self, kimg: float) -> None:
        lod, alpha = schedule(kimg, self.recipe.phase_kimg, self.max_lod)
        self.state["lod"], self.state["alpha"] = int(lod), float(alpha)

    def end_step(self, ctx: Context) -> None:
        self._set_schedule(ctx.kimg)

    def load_state_dict(self, state):
        self.state = {"lod": int(state["lod"]), "alpha": float(state["alpha"])}

    @property
    def resolution(self) -> int:
        return 4 << self.state["lod"]

    def prepare(self, batch, labels, device):
        """Reals at the current resolution; during a fade-in blended with the previous one."""
        x, labels = super().prepare(batch, labels, device)
        for _ in range(self.max_lod - self.state["lod"]):
            x = _down(x)
        if self.state["lod"] > 0 and self.state["alpha"] < 1.0:
            x = torch.lerp(_up(_down(x)), x, self.state["alpha"])
        return x, labels

    # -- losses ------------------------------------------------------------------------------------
    def _G(self, G):
        return lambda z: G(z, self.state["lod"], self.state["alpha"])

    def _D(self, D):
        return lambda x: D(x, self.state["lod"], self.state["alpha"])

    def d_loss(self, ctx: Context):
        r, G, D = self.recipe, self._G(ctx.nets["G"]), self._D(ctx.nets["D"])
        n = ctx.batch.shape[0]
        with torch.no_grad():
            fake = G(ctx.latent(n))
        real_out, fake_out = D(ctx.batch), D(fake)
        drift = losses.drift_penalty(real_out, r.drift)
        loss = fake_out.mean() - real_out.mean() + drift
        logs = {"drift": drift.detach(), "alpha": torch.tensor(self.state["alpha"]),
                "lod": torch.tensor(float(self.state["lod"]))}
        if r.gp_lambda > 0 and ctx.step % r.reg_every == 0:
            # lazy: every reg_every-th step at reg_every x the weight; the log keeps the unscaled term
            gp = losses.wgan_gp_penalty(D, ctx.batch, fake, lam=r.gp_lambda, target=r.gp_target,
                                        alpha=ctx.rand(n).to(ctx.batch.dtype))
            loss = loss + r.reg_every * gp
            logs["gp"] = gp.detach()
        return loss, logs

    def g_loss(self, ctx: Context):
        fake = self._G(ctx.nets["G"])(ctx.latent(ctx.batch.shape[0]))
        return -self._D(ctx.nets["D"])(fake).mean()

    def generate(self, G, z, labels=None, trunc=None):
        """Images at the current level, upsampled (nearest) to the full resolution."""
        if trunc is not None:
            z = z * trunc
        img = G(z, self.state["lod"], self.state["alpha"])
        for _ in range(self.max_lod - self.state["lod"]):
            img = _up(img)
        return img


FAMILIES = (ProGAN,)
