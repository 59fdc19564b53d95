"""``cgan``: class-conditional GANs, G(z, y) and D(x, y) (Mirza & Osindero 2014).

Two ways to give D the label (``--set cond=concat|projection``):

* ``concat``: the label's embedding is concatenated to the inputs: to z in G, and
  as an extra image channel (an embedding of H*W numbers per class) in D;
* ``projection`` (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>,
  with phi(x) D's conv features; G is the same concat generator.  ``--set
  spectral_norm=true`` spectrally normalises D as in their paper.

The losses are the conditional minimax / non-saturating ones of ``fastgan.losses``
on D(x | y) (``--set loss=minimax|ns``, or any other loss).  Networks are small
DCGAN-style convnets for 1- or 3-channel images whose size is a multiple of 4
(MNIST 28x28, the 8x8 digits).

Label-controlled sampling:

* API: :func:`sample` (``sample("runs/cgan-mnist", labels=[3, 3, 7])``) or
  ``fastgan.family.sampling.generate(pair, seeds, labels=...)``;
* command line: ``python -m fastgan.models.cgan --ckpt RUN --labels 0-9 --per-label 8 --out grid.png``
  (one row per label).
"""
from __future__ import annotations

import argparse
import dataclasses

import torch
from torch import nn

from ..data import save_grid
from ..family import GAN, GANRecipe
from ..family.sampling import generate, parse_seeds
from . import load_generator
from ._common import init_normal

__all__ = ["Generator", "ConcatDiscriminator", "ProjectionDiscriminator", "spectral_normalize", "CGANRecipe",
           "CGAN", "sample",
           "CONDS", "main"]

CONDS = ("concat", "projection")


def _check_labels(labels: torch.Tensor, num_classes: int) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"labels must be an integer tensor, got {getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min().item()}..{labels.max().item()}")


