"""The plug-in interface between a GAN family and the training engine.

A family module (``fastgan/models/<family>.py``) defines a ``Recipe`` (a dataclass of
its paper defaults, derived from :class:`Recipe`) and a :class:`Family` subclass that

* builds its networks (``build``), optimisers (``optimizers``), and optionally
  learning-rate schedules (``schedulers``) and frozen helper networks (``helpers``);
* lists its training phases (``phases``), or ordered :class:`Stage` s of phases
  (``stages``: MLE pre-training, then adversarial training);
* turns a raw batch into model input (``prepare``); a batch is ``(data, labels)``
  from the default loader, or whatever the family's own data set yields (a dict of
  tensors: A/B images, LR/HR pairs, token sequences ...), moved to the device by the engine;
* draws latents (``latent``) and makes samples (``generate``);
* writes its own snapshots (``snapshot``) and computes its own metrics
  (``metrics`` names of ``fastgan.metrics.api.TRAINING_METRICS`` or of
  ``fastgan.metrics.network.NETWORK_METRICS``, ``evaluate``);
* keeps extra state that must survive a resume in ``self.state``.

The engine owns everything else: the loop, gradient bookkeeping, AMP, clipping, DDP,
the lazy-regularisation gain and Adam adjustment, EMA, checkpoints, logs.
A family never copies the loop.  Loss methods receive a :class:`Context` and return a
scalar tensor, or ``(tensor, {"name": value, ...})`` with extra scalars to log.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np
import torch

__all__ = ["Recipe", "DataInfo", "Phase", "Stage", "Context", "Family", "Snapshot"]


@dataclasses.dataclass
class Recipe:
    """Fields every recipe has; a family's recipe subclasses this and adds its own."""

    batch: int = 64              # items per step summed over all processes (per-GPU = batch / world)
    kimg: float = 100.0          # training length in thousands of real items shown to D
    ema_kimg: float = 0.0        # half-life of G's EMA in kimg; 0 disables the EMA
    ema_rampup: float = 0.0      # >0: half-life limited to ema_rampup * images seen so far
    grad_clip: float = 0.0       # max gradient norm per phase; 0 disables clipping
    hflip: bool = False          # random horizontal flips of the real images
    init: str = ""               # checkpoint (file or run directory) to initialise the networks from
    init_match: tuple[str, ...] = ()   # fnmatch patterns of "net.param" names taken from `init` (empty: all)
    init_partial: bool = False   # take from `init` only the tensors that fit by name and shape (else mismatches fail)
    freeze: tuple[str, ...] = ()       # fnmatch patterns of "net.param" names never trained
    augment: str = "none"        # images D sees: none | diffaug (Zhao et al.) | ada (Karras et al.)
    diffaug_policy: str = "color,translation,cutout"
    ada_target: float = 0.6      # ADA: target of r_t = E[sign(D(real))]
    ada_kimg: float = 500.0      # ADA: kimg for p to go from 0 to 1
    ada_interval: int = 4        # ADA: D steps between adjustments of p
    ada_p: float = 0.0           # ADA: initial p


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What a family needs to know about the data to build its networks."""

    shape: tuple[int, ...]       # (C, H, W) for images, (F,) for tables, (T,) for sequences
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


@dataclasses.dataclass(frozen=True)
class Stage:
    """An ordered part of training with its own phases and length (``kimg`` or ``steps``)."""

    name: str
    phases: tuple[Phase, ...]
    kimg: float | None = None    # real items shown, in thousands
    steps: int | None = None     # or a number of steps

    def __post_init__(self):
        object.__setattr__(self, "phases", tuple(self.phases))
        if not self.phases:
            raise ValueError(f"stage {self.name}: needs at least one phase")
        if (self.kimg is None) == (self.steps is None):
            raise ValueError(f"stage {self.name}: give exactly one of kimg and steps")
        if (self.kimg is not None and not self.kimg >= 0) or (self.steps is not None and self.steps < 0):
            raise ValueError(f"stage {self.name}: length must be >= 0")

    def done(self, steps: int, nimg: int) -> bool:
        """Whether ``steps`` steps / ``nimg`` items into the stage it is complete."""
        if self.steps is not None:
            return steps >= self.steps
        return nimg >= int(round(self.kimg * 1000))


class Context:
    """What a loss method sees: the networks, the batch, latents and step counters.

    ``randn`` draws the same global noise on every DDP rank and returns this rank's
    slice, so a run on W processes sees exactly the noise of a single-process run.
    ``helpers`` are the family's frozen helper networks; ``stage`` the current stage's name.
    """

    def __init__(self, nets, batch, labels, step, nimg, rank, world, device, noise: torch.Generator,
                 family: "Family", phase: Phase | None = None, helpers: dict | None = None, stage: str = ""):
        self.nets, self.batch, self.labels = nets, batch, labels
        self.step, self.nimg, self.rank, self.world = step, nimg, rank, world
        self.device, self.family, self.phase = device, family, phase
        self.helpers, self.stage = helpers or {}, stage
        self._noise = noise

    @property
    def kimg(self) -> float:
        return self.nimg / 1000.0

    @property
    def batch_size(self) -> int:
        """Rows of this rank's batch (the first tensor's length for dict batches)."""
        return len(_first_tensor(self.batch))

    def randn(self, *shape: int) -> torch.Tensor:
        full = torch.randn((shape[0] * self.world, *shape[1:]), generator=self._noise)
        return full[self.rank * shape[0]:(self.rank + 1) * shape[0]].to(self.device)

    def rand(self, *shape: int) -> torch.Tensor:
        full = torch.rand((shape[0] * self.world, *shape[1:]), generator=self._noise)
        return full[self.rank * shape[0]:(self.rank + 1) * shape[0]].to(self.device)

    def latent(self, n: int) -> torch.Tensor:
        return self.family.latent(n, self)


def _first_tensor(batch):
    if isinstance(batch, torch.Tensor):
        return batch
    items = batch.values() if isinstance(batch, dict) else batch
    for v in items:
        t = _first_tensor(v)
        if t is not None:
            return t
    return None


@dataclasses.dataclass
class Snapshot:
    """Where and when a family writes a snapshot; ``image(tag, images, path, nrow=None)`` writes a
    PNG grid of images in [-1, 1], shows it in TensorBoard under ``tag`` (none for ``""``) and
    returns ``path``."""

    base: str                    # path without extension: <out>/samples/fakes-<step>
    step: int
    kimg: float
    final: bool                  # the last snapshot of the run
    image: Callable


class Family:
    """Base class of a GAN family.  Subclasses set ``name`` and ``Recipe`` and override
    ``build``, ``optimizers``, ``phases`` (or ``stages``) and the loss methods the phases name."""

    name: str = "family"
    Recipe: type = Recipe
    ema_nets: tuple[str, ...] = ("G",)   # networks with an EMA copy (when recipe.ema_kimg > 0)
    generator_net: str = "G"             # network used by ``generate``
    conditional: bool = False            # G and D take class labels: G(z, labels)
    description: str = ""
    # named overrides (``--set`` keys) applied below the user's --config/--set by ``--preset NAME``
    presets: dict[str, dict[str, object]] = {"cpu": {}}
    metrics: tuple[str, ...] = ("fid_digits",)   # names in TRAINING_METRICS (metrics.api) / NETWORK_METRICS
    generate_modes: tuple[str, ...] = ()         # extra ``fastgan generate`` modes (see ``render``)
    samples_latent: bool = True          # G maps latents to samples (the engine's mode-collapse check needs it)

    def __init__(self, recipe: Recipe, data: DataInfo):
        if not isinstance(recipe, self.Recipe):
            raise TypeError(f"{self.name}: recipe must be a {self.Recipe.__name__}, got {type(recipe).__name__}")
        self.recipe, self.data = recipe, data
        self.state: dict = {}
        self.check_data(data)

    @classmethod
    def stored_recipe(cls, stored: dict) -> dict:
        """The recipe fields a checkpoint saved, as this version reads them: a family whose new
        field changes what an old checkpoint's networks are fills in the value those had."""
        return stored

    # -- data -----------------------------------------------------------------------
    @classmethod
    def data_options(cls, recipe: Recipe) -> dict:
        """Keyword arguments for ``fastgan.data.make_dataset`` (e.g. a fixed resolution)."""
        return {}

    @classmethod
    def make_dataset(cls, spec, recipe: Recipe, **options):
        """The family's own data set for ``spec`` (a name or path), or None for ``fastgan.data``'s.

        A data set has ``len()``, ``shape``, ``describe()`` and ``get_batch(LongTensor)``
        returning ``(data, labels)`` or a dict of tensors (then ``prepare`` gets the dict
        and ``labels=None``)."""
        return None

    def make_loader(self, dataset, batch: int, *, seed: int, rank: int, world: int):
        """The batch sampler, or None for ``fastgan.data.BatchLoader``.  It must yield this
        rank's share of a global batch and have ``state_dict``/``load_state_dict``."""
        return None

    def check_data(self, data: DataInfo) -> None:
        """Raise ValueError when this family cannot train on data of this shape."""

    def prepare(self, batch, labels, device):
        """Loader output (already on ``device``) -> model input; default: uint8 images to
        float in [-1, 1], other tensors as they are; dict batches pass through."""
        if isinstance(batch, torch.Tensor) and batch.dtype == torch.uint8:
            batch = batch.to(device=device, dtype=torch.float32) * (2.0 / 255.0) - 1.0
        return batch, labels

    # -- networks ---------------------------------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def helpers(self) -> dict[str, torch.nn.Module]:
        """Frozen helper networks (a feature extractor for a content loss ...): never
        optimised, saved, EMA'd or broadcast; the loss methods find them in ``ctx.helpers``."""
        return {}

    def optimizers(self, nets: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def schedulers(self, opts: dict[str, torch.optim.Optimizer]) -> dict[str, object]:
        """Learning-rate schedules per optimiser (``torch.optim.lr_scheduler`` objects); the
        engine steps each once per training step in which its optimiser stepped (an optimiser
        idle in a stage, or an fp16 step skipped by the GradScaler, leaves its schedule where it
        is) and saves them in checkpoints."""
        return {}

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def stages(self) -> list[Stage]:
        """Ordered stages; default: one stage of ``phases()`` for ``recipe.kimg``."""
        return [Stage("train", tuple(self.phases()), kimg=self.recipe.kimg)]

    def phase_repeat(self, phase: Phase, step: int) -> int:
        """How many times ``phase`` runs in training step ``step`` (default: ``phase.repeat``; WGAN's
        critic boost runs D more often in some steps)."""
        return phase.repeat

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
        """Samples from latents (images in [-1, 1]).  Truncation is family-specific (default: scale z)."""
        if trunc is not None:
            z = z * trunc
        return G(z, labels) if self.conditional else G(z)

    def samples_ready(self, stage: str) -> bool:
        """Whether G's samples from latents mean anything during stage ``stage``: the engine's mode-collapse
        check runs only then.  Default: ``samples_latent`` (never for image-to-image families); a family
        also says no for a stage before its generator trains (GMMN+AE's auto-encoder stage)."""
        return self.samples_latent

    def sample_labels(self, n: int, device=None) -> torch.Tensor | None:
        """Class labels 0, 1, 2, ... cycled for ``n`` samples of a conditional family, else None."""
        k = self.data.num_classes
        return torch.arange(n, device=device) % k if self.conditional and k else None

    def render(self, G: torch.nn.Module, mode: str, out: str, **options) -> str:
        """Write a ``fastgan generate`` mode of this family (one of ``generate_modes``) to
        ``out``; returns a one-line description of what was written."""
        raise ValueError(f"model {self.name} has no generation mode {mode!r}"
                         + (f" (it has: {', '.join(self.generate_modes)})" if self.generate_modes else ""))

    # -- snapshots and metrics ------------------------------------------------------------
    def snapshot_inputs(self, n: int, generator: torch.Generator):
        """The fixed inputs of every snapshot: ``(latents, labels or None)``."""
        return self.latent(n, generator), self.sample_labels(n)

    @torch.no_grad()
    def snapshot(self, G: torch.nn.Module, inputs, snap: Snapshot) -> dict[str, str]:
        """Write samples of ``G`` from ``inputs``; returns ``{kind: path}`` (``samples`` first).
        Default: a PNG grid for images ([N, 1|3, H, W]), a CSV of rows otherwise."""
        z, labels = inputs
        out = torch.cat([self.generate(G, zi, None if labels is None else labels[i:i + 256]).float().cpu()
                         for i, zi in zip(range(0, len(z), 256), z.split(256))])
        if out.ndim == 4 and out.shape[1] in (1, 3):
            return {"samples": snap.image("samples", out, snap.base + ".png")}
        os.makedirs(os.path.dirname(snap.base), exist_ok=True)
        np.savetxt(snap.base + ".csv", out.reshape(len(out), -1).numpy(), delimiter=",", fmt="%.6g")
        return {"samples": snap.base + ".csv"}

    def evaluate(self, G: torch.nn.Module, dataset, device) -> dict[str, float]:
        """Metrics the family computes itself (NLL, column statistics ...) beside ``metrics``."""
        return {}

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return dict(self.state)

    def load_state_dict(self, state: dict) -> None:
        self.state = dict(state)

    @classmethod
    def preset(cls, name: str) -> dict[str, object]:
        """The overrides of preset ``name``; a clear error lists the valid ones."""
        if name not in cls.presets:
            raise ValueError(f"unknown preset {name!r} for model {cls.name}; "
                             f"valid presets: {', '.join(sorted(cls.presets)) or '(none)'}")
        return dict(cls.presets[name])


def total_kimg(stages, batch: int) -> float:
    """The kimg of all stages, a stage counted in steps as ``steps * batch`` items."""
    return sum(s.kimg if s.kimg is not None else s.steps * batch / 1000 for s in stages)
