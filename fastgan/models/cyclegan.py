"""CycleGAN's parts (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"): the ResNet generator, the 70x70 PatchGAN,
the losses, the history pool of generated images and the learning-rate schedule.

Networks, in the paper's notation (appendix 7.2):

* generator ``c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3``: ``c7s1-k`` is a
  7x7 convolution with reflection padding, instance norm and ReLU; ``dk`` a 3x3 stride-2
  convolution, instance norm, ReLU; ``Rk`` two reflection-padded 3x3 convolutions with
  instance norm (ReLU between them) and a skip; ``uk`` a 3x3 stride-1/2 (transposed)
  convolution, instance norm, ReLU; the last ``c7s1-3`` has no norm and ends in tanh.
  ``ngf`` is the first width (64), ``depth`` the number of ``d``/``u`` stages (2);
  the paper uses 9 blocks at 256 px and 6 at 128 px and below.
* discriminator ``C64-C128-C256-C512``: ``Ck`` a 4x4 convolution, instance norm,
  LeakyReLU(0.2); no norm on C64; stride 2 except on the last ``C``; then a 4x4
  convolution to one channel.  With ``depth=3`` stride-2 layers each output sees a
  70x70 input patch.

Instance norm has no affine parameters and convolutions keep their biases, as in the
authors' released code; ``weights_init`` draws N(0, 0.02).

Losses: LSGAN for the adversarial terms; ``cycle_weight`` (lambda = 10) times the L1
cycle losses of both directions; ``identity_weight`` (0.5) * lambda times the L1 identity
losses; each discriminator's loss is halved.

The family ``cyclegan`` (recipe :class:`CycleGANRecipe`, the paper's defaults; presets
``paper`` and ``cpu``): networks ``G_AB, G_BA, D_A, D_B``; phase ``G`` (both generators)
then ``D`` (both discriminators, on the same batch, fakes through the two history pools);
Adam 2e-4, betas (0.5, 0.999), constant for ``constant_fraction`` of the run, then linear
decay to 0 (``fastgan.family.schedules.linear_decay``, in the checkpoint with the pools).  Data: ``--data
digits`` (MNIST <-> MNIST-M, ``fastgan.data.mnistm``) or a folder/zip with ``trainA``/``trainB``.
The snapshot grid shows A, G_AB(A), G_BA(G_AB(A)) and B, G_BA(B), G_AB(G_BA(B)).
``fastgan generate --ckpt RUN --input PATH --direction AtoB|BtoA --out DIR`` translates an
image, a folder or a zip (the ``translate`` mode, :func:`fastgan.models.translate.translate_folder`).
"""
from __future__ import annotations

import dataclasses
import itertools

import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import to_float
from ..data.unaligned import UnalignedData, UnalignedLoader
from ..family import Family, Phase, Recipe
from ..family.schedules import linear_decay, run_steps
from .translate import translate_folder

__all__ = ["ResnetGenerator", "PatchDiscriminator", "ResnetBlock", "weights_init", "ImagePool",
           "generator_loss", "discriminator_loss", "lsgan_d", "lsgan_g", "cycle_grid", "NORMS"]