class Generator(nn.Module):
    """(z [N, z_dim], y [N]) -> images [N, C, R, R]: [z, embed(y)] -> 2w x R/4 x R/4 -> w x R/2 -> C x R."""

    def __init__(self, num_classes: int, z_dim: int = 64, embed: int = 16, width: int = 64,
                 shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        ch, res = shape[0], shape[1]
        self.num_classes, self.z_dim, s, c = num_classes, z_dim, res // 4, 2 * width
        self.embed = nn.Embedding(num_classes, embed)
        self.net = nn.Sequential(
            nn.Linear(z_dim + embed, c * s * s, bias=False), nn.BatchNorm1d(c * s * s), nn.ReLU(True),
            nn.Unflatten(1, (c, s, s)),
            nn.ConvTranspose2d(c, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, ch, 4, 2, 1), nn.Tanh())
        init_normal(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_labels(labels, self.num_classes)
        return self.net(torch.cat([z, self.embed(labels)], 1))


def _features(cin: int, width: int) -> nn.Sequential:
    """x -> 2w x R/4 x R/4 features (two strided 4x4 convs, LeakyReLU(0.2))."""
    return nn.Sequential(nn.Conv2d(cin, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
                         nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2, True))


class ConcatDiscriminator(nn.Module):
    """D([x, embed(y) as a channel]) -> logit [N, 1]."""

    def __init__(self, num_classes: int, width: int = 64, shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        ch, res = shape[0], shape[1]
        self.num_classes, self.res = num_classes, res
        self.embed = nn.Embedding(num_classes, res * res)
        self.features = _features(ch + 1, width)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * (res // 4) ** 2, 1))
        init_normal(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_labels(labels, self.num_classes)
        ymap = self.embed(labels).view(-1, 1, self.res, self.res)
        return self.head(self.features(torch.cat([x, ymap.to(x.dtype)], 1)))


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(h) + <embed(y), h> with h = phi(x), the flattened conv features -> logit [N, 1].

    phi keeps the spatial layout (no global pooling): with two conv layers a pooled phi sees
    only local texture, and G learns no digit shapes in short runs; flattened, the two
    variants differ only in how the label enters."""

    def __init__(self, num_classes: int, width: int = 64, shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        self.num_classes = num_classes
        n = 2 * width * (shape[1] // 4) ** 2
        self.features = nn.Sequential(_features(shape[0], width), nn.Flatten())
        self.psi = nn.Linear(n, 1)
        self.embed = nn.Embedding(num_classes, n)
        init_normal(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_labels(labels, self.num_classes)
        h = self.features(x)
        return self.psi(h) + (self.embed(labels) * h).sum(1, keepdim=True)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every conv, linear and embedding weight."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.utils.parametrizations.spectral_norm(m)
    return module


@dataclasses.dataclass
class CGANRecipe(GANRecipe):
    cond: str = "concat"         # how D sees the label: concat | projection
    z_dim: int = 64
    embed: int = 16              # size of G's label embedding
    spectral_norm: bool = False  # spectrally normalise D (Miyato & Koyama's projection D has it)
    width: int = 64
    loss: str = "ns"             # the conditional non-saturating loss; minimax for the saturating one
    batch: int = 64
    kimg: float = 100.0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


class CGAN(GAN):
    name = "cgan"
    Recipe = CGANRecipe
    conditional = True
    description = "class-conditional GAN, label embedding concat or projection D (--set cond=projection)"
    # cpu: batch 16 at 5x the lr, EMA of G, and WGAN-GP's penalty on the NS loss (10, every 4th step at 4x), 80
    # kimg: FID_digits 6.8 in the sweep (without the penalty 10.2 at 50 kimg, 10.0 at 80); cpu-projection:
    # Miyato & Koyama's projection D, spectrally normalised, 100 kimg (8.6 at 50; the penalty on top of spectral norm
    # is worse: 10.8 at 50)
    presets = {"cpu": {"batch": 16, "lr_g": 1e-3, "lr_d": 1e-3, "kimg": 80.0, "ema_kimg": 1.0, "ema_rampup": 0.05,
                       "gp_lambda": 10.0, "reg_every": 4},
               "cpu-projection": {"cond": "projection", "spectral_norm": True, "batch": 16, "lr_g": 1e-3,
                                  "lr_d": 1e-3, "kimg": 100.0, "ema_kimg": 1.0, "ema_rampup": 0.05},
               "paper": {}}

    def check_data(self, data):
        if self.recipe.cond not in CONDS:
            raise ValueError(f"cond must be one of {CONDS}, got {self.recipe.cond!r}")
        if len(data.shape) != 3 or data.shape[0] not in (1, 3) or data.shape[1] != data.shape[2] \
                or data.shape[1] % 4:
            raise ValueError(f"cgan needs square 1- or 3-channel images with a side divisible by 4, "
                             f"got shape {tuple(data.shape)}")

    def build(self):
        r, k, shape = self.recipe, self.data.num_classes, tuple(self.data.shape)
        D = (ConcatDiscriminator if r.cond == "concat" else ProjectionDiscriminator)(k, r.width, shape)
        if r.spectral_norm:
            spectral_normalize(D)
        return {"G": Generator(k, r.z_dim, r.embed, r.width, shape), "D": D}


def _parse_labels(text) -> list[int]:
    try:
        return parse_seeds(text)
    except ValueError:
        raise ValueError(f"labels must look like 0-9 or 1,5,9, got {text!r}") from None


def sample(ckpt_or_pair, labels, *, seed: int = 0, device="cpu", ema: bool = True) -> torch.Tensor:
    """Images in [-1, 1] of the given classes from a conditional checkpoint (or a ``(family, G)`` pair).

    ``labels``: a sequence/tensor of class ids or a string like ``"0-9"``; sample i uses seed ``seed + i``."""
    pair = load_generator(ckpt_or_pair, device=device, ema=ema) if isinstance(ckpt_or_pair, str) else ckpt_or_pair
    family = pair[0]
    if not family.conditional:
        raise ValueError(f"model {family.name!r} is not class-conditional; labels cannot control its samples")
    labels = torch.as_tensor(_parse_labels(labels) if isinstance(labels, str) else labels, dtype=torch.int64)
    if labels.ndim != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-d sequence, got shape {tuple(labels.shape)}")
    _check_labels(labels, family.data.num_classes)
    return generate(pair, range(seed, seed + len(labels)), labels=labels, device=device)


def main(argv=None) -> int:
    """``python -m fastgan.models.cgan --ckpt RUN --labels 0-9 --per-label 8 --out grid.png``."""
    p = argparse.ArgumentParser(prog="python -m fastgan.models.cgan", description="class-controlled samples")
    p.add_argument("--ckpt", required=True, help="checkpoint file or run directory of a conditional model")
    p.add_argument("--labels", default="0-9", help="classes, e.g. 0-9 or 3,3,7 (one grid row each)")
    p.add_argument("--per-label", type=int, default=8, help="samples per label (grid columns)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="cgan_grid.png")
    p.add_argument("--no-ema", action="store_true")
    a = p.parse_args(argv)
    if a.per_label < 1:
        raise ValueError(f"--per-label must be >= 1, got {a.per_label}")
    rows = _parse_labels(a.labels)
    labels = torch.tensor(rows).repeat_interleave(a.per_label)
    imgs = sample(a.ckpt, labels, seed=a.seed, ema=not a.no_ema)
    save_grid(imgs, a.out, nrow=a.per_label)
    print(f"wrote {len(labels)} samples of classes {rows} ({a.per_label} per row) to {a.out}")
    return 0


FAMILIES = (CGAN,)

if __name__ == "__main__":
    raise SystemExit(main())
