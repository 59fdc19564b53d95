"""``gmmn``: generative moment matching networks (Li, Swersky & Zemel 2015).

No discriminator: G is trained directly to make the maximum mean discrepancy
between a generated and a real batch small,

    MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y),   k = sum_sigma exp(-|x - y|^2 / (2 sigma^2)),

a mixture of Gaussian kernels (``fastgan.losses.mmd2``, differentiable).  With a
characteristic kernel MMD = 0 only when the two distributions are equal, so all
moments are matched.  ``criterion = "moments"`` matches only the mean and the
variance of every feature instead: the source tutorial's 1-D demo
(``examples/gmmn_1d.py``) shows that this is not enough to match a distribution.

Following Li et al. on MNIST: z ~ U[-1, 1]^10; G = MLP 64-256-256-1024 with ReLU
and a sigmoid output (here Tanh, images in [-1, 1]; the MMD is taken on pixels in
[0, 1], where the kernel bandwidths 2, 5, 10, 20, 40, 80 apply); the loss is
sqrt(MMD^2); batch 1000.  Adam 1e-3 (the paper tuned SGD with momentum).
Table data (shape [F]) get a linear output layer and the MMD on the raw rows.

``space = "autoencoder"`` is the paper's GMMN+AE: an auto-encoder is trained first
(stage ``ae``, ``ae_kimg``), then frozen, and the GMMN learns to generate its codes
(stage ``gmmn``): the MMD is taken between generated codes and the codes of real
images, and a sample is the decoder's image of a generated code.  The kernel's
bandwidths are ``code_bandwidths`` times the median distance between the real codes
of the first ``gmmn`` batch (kept in the family state, so a resumed run uses the same
ones).  Departures from the paper: the auto-encoder is trained end to end with Adam
on the pixels' binary cross-entropy, with dropout on its ReLU hidden layer (the paper
pre-trained sigmoid layers layer-wise, then fine-tuned), and its code is linear: trained
so, sigmoid (and tanh) codes saturate within a few hundred steps, every image gets the
same code and the decoder draws the mean digit (reconstruction BCE 0.27 against 0.09
with a linear code, 60 kimg on the 4,500 training digits).
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..family import Context, Family, Phase, Recipe, Stage
from ..losses import DEFAULT_BANDWIDTHS, mmd2

__all__ = ["Generator", "Encoder", "Decoder", "AEGenerator", "GMMNRecipe", "GMMN", "moment_loss", "mmd_loss",
           "median_distance", "CRITERIA", "SPACES"]

CRITERIA = ("mmd", "moments")
SPACES = ("pixels", "autoencoder")


class Generator(nn.Module):
    """z -> MLP (ReLU hidden layers) -> output of ``shape``; Tanh output for images, linear for rows."""

    def __init__(self, z_dim: int = 10, hidden: tuple[int, ...] = (64, 256, 256, 1024),
                 shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        self.z_dim = z_dim
        layers = _mlp((z_dim, *hidden, math.prod(shape)), nn.Tanh() if len(shape) == 3 else None)
        self.net = nn.Sequential(*layers, nn.Unflatten(1, tuple(shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _mlp(sizes, out_act: nn.Module | None = None) -> list[nn.Module]:
    """Linear layers of ``sizes`` with ReLU between them and ``out_act`` after the last."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(True))
    if out_act is not None:
        layers.append(out_act)
    return layers


class Encoder(nn.Module):
    """Image in [0, 1] -> ReLU hidden layers (dropout on them when asked) -> linear code."""

    def __init__(self, shape: tuple[int, ...] = (1, 28, 28), hidden: tuple[int, ...] = (1024,), code_dim: int = 32):
        super().__init__()
        sizes = (math.prod(shape), *hidden, code_dim)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
            if dropout > 0:
                h = nn.functional.dropout(h, dropout, training=True)
        return self.layers[-1](h)


class Decoder(nn.Module):
    """Code -> ReLU hidden layers -> pixel logits of ``shape`` (sigmoid of them: the image in [0, 1])."""

    def __init__(self, shape: tuple[int, ...] = (1, 28, 28), hidden: tuple[int, ...] = (1024,), code_dim: int = 32):
        super().__init__()
        self.net = nn.Sequential(*_mlp((code_dim, *hidden, math.prod(shape))), nn.Unflatten(1, tuple(shape)))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


class AEGenerator(nn.Module):
    """GMMN+AE's sampler: z -> MLP (ReLU hidden layers) -> linear code -> decoder -> image in [-1, 1]."""

    def __init__(self, z_dim: int = 10, hidden: tuple[int, ...] = (64, 256, 256, 1024), code_dim: int = 32,
                 shape: tuple[int, ...] = (1, 28, 28), ae_hidden: tuple[int, ...] = (1024,)):
        super().__init__()
        self.z_dim = z_dim
        self.code = nn.Sequential(*_mlp((z_dim, *hidden, code_dim)))
        self.decoder = Decoder(shape, ae_hidden, code_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.code(z))) * 2 - 1