NORMS = ("instance", "batch", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def weights_init(m: nn.Module, gain: float = 0.02) -> None:
    """N(0, gain) weights and zero biases for convolutions; N(1, gain) scales for batch norm."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, gain)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, gain)
        nn.init.zeros_(m.bias)


class ResnetBlock(nn.Module):
    """``x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x)`` with reflection padding."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: ``[N, in_channels, H, W] -> [N, out_channels, H, W]`` in [-1, 1].

    H and W must be multiples of ``2 ** depth`` (the down- and up-sampling must meet)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 depth: int = 2, norm: str = "instance"):
        super().__init__()
        self.in_channels = _check_int("in_channels", in_channels, 1)   # image channels in
        self.out_channels = _check_int("out_channels", out_channels, 1)
        _check_int("ngf", ngf, 1)                                     # width of the first layer
        self.n_blocks = _check_int("n_blocks", n_blocks, 0)           # residual blocks at the bottleneck
        self.depth = _check_int("depth", depth, 0)                    # stride-2 stages down (and up)
        _check_norm(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), _norm(norm, ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(depth):
            layers += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), _norm(norm, 2 * ch), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm) for _ in range(n_blocks)]
        for _ in range(depth):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(weights_init)

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this."""
        return 2 ** self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [N, {self.in_channels}, H, W], got shape {tuple(x.shape)}")
        if x.shape[2] % self.multiple or x.shape[3] % self.multiple:
            raise ValueError(f"x's height and width must be multiples of {self.multiple} "
                             f"(depth={self.depth}), got {x.shape[2]}x{x.shape[3]}")
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """The PatchGAN: ``[N, in_channels, H, W] -> [N, 1, H', W']`` raw scores, one per patch.

    ``depth`` stride-2 layers (widths ndf, 2 ndf, ... capped at 8 ndf), one stride-1 layer
    of twice the last width (capped at 8 ndf) and a 4x4 convolution to one channel."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, depth: int = 3, norm: str = "instance"):
        super().__init__()
        self.in_channels = _check_int("in_channels", in_channels, 1)
        _check_int("ndf", ndf, 1)                   # width of the first layer
        self.depth = _check_int("depth", depth, 1)  # stride-2 layers; 3 gives the 70x70 patches
        _check_norm(norm)
        layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for i in range(1, depth + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < depth else 1
            layers += [nn.Conv2d(ch, out, 4, stride=stride, padding=1), _norm(norm, out), nn.LeakyReLU(0.2, True)]
            ch = out
        layers += [nn.Conv2d(ch, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [N, {self.in_channels}, H, W], got shape {tuple(x.shape)}")
        return self.net(x)


# -- losses ----------------------------------------------------------------------------

def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """One discriminator's LSGAN loss, halved: ``0.5 * (mean((D(x) - 1)^2) + mean(D(G(z))^2))``."""
    return 0.5 * ((real - 1).square().mean() + fake.square().mean())


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    """The generator's LSGAN loss ``mean((D(G(x)) - 1)^2)``."""
    return (fake - 1).square().mean()


def generator_loss(G_AB: nn.Module, G_BA: nn.Module, D_A: nn.Module, D_B: nn.Module, real_A: torch.Tensor,
                   real_B: torch.Tensor, cycle_weight: float = 10.0, identity_weight: float = 0.5):
    """Both generators' loss on one batch.

    Returns ``(loss, fakes, terms)``: the total to minimise, ``(fake_B, fake_A)`` = (G_AB(A), G_BA(B))
    for the discriminators' step, and the detached terms to log.  The identity terms need A and B
    with the same channel count; ``identity_weight=0`` skips them."""
    if cycle_weight < 0 or identity_weight < 0:
        raise ValueError(f"cycle_weight and identity_weight must be >= 0, got {cycle_weight}, {identity_weight}")
    fake_B, fake_A = G_AB(real_A), G_BA(real_B)
    adv_AB, adv_BA = lsgan_g(D_B(fake_B)), lsgan_g(D_A(fake_A))
    cyc_A = (G_BA(fake_B) - real_A).abs().mean()
    cyc_B = (G_AB(fake_A) - real_B).abs().mean()
    loss = adv_AB + adv_BA + cycle_weight * (cyc_A + cyc_B)
    terms = {"G_adv_AB": adv_AB, "G_adv_BA": adv_BA, "cycle_A": cyc_A, "cycle_B": cyc_B}
    if identity_weight > 0:
        if real_A.shape[1] != real_B.shape[1]:
            raise ValueError(f"the identity loss needs A and B with the same channel count, got "
                             f"{real_A.shape[1]} and {real_B.shape[1]}; set identity_weight=0 or convert the images")
        idt_B = (G_AB(real_B) - real_B).abs().mean()
        idt_A = (G_BA(real_A) - real_A).abs().mean()
        loss = loss + cycle_weight * identity_weight * (idt_A + idt_B)
        terms.update(idt_A=idt_A, idt_B=idt_B)
    return loss, (fake_B, fake_A), {k: v.detach() for k, v in terms.items()}


def discriminator_loss(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """One discriminator's halved LSGAN loss on real images and (pooled, detached) fakes."""
    return lsgan_d(D(real), D(fake.detach()))


# -- history pool ----------------------------------------------------------------------

class ImagePool:
    """The history of generated images the discriminators train on (Shrivastava et al. 2017).

    ``query(images)`` goes through the batch one image at a time: while the pool holds fewer
    than ``size`` images the image is stored and returned; once full, with probability 1/2
    a uniformly chosen stored image is returned and replaced by the new one, otherwise the
    new image is returned.  ``size=0`` returns the batch unchanged.  The draws come from the
    pool's own generator, and ``state_dict`` holds the images and the generator, so a resume
    continues exactly."""

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = _check_int("size", size, 0)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim < 1:
            raise TypeError("images must be a batched torch.Tensor")
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
                continue
            if self.images[0].shape != img.shape:
                raise ValueError(f"images of shape {tuple(img.shape)} do not match the pool's "
                                 f"{tuple(self.images[0].shape)}")
            if torch.rand((), generator=self.generator).item() < 0.5:
                j = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[j].to(img.device))
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict:
        stored = torch.stack([t.cpu() for t in self.images]) if self.images else torch.empty(0)
        return {"size": self.size, "images": stored, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict, device=None) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"pool state has size {int(state['size'])}, this pool {self.size}")
        stored = state["images"]
        self.images = [t.to(device) if device is not None else t.clone() for t in stored] if stored.numel() else []
        self.generator.set_state(state["generator"])


# -- snapshots -------------------------------------------------------------------------

@torch.no_grad()
def cycle_grid(G_AB: nn.Module, G_BA: nn.Module, real_A: torch.Tensor, real_B: torch.Tensor) -> torch.Tensor:
    """The snapshot rows ``A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B), G_AB(G_BA(B))`` as
    ``[6, n, C, H, W]`` in [-1, 1] (``n`` is the smaller batch; grey rows are widened to RGB
    and B's rows resized to A's size for display when the domains differ)."""
    n = min(len(real_A), len(real_B))
    real_A, real_B = real_A[:n], real_B[:n]
    fake_B, fake_A = G_AB(real_A), G_BA(real_B)
    rows = [real_A, fake_B, G_BA(fake_B), real_B, fake_A, G_AB(fake_A)]
    c, size = max(r.shape[1] for r in rows), real_A.shape[2:]
    rows = [r if r.shape[2:] == size else F.interpolate(r, size=size, mode="bilinear", align_corners=False)
            for r in rows]
    return torch.stack([r.expand(-1, c, -1, -1) if r.shape[1] == 1 else r for r in rows])


# -- the family ------------------------------------------------------------------------

@dataclasses.dataclass
class CycleGANRecipe(Recipe):
    batch: int = 1                        # the paper trains with batch 1
    kimg: float = 200.0                   # images of A shown; the paper: 200 epochs of the larger domain
    ngf: int = 64                         # generator width
    ndf: int = 64                         # discriminator width
    n_blocks: int = 0                     # residual blocks; 0: 9 at >= 256 px, else 6 (the paper)
    g_depth: int = 2                      # stride-2 stages of the generator
    d_depth: int = 3                      # stride-2 layers of the PatchGAN (3: 70x70 patches)
    norm: str = "instance"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    cycle_weight: float = 10.0            # lambda
    identity_weight: float = 0.5          # times lambda; 0 disables the identity loss
    pool_size: int = 50                   # history of generated images shown to D
    constant_fraction: float = 0.5        # the rate is constant for this part of the run, then decays to 0
    resolution: int = 0                   # resize both domains to this square size; 0 keeps the size
    channels: int = 0                     # convert both domains to 1 or 3 channels; 0 keeps them (they must agree)


class CycleGAN(Family):
    """Unpaired translation between domains A and B: ``--data digits`` (MNIST <-> MNIST-M) or a
    folder/zip with trainA/trainB."""

    name = "cyclegan"
    Recipe = CycleGANRecipe
    description = "CycleGAN (Zhu et al. 2017): unpaired A<->B translation; --data digits or trainA/trainB folders"
    ema_nets = ()
    generator_net = "G_AB"
    metrics = ("digits_translation",)   # fastgan.metrics.network: accuracies and FID on the digits demo
    generate_modes = ("translate",)   # fastgan generate --input PATH --direction AtoB|BtoA
    samples_latent = False            # image-to-image: no latent space, no mode-collapse check
    directions = {"AtoB": "G_AB", "BtoA": "G_BA", "AB": "G_AB", "BA": "G_BA"}
    presets = {
        "paper": {},
        # one stride-2 stage (14x14 residual blocks on 28x28 digits): 70% digit accuracy at 4 kimg
        # against 58% with the paper's two (README, Image-to-image).  The paper's batch 1 and no identity
        # loss (the paper adds it for painting <-> photo, to keep colours; MNIST-M's colours are not
        # to be kept): G_BA learns to invert the dark digits, a third of MNIST-M, which batch 4 with the
        # identity loss left at 33-52%: 16 kimg, seeds 0-3: 90.8%, 89.0%, 83.8%, 90.2% (was 71.0-75.4% at 8 kimg;
        # benchmarks/results/cyclegan/screen.md)
        "cpu": {"model.ngf": 16, "model.ndf": 16, "model.n_blocks": 3, "model.g_depth": 1, "model.d_depth": 2,
                "model.batch": 1, "model.identity_weight": 0.0, "model.kimg": 16.0},
    }

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        if recipe.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {recipe.norm!r}")
        if not 0.0 <= recipe.constant_fraction <= 1.0:
            raise ValueError(f"constant_fraction must be within [0, 1], got {recipe.constant_fraction}")
        seeds = torch.randint(2 ** 31 - 1, (2,)).tolist()     # from the run's seed (set before the family is built)
        self.pools = {"A": ImagePool(recipe.pool_size, seeds[0]), "B": ImagePool(recipe.pool_size, seeds[1])}
        self.dataset, self.nets = None, {}

    @classmethod
    def make_dataset(cls, spec, recipe, **options):
        return UnalignedData.load(spec, "train", resolution=recipe.resolution or None,
                                  channels=recipe.channels or None, on_error=options.get("on_error", "raise"))

    def check_data(self, data):
        if len(data.shape) != 3:
            raise ValueError(f"{self.name} needs images (C, H, W), got data of shape {data.shape}")

    def make_loader(self, dataset, batch, *, seed, rank, world):
        if not isinstance(dataset, UnalignedData):
            raise ValueError(f"{self.name} trains on two domains: --data digits or a folder/zip with trainA/trainB")
        m = 2 ** self.recipe.g_depth
        for key, ds in (("A", dataset.A), ("B", dataset.B)):
            h, w = ds.shape[1:]
            if h % m or w % m:
                raise ValueError(f"domain {key} ({ds.name}): images are {h}x{w}, but the generator's "
                                 f"{self.recipe.g_depth} stride-2 stages need sides that are multiples of {m}; "
                                 f"set resolution= to a multiple of {m}")
        self.dataset = dataset
        return UnalignedLoader(dataset.A, dataset.B, batch, seed=seed, rank=rank, world=world,
                               hflip=self.recipe.hflip)

    def prepare(self, batch, labels, device):
        return {k: to_float(v) if v.dtype == torch.uint8 else v for k, v in batch.items()}, labels

    def build(self):   # from DataInfo only, so that a checkpoint rebuilds without the data
        r, (c, h, w) = self.recipe, self.data.shape
        blocks = r.n_blocks or (9 if min(h, w) >= 256 else 6)
        g = dict(ngf=r.ngf, n_blocks=blocks, depth=r.g_depth, norm=r.norm)
        self.nets = {"G_AB": ResnetGenerator(c, c, **g), "G_BA": ResnetGenerator(c, c, **g),
                     "D_A": PatchDiscriminator(c, r.ndf, r.d_depth, r.norm),
                     "D_B": PatchDiscriminator(c, r.ndf, r.d_depth, r.norm)}
        return self.nets

    def latent(self, n, ctx_or_gen):
        raise ValueError(f"{self.name} translates images and has no latent space: translate a folder with "
                         f"fastgan generate --ckpt RUN --input DIR --direction AtoB|BtoA --out DIR")

    def optimizers(self, nets):
        r = self.recipe
        adam = lambda *names: torch.optim.Adam(itertools.chain(*(nets[n].parameters() for n in names)),  # noqa: E731
                                               lr=r.lr, betas=tuple(r.betas))
        return {"G": adam("G_AB", "G_BA"), "D": adam("D_A", "D_B")}

    def schedulers(self, opts):
        total = max(1, run_steps(self.recipe.kimg, self.recipe.batch))   # one batch of A and B per step
        constant = int(round(total * self.recipe.constant_fraction))
        return {k: linear_decay(o, constant, total - constant) for k, o in opts.items()}

    def phases(self):
        return [Phase("G", opt="G", loss="g_loss", nets=("G_AB", "G_BA")),
                Phase("D", opt="D", loss="d_loss", nets=("D_A", "D_B"), fresh_batch=False)]

    def g_loss(self, ctx):
        n, r = ctx.nets, self.recipe
        loss, (fake_B, fake_A), terms = generator_loss(n["G_AB"], n["G_BA"], n["D_A"], n["D_B"], ctx.batch["A"],
                                                       ctx.batch["B"], r.cycle_weight, r.identity_weight)
        self._fakes = {"A": fake_A.detach(), "B": fake_B.detach()}
        return loss, terms

    def d_loss(self, ctx):
        n = ctx.nets
        fake_A, fake_B = self.pools["A"].query(self._fakes["A"]), self.pools["B"].query(self._fakes["B"])
        loss_A = discriminator_loss(n["D_A"], ctx.batch["A"], fake_A)
        loss_B = discriminator_loss(n["D_B"], ctx.batch["B"], fake_B)
        return loss_A + loss_B, {"D_A": loss_A.detach(), "D_B": loss_B.detach()}

    # -- snapshots: A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B), G_AB(G_BA(B)) ------------------
    def snapshot_inputs(self, n, generator):
        k = max(1, min(n, 8, len(self.dataset.A), len(self.dataset.B)))
        pick = lambda ds: ds.get_batch(torch.randperm(len(ds), generator=generator)[:k])[0]  # noqa: E731
        return {"A": to_float(pick(self.dataset.A)), "B": to_float(pick(self.dataset.B))}

    @torch.no_grad()
    def snapshot(self, G, inputs, snap):
        G_BA = self.nets["G_BA"]
        was = G_BA.training
        G_BA.eval()
        try:
            rows = cycle_grid(G, G_BA, inputs["A"], inputs["B"])
        finally:
            G_BA.train(was)
        return {"samples": snap.image("samples", rows.flatten(0, 1).float().cpu(), snap.base + ".png",
                                      nrow=rows.shape[1])}

    def render(self, G, mode, out, *, input=None, direction=None, **options):
        """``translate``: every image of ``input`` (an image, a folder or a zip) through G_AB
        (``direction`` AtoB) or G_BA (BtoA), written as PNGs to ``out``."""
        if mode != "translate":
            return super().render(G, mode, out, **options)
        if direction is None:
            raise ValueError(f"--direction: {self.name} translates both ways; give --direction AtoB (G_AB) "
                             f"or BtoA (G_BA)")
        if direction not in self.directions:
            raise ValueError(f"--direction must be one of {', '.join(self.directions)} for {self.name}, "
                             f"got {direction!r}")
        name = self.directions[direction]
        net = G if name == self.generator_net else self.nets[name]
        device = next(G.parameters()).device
        written = translate_folder(net.to(device), input, out)
        return f"{len(written)} image{'' if len(written) == 1 else 's'} translated {direction} by {name}"

    def state_dict(self):
        return {**self.state, "pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_state_dict(self, state):
        state = dict(state)
        for k, s in state.pop("pools", {}).items():
            self.pools[k].load_state_dict(s)
        self.state = state


FAMILIES = (CycleGAN,)
