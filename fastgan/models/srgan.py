"""SRGAN's parts (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network"): the SRResNet generator, the discriminator and the
perceptual loss.

* ``SRResNet``: a 9x9 convolution and PReLU; ``n_blocks`` residual blocks
  (conv3x3-BN-PReLU-conv3x3-BN plus a skip; 16 in the paper); conv3x3-BN and a skip
  from the head over the whole body; per x2 of ``scale`` a conv3x3 to 4x the width,
  PixelShuffle(2) and PReLU (x3: one stage with 9x and PixelShuffle(3)); a 9x9
  convolution to the image channels.  Fully convolutional: any input size.
  Images are in [-1, 1] on both sides; the output is linear (clamp for display).
  ``skip="bicubic"`` (not in the paper; the ``cpu`` preset's choice) adds a bicubic upscale of
  the input to the output and starts the last convolution at zero, so the network learns the
  residual over bicubic and starts from it: at a CPU budget SRResNet trained from scratch is
  still below bicubic (see the README), with the skip it starts there and improves on it.
  ``up_init="icnr"`` (not in the paper) initialises the convs before PixelShuffle with ICNR
  (:func:`icnr_`); measured on the photos demo it did not remove SRGAN's checkerboard and scored
  lower, so no preset uses it.
* ``SRDiscriminator``: ``2 * depth`` 3x3 convolutions, pairs of (stride 1, stride 2) at
  widths ``width * 2^i`` (64-64, 128-128, 256-256, 512-512 in the paper), BN on all but
  the first, LeakyReLU(0.2); then dense ``fc`` (1024), LeakyReLU(0.2), dense 1 (a logit;
  the paper's sigmoid is in the loss).  The dense layer fixes the input size ``hr_size``.
* Losses: the content loss is the MSE of pixels or of features of a frozen network
  (:class:`ContentLoss`; VGG19 ``relu5_4`` features rescaled by 1/12.75 in the paper, see
  :mod:`fastgan.models.vgg`); the adversarial loss ``-log D(G(LR))`` weighted by 1e-3.

The family ``srgan`` (recipe :class:`SRGANRecipe`, the paper's defaults; presets ``paper``
and ``cpu``) runs two stages: ``mse`` pre-trains SRResNet on pixel MSE for ``pretrain_kimg``,
then ``gan`` alternates D and G (content + 1e-3 adversarial) for ``kimg``; Adam 1e-4, betas
(0.9, 0.999), divided by 10 after ``lr_drop`` of the GAN stage (G's schedule counts the steps of
both stages, D's those of the GAN stage, where D first steps).  ``content`` is ``pixel``,
``vgg54`` (with ``vgg_weights`` and its full ``vgg_sha256``) or ``module:pkg.mod:attr``
(e.g. ``module:fastgan.metrics.digits:DigitsFeatures`` for digits): a frozen helper network,
never saved.  Data: ``--data photos`` / ``mnist`` (``fastgan.data.paired``) or a folder/zip
of HR images; LR inputs are bicubic (antialiased) downscales of random HR crops.
``fastgan generate --ckpt RUN --input PATH --out DIR`` upscales an image, a folder or a zip of
images of any size (the ``translate`` mode).
"""
from __future__ import annotations

import dataclasses
import importlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..data.paired import SR_DEMOS, HRImages, SRLoader, sr_demo
from ..data.transforms import to_float
from ..family import Family, Phase, Recipe, Stage
from ..family.schedules import run_steps
from .translate import translate_folder
from .vgg import VGG19Features

__all__ = ["SRResNet", "SRDiscriminator", "SRResidualBlock", "ContentLoss", "perceptual_loss",
           "discriminator_loss", "adversarial_loss", "upsample_stages", "VGG_FEATURE_SCALE"]

VGG_FEATURE_SCALE = 1 / 12.75   # the paper's rescaling of the VGG feature maps


