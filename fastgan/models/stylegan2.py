"""``stylegan2``: StyleGAN2 (Karras et al., 2020) on fastgan's fused ops, trained by the engine.

The step has four phases, in the paper's order (one real batch per step):

=======  ==========================================  ===================================
phase    loss                                        when
=======  ==========================================  ===================================
G        non-saturating logistic: softplus(-D(G(z)))  every step
Greg     path length (weight 2, decay 0.01, batch    every ``pl_interval`` = 4 steps
         shrink 2)
D        softplus(D(G(z))) + softplus(-D(x))          every step
Dreg     R1: γ/2 · E|∇D(x)|²                          every ``r1_interval`` = 16 steps
=======  ==========================================  ===================================

The engine multiplies a lazy phase's loss by its interval and adjusts Adam's lr and betas
(lr·c, β^c, c = k/(k+1)).  Style mixing (probability 0.9): a second latent takes over the
ws from a random layer on.  The path-length running mean lives in ``self.state["pl_mean"]``
(saved in checkpoints); ``w_avg`` is a buffer of the mapping network (copied into the EMA).

**torch.compile**: :func:`g_main_loss` and :func:`d_main_loss` (the G and D main phases)
compile with ``fullgraph=True`` on the CPU.  The regularisation phases (R1, path length)
run eager: they need a double backward, which PyTorch's compile does not support.

**Presets** (``--preset NAME``, or ``--set preset=NAME``; a field set explicitly wins over the preset;
``cpu`` is ``mnist32`` at half width with the overrides below, and ``paper`` is ``paper256``):

* ``mnist32`` (default): CPU-sized, 32x32 (MNIST padded/resized), z = w = 128, 2 mapping
  layers, channel_base 1024 / channel_max 64 (32-64 channels), γ = 0.05: batch 32, 150 kimg on one
  thread reaches FID 111 with the digits features; the README's demo trains the ``cpu`` preset at this
  width instead (``--preset cpu --set channel_base=1024 --set channel_max=64``): 11.3;
* ``cifar``: the StyleGAN2-ADA CIFAR-10 configuration: 32x32, 2 mapping layers, channel_base
  16384 / max 512, γ = 0.01, minibatch-std group 32, no path length, no style mixing, and the
  ``orig`` discriminator (no residual skips);
* ``paper256``: the 256x256 configuration: 8 mapping layers, channel_base 16384 / max 512,
  γ = 1, minibatch-std group 8, path length 2, style mixing 0.9.

The engine-level fields (``batch``, ``kimg``, ``ema_kimg``) are not set by these presets: pass
them with ``--batch``, ``--kimg``, ``--set ema_kimg=...``. The family's ``cpu`` preset (what one CPU thread
trains in under 10 minutes) is ``mnist32`` at half width (channel_base 512 / channel_max 32), without path
length and style mixing, with γ = 1, DiffAugment (colour and translation, no cutout) and Adam at lr 0.005 (twice the paper's 0.0025: at 16-32
channels and batch 16 the paper's rate is still making near-identical samples at 30 kimg), for 80 kimg (batch
16), with an EMA of 10 kimg ramped as StyleGAN2-ADA's (half-life min(10 kimg, 0.05 · images seen), so 4 kimg at
the end).  Its first ~20 kimg make few digit classes.

**Tools**: :func:`generate_images` (seeds + truncation), :func:`style_mixing_grid` and
:func:`interpolation_gif`, all on the command line, the last two as the family's
``generate_modes`` (ψ = 0 is the average image ``w_avg``; truncation applies to the first
``trunc_cutoff`` ws)::

    fastgan generate --ckpt RUN --seeds 0-15 --trunc 0.7 --out samples.png
    fastgan generate --ckpt RUN --seeds 0-7 --trunc-grid 1,0.7,0.5,0 --out truncation.png
    fastgan generate --ckpt RUN --style-mix 0-4:10-15 --styles 0-3 --out style-mix.png
    fastgan generate --ckpt RUN --interpolate --seeds 0-3 --frames 16 --out walk.gif

The family's final snapshot adds ``samples/truncation-<step>.png``: seeds 0-7 (rows) at
ψ = 1, 0.7, 0.5, 0 (columns), the same grid as the second command.
"""
from __future__ import annotations

