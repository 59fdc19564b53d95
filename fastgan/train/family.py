"""The plug-in interface between a GAN family and the training engine.

A family module defines a ``Recipe`` (a dataclass of its paper defaults, derived
from :class:`Recipe`) and a ``Family`` subclass that

* builds its networks (``build``) and optimisers (``optimizers``),
* lists its training phases (``phases``): which optimiser a phase steps, which
  networks it trains, the family method that computes its loss, how often it
  repeats (n_critic) and its lazy-regularisation interval,
* turns a raw batch into model input (``prepare``), draws latents (``latent``)
  and makes images (``generate``),
* keeps any extra state that must survive a resume in ``self.state`` (floats,
  ints or tensors: ProGAN's fade-in alpha, ADA's p, the path-length mean ...).

The engine owns everything else: the loop, gradient bookkeeping, AMP, clipping,
DDP gradient averaging, the lazy-regularisation gain and Adam adjustment, EMA,
checkpoints, logs and sample grids.  A family never copies the loop.

Loss methods receive a :class:`Context` and return a scalar tensor, or
``(tensor, {"name": value, ...})`` with extra scalars to log.  Register a family
by listing it in its module's ``FAMILIES = (...)`` under ``fastgan/models/``.

How the families of the later issues plug in (no loop of their own):

* classic GANs: subclass :class:`GAN`, override ``build`` (and ``prepare`` or the
  loss methods for conditioning); ``recipe.loss`` picks a pair from ``fastgan.losses``;
  WGAN's weight clipping goes in ``after_phase`` (phase ``"D"``).
* StyleGAN2: phases ``G``, ``Greg`` (path length, ``interval=4``, ``fresh_batch=False``),
  ``D``, ``Dreg`` (R1, ``interval=16``); the engine applies the gain and Adam's
  ``lr*c, beta**c`` adjustment; the path-length mean lives in ``self.state["pl_mean"]``
  (a tensor), ADA's p in ``self.state["ada_p"]`` updated in ``end_step``.
* ProGAN: networks built at full size; ``end_step`` advances ``self.state["lod"]`` /
  ``["alpha"]`` from ``ctx.nimg``; G and D read them in the loss methods.
* CycleGAN: nets ``G_AB, G_BA, D_A, D_B``; ``Phase("G", opt="G", nets=("G_AB", "G_BA"))``
  then ``Phase("D", opt="D", nets=("D_A", "D_B"), fresh_batch=False)``; the data set
  yields pairs of unaligned A and B images that ``prepare`` splits; ``ema_nets = ()``.
* SeqGAN: token data; ``prepare`` keeps int64 tokens; the G phase's loss is the
  policy-gradient surrogate (rewards from rollouts with D), ``latent`` returns start
  tokens or noise; ``generate`` samples sequences.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

__all__ = ["Recipe", "Phase", "Context", "Family", "DataInfo", "GANRecipe", "GAN"]


@dataclasses.dataclass
class Recipe:
    """Fields every recipe has; a family's recipe subclasses this and adds its own."""

    batch: int = 64              # images per step summed over all processes (per-GPU = batch / world)
    kimg: float = 100.0          # training length in thousands of real images shown to D
    ema_kimg: float = 0.0        # half-life of G's EMA in kimg; 0 disables the EMA
    ema_rampup: float = 0.0      # >0: half-life limited to ema_rampup * images seen so far
    grad_clip: float = 0.0       # max gradient norm per phase; 0 disables clipping
    hflip: bool = False          # random horizontal flips of the real images


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What a family needs to know about the data to build its networks."""

    shape: tuple[int, ...]       # (C, H, W) for images, (F,) for tables
    num_classes: int = 0         # 0 = unlabeled
    name: str = ""


@dataclasses.dataclass(frozen=True)
class Phase:
    """One optimisation phase of a training step."""

    name: str                    # shown in logs: "D", "G", "Dreg", ...
    opt: str                     # key of the optimiser this phase steps
    loss: str                    # name of the Family method computing the loss: f(ctx)
    nets: tuple[str, ...] = ()   # networks trained (requires_grad); default (opt,)
    repeat: int = 1              # consecutive runs per step (n_critic)
    interval: int = 1            # lazy regularisation: run when step % interval == 0, loss gain = interval
    fresh_batch: bool = True     # draw a new real batch; False reuses the step's latest batch

    def __post_init__(self):
        if self.repeat < 1 or self.interval < 1:
            raise ValueError(f"phase {self.name}: repeat and interval must be >= 1")

    @property
    def trained(self) -> tuple[str, ...]:
        return self.nets or (self.opt,)


class Context:
    """What a loss method sees: the networks, the batch, latents and step counters.

    ``randn`` draws the same global noise on every DDP rank and returns this rank's
    slice, so a run on W processes sees exactly the noise of a single-process run.
    """

    def __init__(self, nets, batch, labels, step, nimg, rank, world, device, noise: torch.Generator,
                 family: "Family", phase: Phase | None = None):
        self.nets, self.batch, self.labels = nets, batch, labels
        self.step, self.nimg, self.rank, self.world = step, nimg, rank, world
        self.device, self.family, self.phase = device, family, phase
        self._noise = noise

    @property
    def kimg(self) -> float:
        return self.nimg / 1000.0

    def randn(self, *shape: int) -> torch.Tensor:
        full = torch.randn((shape[0] * self.world, *shape[1:]), generator=self._noise)
        return full[self.rank * shape[0]:(self.rank + 1) * shape[0]].to(self.device)

    def rand(self, *shape: int) -> torch.Tensor:
        full = torch.rand((shape[0] * self.world, *shape[1:]), generator=self._noise)
        return full[self.rank * shape[0]:(self.rank + 1) * shape[0]].to(self.device)

    def latent(self, n: int) -> torch.Tensor:
        return self.family.latent(n, self)


class Family:
    """Base class of a GAN family.  Subclasses set ``name`` and ``Recipe`` and override
    ``build``, ``optimizers``, ``phases`` and the loss methods the phases name."""

    name: str = "family"
    Recipe: type = Recipe
    ema_nets: tuple[str, ...] = ("G",)   # networks with an EMA copy (when recipe.ema_kimg > 0)
    generator_net: str = "G"             # network used by ``generate``
    conditional: bool = False            # G and D take class labels: G(z, labels)
    truncation_psis: tuple[float, ...] = ()  # ψ columns of the truncation grid written at the end of training
    truncation_rows: int = 8                  # its rows: seeds 0..truncation_rows-1
    description: str = ""

    def __init__(self, recipe: Recipe, data: DataInfo):
        if not isinstance(recipe, self.Recipe):
            raise TypeError(f"{self.name}: recipe must be a {self.Recipe.__name__}, got {type(recipe).__name__}")
        self.recipe, self.data = recipe, data
        self.state: dict = {}
        self.check_data(data)

    # -- data -----------------------------------------------------------------------
    @classmethod
    def data_options(cls, recipe: Recipe) -> dict:
        """Keyword arguments for ``fastgan.data.make_dataset`` (e.g. a fixed resolution)."""
        return {}

    def check_data(self, data: DataInfo) -> None:
        """Raise ValueError when this family cannot train on data of this shape."""

    def prepare(self, batch: torch.Tensor, labels: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw loader output -> model input; default: uint8 images to float in [-1, 1]."""
        if batch.dtype == torch.uint8:
            batch = batch.to(device=device, dtype=torch.float32) * (2.0 / 255.0) - 1.0
        return batch.to(device), labels.to(device)

    # -- networks ---------------------------------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self, nets: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def after_phase(self, phase: Phase, ctx: Context) -> None:
        """Called after each optimiser step (e.g. WGAN's weight clipping)."""

    def end_step(self, ctx: Context) -> None:
        """Called once per step after all phases (update schedules in ``self.state``)."""

    # -- sampling ---------------------------------------------------------------------
    def latent(self, n: int, ctx_or_gen) -> torch.Tensor:
        """Latents for ``n`` samples; ``ctx_or_gen`` is a Context or a torch.Generator."""
        z_dim = getattr(self.recipe, "z_dim", None)
        if z_dim is None:
            raise NotImplementedError(f"{self.name}: override latent()")
        if isinstance(ctx_or_gen, Context):
            return ctx_or_gen.randn(n, z_dim)
        return torch.randn(n, z_dim, generator=ctx_or_gen)

    def generate(self, G: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
                 trunc: float | None = None) -> torch.Tensor:
        """Images in [-1, 1] from latents.  Truncation is family-specific (default: scale z)."""
        if trunc is not None:
            z = z * trunc
        return G(z, labels) if self.conditional else G(z)

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return dict(self.state)

    def load_state_dict(self, state: dict) -> None:
        self.state = dict(state)