def _check_int(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


SKIPS = ("none", "bicubic")    # SRResNet's image-level skip: none (the paper) or a bicubic upscale of the input
UP_INITS = ("default", "icnr")  # init of the convs before PixelShuffle: PyTorch's default (the paper) or ICNR


def icnr_(conv: nn.Conv2d, factor: int) -> nn.Conv2d:
    """ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"), in place: the
    ``factor**2`` output channels that PixelShuffle(factor) spreads over one output channel's
    ``factor x factor`` block get one and the same kernel and bias, drawn as PyTorch draws a conv's
    with ``out_channels / factor**2`` outputs.  Conv + PixelShuffle then starts as that smaller conv
    followed by nearest-neighbour upsampling: no checkerboard at initialisation."""
    _check_int("factor", factor, 1)
    out = conv.out_channels
    if out % (factor * factor):
        raise ValueError(f"the conv's out_channels ({out}) must be a multiple of factor**2 = {factor * factor}")
    base = nn.Conv2d(conv.in_channels, out // (factor * factor), conv.kernel_size, bias=conv.bias is not None)
    with torch.no_grad():      # PixelShuffle: input channel c * f^2 + k goes to output channel c
        conv.weight.copy_(base.weight.repeat_interleave(factor * factor, dim=0))
        if conv.bias is not None:
            conv.bias.copy_(base.bias.repeat_interleave(factor * factor))
    return conv


def upsample_stages(scale: int) -> list[int]:
    """The PixelShuffle factors that make up ``scale``: powers of two as x2 stages, 3 as one x3 stage."""
    _check_int("scale", scale, 1)
    if scale == 3:
        return [3]
    if scale & (scale - 1):
        raise ValueError(f"scale must be 3 or a power of two, got {scale}")
    return [2] * int(math.log2(scale))


class SRResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.PReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))

    def forward(self, x):
        return x + self.body(x)


class SRResNet(nn.Module):
    """``[N, channels, h, w] -> [N, channels, scale*h, scale*w]``."""

    def __init__(self, channels: int = 3, scale: int = 4, n_blocks: int = 16, width: int = 64,
                 skip: str = "none", up_init: str = "default"):
        super().__init__()
        self.channels = _check_int("channels", channels, 1)
        self.scale = scale
        if skip not in SKIPS:
            raise ValueError(f"skip must be one of {SKIPS}, got {skip!r}")
        self.skip = skip
        if up_init not in UP_INITS:
            raise ValueError(f"up_init must be one of {UP_INITS}, got {up_init!r}")
        _check_int("n_blocks", n_blocks, 0)
        _check_int("width", width, 1)
        stages = upsample_stages(scale)
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[SRResidualBlock(width) for _ in range(n_blocks)],
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        up = []
        for f in stages:
            conv = nn.Conv2d(width, width * f * f, 3, padding=1)
            up += [icnr_(conv, f) if up_init == "icnr" else conv, nn.PixelShuffle(f), nn.PReLU()]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)
        if skip == "bicubic":       # start exactly at bicubic upscaling
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be [N, {self.channels}, H, W], got shape {tuple(x.shape)}")
        h = self.head(x)
        y = self.tail(self.upsample(h + self.body(h)))
        if self.skip == "bicubic":
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y


class SRDiscriminator(nn.Module):
    """``[N, channels, hr_size, hr_size] -> [N, 1]`` logits."""

    def __init__(self, channels: int = 3, hr_size: int = 96, width: int = 64, depth: int = 4, fc: int = 1024):
        super().__init__()
        _check_int("channels", channels, 1)
        _check_int("width", width, 1)
        _check_int("depth", depth, 1)        # stride-2 convolutions
        _check_int("fc", fc, 1)              # width of the hidden dense layer
        _check_int("hr_size", hr_size, 1)
        if hr_size % 2 ** depth:
            raise ValueError(f"hr_size must be a multiple of 2**depth = {2 ** depth}, got {hr_size}")
        self.channels, self.hr_size = channels, hr_size
        layers, ch = [], channels
        for i in range(depth):
            w = width * 2 ** i
            for stride in (1, 2):
                layers.append(nn.Conv2d(ch, w, 3, stride=stride, padding=1))
                if ch != channels or stride == 2:     # every convolution but the first has BN
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.LeakyReLU(0.2, True))
                ch = w
        side = hr_size // 2 ** depth
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(ch * side * side, fc), nn.LeakyReLU(0.2, True),
                                  nn.Linear(fc, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.hr_size, self.hr_size):
            raise ValueError(f"x must be [N, {self.channels}, {self.hr_size}, {self.hr_size}], "
                             f"got shape {tuple(x.shape)}")
        return self.head(self.features(x))