import dataclasses
import types

import torch
import torch.nn.functional as F

from PIL import Image

from .. import losses
from ..family import Context, Family, Phase
from ..family.augment import Augmenter
from ..family.sampling import parse_seeds, seed_latents, truncation_images
from .finetune import FineTune, FinetuneRecipe
from .stylegan2_networks import Discriminator, Generator

__all__ = ["StyleGAN2Recipe", "StyleGAN2", "PRESETS", "mix_styles", "g_main_loss", "d_main_loss",
           "generate_images", "style_mixing_grid", "interpolation_gif"]

PRESETS = {
    "mnist32": dict(resolution=32, z_dim=128, w_dim=128, mapping_layers=2, channel_base=1024, channel_max=64,
                    r1_gamma=0.05, pl_weight=2.0, style_mixing=0.9, mbstd_group=4, lr=0.0025, conv_clamp=256.0,
                    num_fp16_res=0, d_arch="resnet"),
    "cifar": dict(resolution=32, z_dim=512, w_dim=512, mapping_layers=2, channel_base=16384, channel_max=512,
                  r1_gamma=0.01, pl_weight=0.0, style_mixing=0.0, mbstd_group=32, lr=0.0025, conv_clamp=256.0,
                  num_fp16_res=4, d_arch="orig"),
    "paper256": dict(resolution=256, z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384, channel_max=512,
                     r1_gamma=1.0, pl_weight=2.0, style_mixing=0.9, mbstd_group=8, lr=0.0025, conv_clamp=256.0,
                     num_fp16_res=4, d_arch="resnet"),
}


@dataclasses.dataclass
class StyleGAN2Recipe(FinetuneRecipe):
    batch: int = 16
    kimg: float = 10.0
    ema_kimg: float = 1.0
    ema_rampup: float = 0.05
    preset: str = "mnist32"             # mnist32 | cifar | paper256; fields left None come from it
    resolution: int | None = None       # images are resized to this (a power of two)
    z_dim: int | None = None
    w_dim: int | None = None
    mapping_layers: int | None = None   # mapping depth (8 in the paper, 2 for small presets)
    channel_base: int | None = None     # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int | None = None
    conv_clamp: float | None = None     # clamp of conv outputs (0: none)
    num_fp16_res: int | None = None     # the highest resolutions run in float16 on CUDA (0: none; CPU: float32)
    lr: float | None = None             # Adam lr of G and D; betas (0, 0.99), eps 1e-8
    r1_gamma: float | None = None       # R1 weight γ (0 disables the Dreg phase)
    pl_weight: float | None = None      # path-length weight (0 disables the Greg phase)
    style_mixing: float | None = None   # probability of style mixing
    mbstd_group: int | None = None      # minibatch-std group size
    r1_interval: int = 16
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    mapping_lr_mul: float = 0.01
    w_avg_beta: float = 0.995
    trunc_cutoff: int | None = None     # truncation applies to the first this many ws (None: all)
    g_arch: str = "skip"                # skip | orig
    d_arch: str | None = None           # resnet | orig (the preset's: resnet, but orig for cifar)
    cond: bool = False                  # class-conditional (labels embedded in mapping, projection in D)

    def resolved(self) -> types.SimpleNamespace:
        """All fields with the preset's values filled in where a field is None."""
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        vals = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k, v in PRESETS[self.preset].items():
            if vals[k] is None:
                vals[k] = v
        return types.SimpleNamespace(**vals)