def median_distance(x: torch.Tensor) -> torch.Tensor:
    """The median Euclidean distance between distinct rows of ``x`` [n, ...] (2 <= n <= 4096); for an even
    number of pairs the mean of the two middle ones, as ``numpy.median``."""
    x = x.flatten(1)
    if not 2 <= x.shape[0] <= 4096:
        raise ValueError(f"median_distance needs 2 to 4096 rows, got {x.shape[0]}")
    i, j = torch.triu_indices(x.shape[0], x.shape[0], 1, device=x.device)
    return torch.quantile(torch.cdist(x, x)[i, j], 0.5)


def moment_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sum over features of (mean_x - mean_y)^2 + (std_x - std_y)^2: matches two moments only."""
    if x.ndim < 1 or y.ndim < 1 or x.shape[1:] != y.shape[1:]:
        raise ValueError(f"x and y must be [n, ...] with equal feature shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.flatten(1), y.flatten(1)
    mean = (x.mean(0) - y.mean(0)).square()
    std = (x.std(0, unbiased=False) - y.std(0, unbiased=False)).square()
    return (mean + std).sum()


def mmd_loss(x: torch.Tensor, y: torch.Tensor, bandwidths=DEFAULT_BANDWIDTHS, root: bool = True) -> torch.Tensor:
    """GMMN's loss sqrt(MMD^2) (or MMD^2) with a mixture of Gaussian kernels."""
    m = mmd2(x, y, bandwidths=bandwidths)
    return m.clamp_min(1e-12).sqrt() if root else m


@dataclasses.dataclass
class GMMNRecipe(Recipe):
    z_dim: int = 10
    hidden: tuple[int, ...] = (64, 256, 256, 1024)
    bandwidths: tuple[float, ...] = DEFAULT_BANDWIDTHS   # sigmas of the kernel mixture (pixels in [0, 1])
    criterion: str = "mmd"       # mmd | moments (mean and variance only)
    root: bool = True            # minimise sqrt(MMD^2) as Li et al.
    batch: int = 1000
    kimg: float = 500.0
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    # GMMN+AE (space = "autoencoder"): the auto-encoder, trained first for ae_kimg, then frozen
    space: str = "pixels"        # pixels | autoencoder
    code_dim: int = 32
    ae_hidden: tuple[int, ...] = (1024,)
    ae_kimg: float = 960.0       # the paper gives none; 60 kimg left blurry reconstructions (FID 53), 240 sharp (8.5)
    ae_lr: float = 1e-3
    ae_dropout: float = 0.1      # dropout on the encoder's hidden layer while the auto-encoder trains
    code_bandwidths: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0)   # times the real codes' median distance