class ContentLoss(nn.Module):
    """MSE between ``features(sr)`` and ``features(hr)`` times ``feature_scale^2`` (the features
    are rescaled before the MSE); pixel MSE when ``features`` is None.

    The feature network is frozen: no gradients for its parameters, always in eval mode; the
    gradient still flows through it to ``sr``.  ``features(x)`` may return a tensor or a tuple
    whose first item is the feature tensor."""

    def __init__(self, features: nn.Module | None = None, feature_scale: float = 1.0):
        super().__init__()
        if features is not None and not callable(features):
            raise TypeError(f"features must be a module or None, got {type(features).__name__}")
        self.features, self.feature_scale = features, float(feature_scale)
        if isinstance(features, nn.Module):
            features.requires_grad_(False).eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if isinstance(self.features, nn.Module):
            self.features.eval()
        return self

    def _phi(self, x):
        out = self.features(x)
        return (out[0] if isinstance(out, (tuple, list)) else out) * self.feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}")
        if self.features is None:
            return F.mse_loss(sr, hr)
        with torch.no_grad():
            target = self._phi(hr)
        return F.mse_loss(self._phi(sr), target)


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-log D(G(LR))`` averaged, written as ``softplus(-logit)``."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-log D(HR) - log(1 - D(G(LR)))`` averaged."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def perceptual_loss(content: torch.Tensor, fake_logits: torch.Tensor, adversarial_weight: float = 1e-3):
    """The generator's loss ``l_content + 1e-3 * l_adv``; returns ``(loss, {"content", "adv"})``."""
    adv = adversarial_loss(fake_logits)
    return content + adversarial_weight * adv, {"content": content.detach(), "adv": adv.detach()}


# -- the family ------------------------------------------------------------------------

class DropAt:
    """The factor of SRGAN's schedule: 1 for the first ``at`` steps, then ``factor`` (never for
    ``at=None``).  An object, so the LambdaLR saves its settings in the checkpoint."""

    def __init__(self, at: int | None, factor: float = 0.1):
        self.at, self.factor = at, factor

    def __call__(self, step: int) -> float:
        return self.factor if self.at is not None and step >= self.at else 1.0


CONTENT = ("pixel", "vgg54")   # or "module:pkg.mod:attr", a frozen feature network the user names


def _load_module(spec: str) -> nn.Module:
    """``module:pkg.mod:attr``: a module object or a class/function building one without arguments."""
    path = spec[len("module:"):]
    mod_name, _, attr = path.partition(":")
    if not mod_name or not attr:
        raise ValueError(f"content must be 'module:pkg.mod:attr', got {spec!r}")
    obj = getattr(importlib.import_module(mod_name), attr)
    obj = obj() if callable(obj) and not isinstance(obj, nn.Module) else obj
    if not isinstance(obj, nn.Module):
        raise ValueError(f"{spec} is not a torch.nn.Module")
    return obj


@dataclasses.dataclass
class SRGANRecipe(Recipe):
    batch: int = 16
    kimg: float = 3200.0                  # adversarial stage: 2e5 updates of 16 images in the paper
    pretrain_kimg: float = 16000.0        # SRResNet on MSE first: 1e6 updates of 16 images in the paper
    scale: int = 4
    crop: int = 96                        # HR crop side (a multiple of scale)
    n_blocks: int = 16
    width: int = 64
    skip: str = "none"                    # none (the paper) | bicubic: learn the residual over bicubic upscaling
    up_init: str = "default"              # default (the paper) | icnr: PixelShuffle convs start checkerboard-free
    d_width: int = 64
    d_depth: int = 4                      # stride-2 convolutions of D
    fc: int = 1024                        # hidden dense layer of D
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    lr_drop: float = 0.5                  # the rate drops to lr/10 after this fraction of the GAN stage (1: never)
    content: str = "pixel"                # pixel | vgg54 | module:pkg.mod:attr (frozen features)
    vgg_weights: str = ""                 # torchvision-layout VGG19 weights file for content=vgg54
    vgg_sha256: str = ""                  # its full sha256
    feature_scale: float = VGG_FEATURE_SCALE   # feature maps are multiplied by this before the MSE
    adversarial_weight: float = 1e-3