LossFn = Callable[[Context], "torch.Tensor | tuple[torch.Tensor, dict]"]


@dataclasses.dataclass
class GANRecipe(Recipe):
    """Recipe of a plain two-network GAN (see :class:`GAN`)."""

    z_dim: int = 64                          # latent size, z ~ N(0, I)
    loss: str = "ns"                         # a name in fastgan.losses.NAMES
    n_critic: int = 1                        # D steps per G step
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


class GAN(Family):
    """A generator ``G(z)`` and a discriminator ``D(x)`` trained with a loss of
    ``fastgan.losses``: ``n_critic`` D phases on fresh real batches, then one G phase.
    Subclasses only build the two networks."""

    Recipe = GANRecipe

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        from .. import losses

        self._d_fn, self._g_fn = losses.get(recipe.loss)

    def optimizers(self, nets):
        r = self.recipe
        return {"G": torch.optim.Adam(nets["G"].parameters(), lr=r.lr_g, betas=tuple(r.betas)),
                "D": torch.optim.Adam(nets["D"].parameters(), lr=r.lr_d, betas=tuple(r.betas))}

    def phases(self):
        return [Phase("D", opt="D", loss="d_loss", repeat=self.recipe.n_critic),
                Phase("G", opt="G", loss="g_loss", fresh_batch=False)]

    def d_loss(self, ctx: Context):
        G, D = ctx.nets["G"], ctx.nets["D"]
        with torch.no_grad():
            fake = G(ctx.latent(ctx.batch.shape[0]))
        real_out, fake_out = D(ctx.batch), D(fake)
        loss = self._d_fn(real_out, fake_out)
        return loss, {"D_real": real_out.detach().mean(), "D_fake": fake_out.detach().mean()}

    def g_loss(self, ctx: Context):
        fake = ctx.nets["G"](ctx.latent(ctx.batch.shape[0]))
        return self._g_fn(ctx.nets["D"](fake))