class GMMN(Family):
    name = "gmmn"
    Recipe = GMMNRecipe
    description = "generative moment matching network: G trained by MMD (Gaussian kernel mixture), no D"
    # cpu: smaller batches (the MMD is quadratic in the batch), more steps, EMA of G, Adam 2e-3, 2,200 kimg: FID_digits
    # 109 in ~490 s of one thread (1e-3 and 1,100 kimg: 139; 2e-3 at 1,100: 133; the FID was still falling).
    # cpu-ae: GMMN+AE; the AE stage is cheap (~0.15 s/kimg) and sets the floor (reconstructions of the training
    # digits score 53 after 60 kimg, 8.5 after 240 with 32-d codes), 16-d codes are easier to match than 32-d
    # (FID 49.0 against 79.6 at 4,240 kimg), Adam 2e-3 (benchmarks/results/sweeps/gmmn-*, RESULTS_families.md)
    presets = {"cpu": {"batch": 256, "kimg": 2200.0, "lr": 2e-3, "ema_kimg": 1.0, "ema_rampup": 0.05}, "paper": {},
               "cpu-ae": {"space": "autoencoder", "batch": 256, "code_dim": 16, "ae_kimg": 960.0, "kimg": 3000.0,
                          "lr": 2e-3, "ema_kimg": 1.0, "ema_rampup": 0.05},
               "paper-ae": {"space": "autoencoder"}}

    def check_data(self, data):
        r = self.recipe
        if r.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {r.criterion!r}")
        if r.z_dim < 1 or not r.hidden or min(r.hidden) < 1:
            raise ValueError(f"z_dim and every hidden size must be >= 1, got z_dim={r.z_dim}, hidden={r.hidden}")
        if not r.bandwidths or min(r.bandwidths) <= 0:
            raise ValueError(f"bandwidths must be positive, got {r.bandwidths}")
        if len(data.shape) not in (1, 3):
            raise ValueError(f"gmmn needs images [C, H, W] or table rows [F], got shape {tuple(data.shape)}")
        if r.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {r.space!r}")
        if r.space == "autoencoder":
            if len(data.shape) != 3:
                raise ValueError(f"space='autoencoder' needs images [C, H, W], got shape {tuple(data.shape)}")
            if r.criterion != "mmd":
                raise ValueError(f"space='autoencoder' trains on the MMD of codes: criterion must be 'mmd', "
                                 f"got {r.criterion!r}")
            if r.code_dim < 1 or not r.ae_hidden or min(r.ae_hidden) < 1:
                raise ValueError(f"code_dim and every ae_hidden size must be >= 1, got code_dim={r.code_dim}, "
                                 f"ae_hidden={r.ae_hidden}")
            if not r.code_bandwidths or min(r.code_bandwidths) <= 0:
                raise ValueError(f"code_bandwidths must be positive, got {r.code_bandwidths}")
            if not 0 <= r.ae_dropout < 1:
                raise ValueError(f"ae_dropout must be in [0, 1), got {r.ae_dropout}")
            if not r.ae_kimg > 0 or not r.ae_lr > 0:
                raise ValueError(f"ae_kimg and ae_lr must be positive, got {r.ae_kimg} and {r.ae_lr}")

    def prepare(self, batch, labels, device):
        if batch.dtype != torch.uint8:
            return batch.to(device=device, dtype=torch.float32), labels.to(device)
        return super().prepare(batch, labels, device)

    def build(self):
        r, shape = self.recipe, tuple(self.data.shape)
        if r.space == "autoencoder":
            return {"G": AEGenerator(r.z_dim, tuple(r.hidden), r.code_dim, shape, tuple(r.ae_hidden)),
                    "E": Encoder(shape, tuple(r.ae_hidden), r.code_dim)}
        return {"G": Generator(r.z_dim, tuple(r.hidden), shape)}

    def optimizers(self, nets):
        r = self.recipe
        if r.space == "autoencoder":   # G's optimiser steps the code MLP only: the decoder is the AE's
            return {"G": torch.optim.Adam(nets["G"].code.parameters(), lr=r.lr, betas=tuple(r.betas)),
                    "AE": torch.optim.Adam([*nets["E"].parameters(), *nets["G"].decoder.parameters()], lr=r.ae_lr)}
        return {"G": torch.optim.Adam(nets["G"].parameters(), lr=r.lr, betas=tuple(r.betas))}

    def phases(self):
        return [Phase("G", opt="G", loss="g_loss")]

    def stages(self):
        r = self.recipe
        if r.space != "autoencoder":
            return super().stages()
        return [Stage("ae", (Phase("AE", opt="AE", loss="ae_loss", nets=("E", "G")),), kimg=r.ae_kimg),
                Stage("gmmn", tuple(self.phases()), kimg=r.kimg)]

    def samples_ready(self, stage):
        # GMMN+AE: until the code MLP trains, every sample decodes the same random code
        return stage != "ae" and super().samples_ready(stage)

    def ae_loss(self, ctx: Context):
        """Binary cross-entropy of the auto-encoder's reconstruction of pixels in [0, 1]."""
        x = (ctx.batch + 1) / 2
        logits = ctx.nets["G"].decoder(ctx.nets["E"](x, self.recipe.ae_dropout))
        return nn.functional.binary_cross_entropy_with_logits(logits, x)

    def code_bandwidths(self, real_codes: torch.Tensor) -> tuple[float, ...]:
        """``code_bandwidths`` times the median distance of the first real codes it sees (then fixed)."""
        if "code_sigma" not in self.state:
            self.state["code_sigma"] = float(median_distance(real_codes.detach()[:4096]))
        return tuple(self.state["code_sigma"] * b for b in self.recipe.code_bandwidths)

    def latent(self, n, ctx_or_gen):
        z_dim = self.recipe.z_dim
        if isinstance(ctx_or_gen, Context):
            return ctx_or_gen.rand(n, z_dim) * 2 - 1
        return torch.rand(n, z_dim, generator=ctx_or_gen) * 2 - 1

    def g_loss(self, ctx: Context):
        r, real = self.recipe, ctx.batch
        z = ctx.latent(real.shape[0])
        if r.space == "autoencoder":   # the MMD of codes; the real ones from the frozen encoder
            with torch.no_grad():
                real = ctx.nets["E"]((real + 1) / 2)
            fake, bandwidths = ctx.nets["G"].code(z), self.code_bandwidths(real)
        else:
            fake, bandwidths = ctx.nets["G"](z), r.bandwidths
            if len(self.data.shape) == 3:   # the kernel's bandwidths are for pixels in [0, 1]
                real, fake = (real + 1) / 2, (fake + 1) / 2
            if r.criterion == "moments":
                return moment_loss(fake, real)
        loss = mmd_loss(fake, real, bandwidths, r.root)
        return loss, {"mmd2": (loss.detach() ** 2 if r.root else loss.detach())}

FAMILIES = (GMMN,)