class SRGAN(Family):
    """Super-resolution: ``--data photos`` (scikit-learn's photographs), ``mnist`` (x4: 7 -> 28) or a
    folder/zip of HR images.  Stage ``mse`` pre-trains SRResNet, stage ``gan`` trains adversarially."""

    name = "srgan"
    Recipe = SRGANRecipe
    description = "SRGAN (Ledig et al. 2017): SRResNet pre-trained on MSE, then the perceptual loss; x4 by default"
    ema_nets = ()
    metrics = ("sr_quality",)   # fastgan.metrics.network: PSNR/SSIM of SR and bicubic on held-out images
    generate_modes = ("translate",)   # fastgan generate --input PATH: upscale LR images
    samples_latent = False            # image-to-image: no latent space, no mode-collapse check
    presets = {
        "paper": {},
        # skip=bicubic: at this budget SRResNet from scratch stays below bicubic (see the module doc)
        "cpu": {"model.n_blocks": 4, "model.width": 32, "model.d_width": 16, "model.fc": 128, "model.crop": 48,
                "model.batch": 8, "model.pretrain_kimg": 8.0, "model.kimg": 4.0, "model.skip": "bicubic"},
        # --data mnist (x4: 7 -> 28): the cpu sizes on whole 28x28 digits, the digits classifier's features
        "mnist": {"model.n_blocks": 4, "model.width": 32, "model.d_width": 16, "model.fc": 128, "model.crop": 28,
                  "model.d_depth": 2, "model.batch": 8, "model.pretrain_kimg": 4.0, "model.kimg": 4.0,
                  "model.skip": "bicubic", "model.content": "module:fastgan.metrics.digits:DigitsFeatures"},
    }

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        upsample_stages(recipe.scale)
        if recipe.crop % recipe.scale or recipe.crop % 2 ** recipe.d_depth:
            raise ValueError(f"crop ({recipe.crop}) must be a multiple of scale ({recipe.scale}) "
                             f"and of 2**d_depth ({2 ** recipe.d_depth})")
        if recipe.content not in CONTENT and not recipe.content.startswith("module:"):
            raise ValueError(f"content must be one of {CONTENT} or 'module:pkg.mod:attr', got {recipe.content!r}")
        if not 0.0 <= recipe.lr_drop <= 1.0:
            raise ValueError(f"lr_drop must be within [0, 1], got {recipe.lr_drop}")
        self.dataset = None

    @classmethod
    def make_dataset(cls, spec, recipe, **options):
        if spec in SR_DEMOS:
            return sr_demo(spec, "train", min_size=recipe.crop)
        return HRImages(spec, channels=3, min_size=recipe.crop)

    def check_data(self, data):
        if len(data.shape) != 3:
            raise ValueError(f"{self.name} needs images (C, H, W), got data of shape {data.shape}")

    def make_loader(self, dataset, batch, *, seed, rank, world):
        if not isinstance(dataset, HRImages):
            raise ValueError(f"{self.name} trains on HR images: --data photos, mnist or a folder/zip of images")
        self.dataset = dataset
        r = self.recipe
        return SRLoader(dataset, batch, crop=r.crop, scale=r.scale, seed=seed, rank=rank, world=world, hflip=r.hflip)

    def prepare(self, batch, labels, device):
        return {k: to_float(v) for k, v in batch.items()}, labels

    def latent(self, n, ctx_or_gen):
        raise ValueError(f"{self.name} upscales images and has no latent space: upscale a folder with "
                         f"fastgan generate --ckpt RUN --input DIR --out DIR")

    def build(self):
        r, c = self.recipe, self.data.shape[0]
        return {"G": SRResNet(c, r.scale, r.n_blocks, r.width, r.skip, r.up_init),
                "D": SRDiscriminator(c, r.crop, r.d_width, r.d_depth, r.fc)}

    def helpers(self):
        r = self.recipe
        if r.content == "vgg54":
            if not r.vgg_weights:
                raise ValueError("content=vgg54 needs vgg_weights (a VGG19 weights file) and vgg_sha256")
            return {"features": VGG19Features(r.vgg_weights, r.vgg_sha256, "relu5_4")}
        if r.content.startswith("module:"):
            return {"features": _load_module(r.content)}
        return {}

    def optimizers(self, nets):
        r = self.recipe
        return {k: torch.optim.Adam(nets[k].parameters(), lr=r.lr, betas=tuple(r.betas)) for k in ("G", "D")}

    def schedulers(self, opts):
        # each schedule counts the steps of its own optimiser (the engine advances a schedule only
        # when its optimiser stepped): G steps in both stages, D only in the adversarial one
        r = self.recipe
        steps = lambda kimg: run_steps(kimg, r.batch)  # noqa: E731 - one real batch per step
        drop = int(r.lr_drop * steps(r.kimg)) if r.lr_drop < 1 else None
        at = {"G": None if drop is None else steps(r.pretrain_kimg) + drop, "D": drop}
        return {k: torch.optim.lr_scheduler.LambdaLR(o, DropAt(at[k])) for k, o in opts.items()}

    def stages(self):
        r = self.recipe
        return [Stage("mse", (Phase("G", opt="G", loss="mse_loss"),), kimg=r.pretrain_kimg),
                Stage("gan", (Phase("D", opt="D", loss="d_loss"),
                              Phase("G", opt="G", loss="g_loss", fresh_batch=False)), kimg=r.kimg)]

    def mse_loss(self, ctx):
        return F.mse_loss(ctx.nets["G"](ctx.batch["lr"]), ctx.batch["hr"])

    def d_loss(self, ctx):
        with torch.no_grad():
            sr = ctx.nets["G"](ctx.batch["lr"])
        D = ctx.nets["D"]
        real, fake = D(ctx.batch["hr"]), D(sr)
        return discriminator_loss(real, fake), {"D_real": real.detach().mean(), "D_fake": fake.detach().mean()}

    def g_loss(self, ctx):
        sr = ctx.nets["G"](ctx.batch["lr"])
        feats = ctx.helpers.get("features")
        content = ContentLoss(feats, self.recipe.feature_scale if feats is not None else 1.0)(sr, ctx.batch["hr"])
        return perceptual_loss(content, ctx.nets["D"](sr), self.recipe.adversarial_weight)

    # -- snapshots: the LR input (nearest-neighbour enlarged), SR(LR) and HR on fixed crops ---
    def snapshot_inputs(self, n, generator):
        loader = SRLoader(self.dataset, max(1, min(n, 8)), crop=self.recipe.crop, scale=self.recipe.scale,
                          seed=int(torch.randint(2 ** 31 - 1, (), generator=generator)))
        return {k: to_float(v) for k, v in next(loader).items()}

    @torch.no_grad()
    def snapshot(self, G, inputs, snap):
        s = self.recipe.scale
        lr_up = inputs["lr"].repeat_interleave(s, 2).repeat_interleave(s, 3)
        rows = torch.cat([lr_up, G(inputs["lr"]).clamp(-1, 1), inputs["hr"]]).float().cpu()
        return {"samples": snap.image("samples", rows, snap.base + ".png", nrow=len(inputs["lr"]))}


    def render(self, G, mode, out, *, input=None, direction=None, **options):
        """``translate``: upscale every image of ``input`` (an image, a folder or a zip; any size)
        by ``scale`` into PNGs under ``out``."""
        if mode != "translate":
            return super().render(G, mode, out, **options)
        if direction is not None:
            raise ValueError(f"--direction: {self.name} only upscales (LR -> HR); drop --direction "
                             f"(AtoB/BtoA are cyclegan's), got {direction!r}")
        written = translate_folder(G, input, out)
        return f"{len(written)} image{'' if len(written) == 1 else 's'} upscaled x{self.recipe.scale}"


FAMILIES = (SRGAN,)