def _check(cfg) -> None:
    r = cfg.resolution
    if not isinstance(r, int) or r < 4 or r & (r - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {r!r}")
    for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "r1_interval", "pl_interval",
                 "pl_batch_shrink", "mbstd_group"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("r1_gamma", "pl_weight", "lr"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if not 0 <= cfg.style_mixing <= 1:
        raise ValueError(f"style_mixing must be in [0, 1], got {cfg.style_mixing}")
    if cfg.g_arch not in ("skip", "orig"):
        raise ValueError(f"g_arch must be skip or orig, got {cfg.g_arch!r}")
    if cfg.d_arch not in ("resnet", "orig"):
        raise ValueError(f"d_arch must be resnet or orig, got {cfg.d_arch!r}")


# ------------------------------------------------------------------------------ losses (compilable)
def mix_styles(mapping, z, z2, c, u, r, prob: float):
    """ws of z; with probability ``prob`` (u < prob, u ~ U[0,1)) the ws from a random layer
    cutoff in [1, num_ws) on (chosen by r ~ U[0,1)) come from z2 instead.  Tensor ops only,
    so it traces without graph breaks."""
    ws = mapping(z, c)
    if prob <= 0:
        return ws
    num_ws = ws.shape[1]
    cutoff = torch.where(u < prob, torch.floor(r * (num_ws - 1)) + 1, torch.full_like(r, num_ws))
    ws2 = mapping(z2, c, update_w_avg=False)
    layer = torch.arange(num_ws, device=ws.device, dtype=cutoff.dtype)
    return torch.where(layer.view(1, -1, 1) < cutoff.view(-1, 1, 1), ws, ws2)


def g_main_loss(G, D, z, z2, c, u, r, prob: float):
    """Non-saturating logistic G loss: mean softplus(-D(G(z)))."""
    img = G.synthesis(mix_styles(G.mapping, z, z2, c, u, r, prob))
    return F.softplus(-D(img, c)).mean()


def d_main_loss(G, D, real, z, z2, c, u, r, prob: float):
    """Logistic D loss: mean softplus(D(G(z))) + mean softplus(-D(x)) (G not differentiated)."""
    with torch.no_grad():
        fake = G.synthesis(mix_styles(G.mapping, z, z2, c, u, r, prob))
    fake_out, real_out = D(fake, c), D(real, c)
    return F.softplus(fake_out).mean() + F.softplus(-real_out).mean(), fake_out.detach(), real_out.detach()


# ------------------------------------------------------------------------------ the family
class StyleGAN2(FineTune, Family):
    name = "stylegan2"
    Recipe = StyleGAN2Recipe
    description = "StyleGAN2 (skip G, resnet D, R1, path length, style mixing) on the fused ops"
    # cpu: mnist32 at half width (16-32 channels), no path length, no style mixing (as the cifar configuration),
    # R1 gamma 1 and DiffAugment: with mnist32 as it is, 20 kimg collapse to one digit class; 80 kimg (the 10-minute
    # budget at one thread: the first ~20 kimg have few classes) and the EMA half-life ramped as StyleGAN2-ADA's
    # (min(10 kimg, 0.05 * images seen)) rather than the recipe's 1 kimg; lr 0.005: FID 52.1 at 80 kimg against
    # 72.0 with the paper's 0.0025 (at 30 kimg: 207 against 396; 0.01: 344; R1 gamma 0.01, no augmentation,
    # translation only, batch 32 or minibatch-std groups of 16 at 0.0025: 378-503); DiffAugment without cutout
    # (colour and translation): 18.2 at 80 kimg against 52.1 with it (at 30 kimg: 138.2 against 206.7; without
    # colour 520.2): cutting out half of a 32 px digit hides too much of it
    presets = {**{name: {"preset": name} for name in PRESETS},
               "cpu": {"preset": "mnist32", "channel_base": 512, "channel_max": 32, "pl_weight": 0.0,
                       "style_mixing": 0.0, "r1_gamma": 1.0, "augment": "diffaug",
                       "diffaug_policy": "color,translation", "kimg": 80.0,
                       "ema_kimg": 10.0, "lr": 0.005},
               "paper": {"preset": "paper256"}}
    generate_modes = ("style-mix", "interpolate")
    truncation_psis = (1.0, 0.7, 0.5, 0.0)   # columns of the truncation grid of the final snapshot
    truncation_rows = 8                       # its rows: seeds 0..7
    finetune_methods = ("full", "freezed", "scale-shift", "l2sp", "minegan")

    def __init__(self, recipe, data):
        self.cfg = recipe.resolved() if isinstance(recipe, StyleGAN2Recipe) else None
        super().__init__(recipe, data)
        _check(self.cfg)
        self.conditional = bool(self.cfg.cond and data.num_classes)
        self.c_dim = data.num_classes if self.conditional else 0
        self.state = {"pl_mean": torch.zeros(())}
        self.augmenter = Augmenter(self)

    @classmethod
    def data_options(cls, recipe):
        return {"resolution": recipe.resolved().resolution}

    def check_data(self, data):
        r = self.cfg.resolution
        if len(data.shape) != 3 or tuple(data.shape[1:]) != (r, r):
            raise ValueError(f"stylegan2 needs Cx{r}x{r} images, the data has shape {tuple(data.shape)}")
        if self.cfg.cond and not data.num_classes:
            raise ValueError("stylegan2: cond=true needs labelled data")

    def networks(self):
        c, ch = self.cfg, self.data.shape[0]
        clamp = c.conv_clamp or None
        G = Generator(c.z_dim, self.c_dim, c.w_dim, c.resolution, ch, c.mapping_layers, c.channel_base,
                      c.channel_max, c.g_arch, clamp, c.mapping_lr_mul, c.w_avg_beta, num_fp16_res=c.num_fp16_res)
        D = Discriminator(self.c_dim, c.resolution, ch, c.channel_base, c.channel_max, c.d_arch, c.mbstd_group,
                          1, clamp, mapping_layers=c.mapping_layers, num_fp16_res=c.num_fp16_res,
                          mapping_lr_mul=c.mapping_lr_mul)
        return {"G": G, "D": D}

    def optimizers(self, nets):
        lr = self.cfg.lr
        return {k: torch.optim.Adam(nets[k].parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8) for k in ("G", "D")}

    def phases(self):
        c = self.cfg
        ph = [Phase("G", opt="G", loss="g_main")]
        if c.pl_weight > 0:
            ph.append(Phase("Greg", opt="G", loss="g_reg", interval=c.pl_interval, fresh_batch=False))
        ph.append(Phase("D", opt="D", loss="d_main", fresh_batch=False))
        if c.r1_gamma > 0:
            ph.append(Phase("Dreg", opt="D", loss="d_reg", interval=c.r1_interval, fresh_batch=False))
        return ph

    # -- helpers ---------------------------------------------------------------------------------
    def latent(self, n, ctx_or_gen):
        if isinstance(ctx_or_gen, Context):
            return ctx_or_gen.randn(n, self.cfg.z_dim)
        return torch.randn(n, self.cfg.z_dim, generator=ctx_or_gen)

    def onehot(self, labels, n, device, dtype=torch.float32):
        if not self.c_dim:
            return None
        if labels is None:
            raise ValueError("labels are required for a conditional stylegan2")
        return F.one_hot(labels.long().reshape(-1)[:n], self.c_dim).to(device=device, dtype=dtype)

    def _mix_args(self, ctx: Context, n: int):
        dtype = ctx.batch.dtype
        z, z2 = ctx.latent(n).to(dtype), ctx.latent(n).to(dtype)
        u, r = ctx.rand(1).to(dtype), ctx.rand(1).to(dtype)
        return z, z2, self.onehot(ctx.labels, n, ctx.device, dtype), u, r

    def _d(self, ctx: Context):
        """D as the losses call it: ``D(augment(x), c)`` when the recipe augments."""
        D = ctx.nets["D"]
        if self.augmenter.kind == "none":
            return D
        return lambda x, c: D(self.augmenter(x, ctx), c)

    # -- losses --------------------------------------------------------------------------------------
    def g_main(self, ctx: Context):
        z, z2, c, u, r = self._mix_args(ctx, ctx.batch.shape[0])
        return self._with_penalty(g_main_loss(ctx.nets["G"], self._d(ctx), z, z2, c, u, r, self.cfg.style_mixing),
                                  ctx, "G")

    def g_reg(self, ctx: Context):
        G, cfg = ctx.nets["G"], self.cfg
        n = max(ctx.batch.shape[0] // cfg.pl_batch_shrink, 1)
        z, z2, c, u, r = self._mix_args(ctx, n)
        ws = mix_styles(G.mapping, z, z2, c, u, r, cfg.style_mixing)
        noise = ctx.randn(n, *self.data.shape).to(ws.dtype)
        pen, new_mean = losses.path_length_penalty(G.synthesis, ws, self.state["pl_mean"], decay=cfg.pl_decay,
                                                   weight=cfg.pl_weight, noise=noise)
        self.state["pl_mean"] = new_mean.detach().float().cpu()
        return pen, {"pl_mean": self.state["pl_mean"]}

    def d_main(self, ctx: Context):
        z, z2, c, u, r = self._mix_args(ctx, ctx.batch.shape[0])
        loss, fake_out, real_out = d_main_loss(ctx.nets["G"], self._d(ctx), ctx.batch, z, z2, c, u, r,
                                               self.cfg.style_mixing)
        return self._with_penalty((loss, {"D_real": real_out.mean(), "D_fake": fake_out.mean(),
                                          **self.augmenter.observe(real_out)}), ctx, "D")

    def d_reg(self, ctx: Context):
        D, n = self._d(ctx), ctx.batch.shape[0]
        c = self.onehot(ctx.labels, n, ctx.device, ctx.batch.dtype)
        return losses.r1_penalty(lambda x: D(x, c), ctx.batch, self.cfg.r1_gamma)

    def load_state_dict(self, state):
        self.state = {"pl_mean": torch.as_tensor(state.get("pl_mean", 0.0), dtype=torch.float32),
                      **({"ada": state["ada"]} if "ada" in state else {})}

    # -- sampling --------------------------------------------------------------------------------------
    def generate(self, G, z, labels=None, trunc=None, noise_mode="const"):
        c = self.onehot(labels, z.shape[0], z.device, z.dtype) if self.c_dim else None
        psi = 1.0 if trunc is None else float(trunc)
        return G(z, c, psi=psi, trunc_cutoff=self.cfg.trunc_cutoff, noise_mode=noise_mode)

    def snapshot(self, G, inputs, snap):
        """The sample grid; the final snapshot adds the truncation grid (rows: seeds, columns: ψ)."""
        out = super().snapshot(G, inputs, snap)
        if snap.final:
            dev = next(G.parameters()).device
            imgs = truncation_images((self, G), range(self.truncation_rows), self.truncation_psis, device=dev)
            path = f"{snap.base.replace('fakes-', 'truncation-')}.png"
            out["truncation"] = snap.image("", imgs, path, nrow=len(self.truncation_psis))
        return out

    def render(self, G, mode, out, *, seeds=(), spec=None, styles=(0, 1, 2, 3), psi=1.0, frames=16,
               duration=80, labels=None, **_):
        """``style-mix`` (``spec`` = ROWSEEDS:COLSEEDS, ``styles`` from the columns) or ``interpolate``
        (a GIF through the ws of ``seeds``)."""
        if mode == "style-mix":
            if not isinstance(spec, str) or spec.count(":") != 1:
                raise ValueError(f"--style-mix must look like ROWSEEDS:COLSEEDS (e.g. 0-4:10-15), got {spec!r}")
            rows, cols = (parse_seeds(p) for p in spec.split(":"))
            n = len(rows) + len(cols)
            lab = None
            if self.conditional:
                want = list(labels) if labels else list(range(self.data.num_classes))
                lab = torch.tensor([want[i % len(want)] for i in range(n)], dtype=torch.long)
            grid = style_mixing_grid(self, G, rows, cols, col_styles=styles, psi=psi, labels=lab)
            save_image(grid, out)
            return (f"a style-mixing grid ({len(rows)} row seeds x {len(cols)} column seeds, styles "
                    f"{','.join(map(str, styles))} of {G.num_ws} from the columns, psi {psi:g}; "
                    f"{grid.shape[2]}x{grid.shape[1]} px)")
        if mode == "interpolate":
            interpolation_gif(self, G, seeds, out, frames=frames, psi=psi, duration_ms=duration)
            return (f"an interpolation GIF ({len(seeds)} seeds x {frames} frames = {len(seeds) * frames} "
                    f"frames of {'x'.join(map(str, self.data.shape))}, psi {psi:g})")
        return super().render(G, mode, out)


# ------------------------------------------------------------------------------ tools
def _check_psi(psi):
    if not 0 <= psi <= 1:
        raise ValueError(f"psi must be in [0, 1] (0: the average image w_avg), got {psi}")


def _dev(G):
    return next(G.parameters()).device


@torch.no_grad()
def generate_images(family, G, seeds, psi=1.0, labels=None, noise_mode="const"):
    """One image per seed (the latent of ``torch.Generator().manual_seed(seed)``), truncated by psi."""
    _check_psi(psi)
    z = seed_latents(family, seeds, _dev(G))
    return family.generate(G, z, labels, trunc=psi, noise_mode=noise_mode)


@torch.no_grad()
def style_mixing_grid(family, G, row_seeds, col_seeds, col_styles=(0, 1, 2, 3), psi=1.0, labels=None):
    """A [(1+R)*H, (1+C)*W] grid tensor: the top row holds the column seeds' images, the left
    column the row seeds'; cell (i, j) takes the ws of row seed i with the layers ``col_styles``
    replaced by those of column seed j (the paper's Figure 3)."""
    if not row_seeds or not col_seeds:
        raise ValueError("row_seeds and col_seeds must not be empty")
    _check_psi(psi)
    dev = _dev(G)
    seeds = list(row_seeds) + list(col_seeds)
    c = family.onehot(labels, len(seeds), dev) if family.c_dim else None
    ws = G.mapping(seed_latents(family, seeds, dev), c, psi=psi, trunc_cutoff=family.cfg.trunc_cutoff, update_w_avg=False)
    bad = [s for s in col_styles if not 0 <= s < ws.shape[1]]
    if bad:
        raise ValueError(f"col_styles {bad} out of range [0, {ws.shape[1]})")
    R = len(row_seeds)
    imgs = G.synthesis(ws, noise_mode="const")
    rows = [torch.cat([torch.full_like(imgs[0], -1.0)] + [imgs[R + j] for j in range(len(col_seeds))], dim=2)]
    for i in range(R):
        mixed = ws[i].unsqueeze(0).repeat(len(col_seeds), 1, 1)
        cs = list(col_styles)
        mixed[:, cs] = ws[R:][:, cs]
        out = G.synthesis(mixed, noise_mode="const")
        rows.append(torch.cat([imgs[i]] + list(out), dim=2))
    return torch.cat(rows, dim=1)


def _to_pil(img):
    a = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    a = a.permute(1, 2, 0).numpy()
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)


def save_image(img, path):
    """Write a [C, H, W] tensor in [-1, 1] as PNG."""
    _to_pil(img).save(path)


@torch.no_grad()
def interpolation_gif(family, G, seeds, path, frames=16, psi=1.0, duration_ms=80):
    """An animated GIF through the ws of ``seeds`` (linear in W, looping back to the first)."""
    if len(seeds) < 2:
        raise ValueError("interpolation needs at least 2 seeds")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    _check_psi(psi)
    dev = _dev(G)
    c = family.onehot(torch.zeros(len(seeds), dtype=torch.long), len(seeds), dev) if family.c_dim else None
    ws = G.mapping(seed_latents(family, seeds, dev), c, psi=psi, trunc_cutoff=family.cfg.trunc_cutoff, update_w_avg=False)
    ws = torch.cat([ws, ws[:1]])
    t = torch.arange(frames, dtype=ws.dtype, device=dev) / frames
    images = []
    for a, b in zip(ws[:-1], ws[1:]):
        path_ws = a.unsqueeze(0) + t.view(-1, 1, 1) * (b - a).unsqueeze(0)
        images.extend(_to_pil(im) for im in G.synthesis(path_ws, noise_mode="const"))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


FAMILIES = (StyleGAN2,)
