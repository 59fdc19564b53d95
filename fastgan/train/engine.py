"""The training engine: one loop for every GAN family (``fastgan.family`` is the plug-in side).

A run is a sequence of the family's stages; a step runs the current stage's phases
in order.  A phase with ``interval = k > 1`` (lazy regularisation) runs on steps where
``step % k == 0`` with its loss multiplied by k, and the optimiser it steps gets
StyleGAN2's adjustment ``lr * c``, ``betas ** c`` with ``c = k / (k + 1)`` (applied
once, at build time).  ``kimg`` counts real items drawn from the data (over all
processes), so ``n_critic = 5`` shows five batches per step.  The family's
learning-rate schedules are stepped once per step in which their optimiser stepped (an
optimiser idle in a stage, or a step skipped by the fp16 GradScaler, leaves its schedule).

Everything that decides the future of a run is in its checkpoint, so a resumed
run on the CPU continues bit-exactly: networks, EMA copies, optimisers, schedules,
GradScalers, step and image counters, the stage and where it began, the loader
position, the noise generator, the python/numpy/torch RNG states and the family's
own state.  Frozen helper networks are rebuilt by the family, never saved.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import signal
import threading
import time

import numpy as np
import torch

from .. import checkpoint as ckpt
from .. import models
from ..data import NAMES, BatchLoader, make_dataset
from ..family import Context, DataInfo, Family, Snapshot
from ..family.config import apply_overrides, to_dict
from ..family.contract import total_kimg
from ..ops.profiling import nvtx_range
from . import collapse, ddp, metrics_hook
from . import state as st
from .config import RunConfig
from .monitor import Monitor, plot_metrics, plot_scalars, read_scalars

__all__ = ["Trainer", "train"]

# the EMA generator's BatchNorm statistics are measured again on this many of its own samples
# (latents of this seed) before it is used: samples, metrics, checkpoints (state.standing_norm_stats)
NORM_STATS_SAMPLES = 1024
NORM_STATS_SEED = 4049


# run options that describe one invocation, not the run: a resumed run does not inherit them
_NOT_RESUMED = ("max_steps", "overwrite", "device", "threads", "progress")


class Trainer:
    """Build a run from a model name, data and overrides (or a checkpoint) and train it.

    Args:
        model: a registered model name (``fastgan.models.names()``) or a Family subclass.
        data: a ``fastgan.data.make_dataset`` name/path, or a data set object.
        overrides: ``{field: value}`` for the recipe and the RunConfig (``--set`` keys).
        resume: a checkpoint file or run directory to continue from; its recipe and
            run options are the base that ``overrides`` change.
        metric_fn: ``f(trainer) -> {name: value}`` evaluated every ``fid_kimg`` and at
            the end (rank 0); default: the family's metrics (``metrics_hook.evaluate``).
        preset: a name in the family's ``presets``: overrides applied below ``overrides``.
    """

    def __init__(self, model=None, data=None, *, overrides: dict | None = None, resume: str | None = None,
                 metric_fn=None, preset: str | None = None):
        overrides = dict(overrides or {})
        state = None
        if resume is not None:
            if preset is not None:
                raise ValueError("preset: a resumed run keeps its recipe; give --preset to a new run only")
            path = ckpt.find(resume)
            state = ckpt.load(path)
            overrides.setdefault("run.out", st.run_dir_of(path))
            given = model.name if isinstance(model, type) else model
            if given is not None and given != state["model"]:
                raise ValueError(f"model {given!r} differs from the checkpoint's model {state['model']!r}")
            model = model if isinstance(model, type) else state["model"]
            data = data if data is not None else state["data_spec"]
        if model is None or data is None:
            raise ValueError("need a model and data (or a checkpoint to resume)")
        fam_cls = model if isinstance(model, type) else models.get(model)
        recipe, run = fam_cls.Recipe(), RunConfig()
        if state is not None:
            stored = fam_cls.stored_recipe(state["recipe"])
            recipe, run = apply_overrides(recipe, run, {f"model.{k}": v for k, v in stored.items()})
            recipe, run = apply_overrides(recipe, run, {f"run.{k}": v for k, v in state["run"].items()
                                                        if k not in _NOT_RESUMED})
        if preset is not None:
            recipe, run = apply_overrides(recipe, run, fam_cls.preset(preset))
        self.recipe, self.run = apply_overrides(recipe, run, overrides)
        r, run = self.recipe, self.run
        if run.amp not in ("off", "bf16", "fp16"):
            raise ValueError(f"amp must be off, bf16 or fp16, got {run.amp!r}")
        st.check_writable(run.out)
        self.rank, self.world, self.device = ddp.init_from_env(run.device)
        if state is None and self.rank == 0:
            st.clear_run_files(run.out, run.overwrite)
        if run.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp=fp16 needs a CUDA device; use amp=bf16 on the CPU")
        if run.threads:
            torch.set_num_threads(run.threads)

        # data: the family's own data set, or fastgan.data's
        named = isinstance(data, (str, os.PathLike))
        self.data_spec = getattr(data, "name", "custom") if not named else (
            os.fspath(data) if data in NAMES or not os.path.exists(data) else os.path.abspath(data))
        opts = dict(fam_cls.data_options(r), on_error="skip" if run.skip_bad_files else "raise")
        self.dataset = data
        if named:
            own = fam_cls.make_dataset(data, r, **opts)
            self.dataset = own if own is not None else make_dataset(data, **opts)
        info = DataInfo(tuple(self.dataset.shape), int(getattr(self.dataset, "num_classes", 0)),
                        str(getattr(self.dataset, "name", "")))

        # networks, helpers, optimisers, schedules, EMA (same initialisation on every rank)
        torch.manual_seed(run.seed)
        self.family: Family = fam_cls(r, info)
        self.model_name = fam_cls.name
        metrics_hook.check_metrics(self.family)
        self.loader = self.family.make_loader(self.dataset, r.batch, seed=run.seed, rank=self.rank,
                                              world=self.world)
        if self.loader is None:
            self.loader = BatchLoader(self.dataset, r.batch, seed=run.seed, rank=self.rank, world=self.world,
                                      hflip=r.hflip)
        self.nets = {k: v.to(self.device).train() for k, v in self.family.build().items()}
        self.helpers = {k: v.to(self.device).eval().requires_grad_(False) for k, v in self.family.helpers().items()}
        clash = sorted(set(self.helpers) & set(self.nets))
        if clash:
            raise ValueError(f"{self.model_name}: helper networks {clash} have the names of trained networks")
        self.initialised = []
        if state is None and r.init:
            self.initialised = st.init_from_checkpoint(self.nets, r.init, r.init_match, r.init_partial,
                                                       self.family.name)
        self._frozen = st.frozen_parameters(self.nets, r.freeze)
        for net in self.nets.values():
            ddp.broadcast_module(net)
        self.opts = self.family.optimizers(self.nets)
        self.stages = list(self.family.stages())
        self._check_phases()
        self._adjust_lazy_optimizers()
        self.scheds = dict(self.family.schedulers(self.opts))
        unknown = sorted(set(self.scheds) - set(self.opts))
        if unknown:
            raise ValueError(f"{self.model_name}: schedules for unknown optimisers {unknown} (have {sorted(self.opts)})")
        self.ema, self._ema_stats_step = {}, -1
        if r.ema_kimg > 0:
            self.ema = {k: copy.deepcopy(self.nets[k]).eval().requires_grad_(False)
                        for k in self.family.ema_nets if k in self.nets}
        self.scalers = ({k: torch.amp.GradScaler("cuda") for k in self.opts} if run.amp == "fp16" else {})
        for p in (p for net in self.nets.values() for p in net.parameters() if id(p) in self._frozen):
            p.requires_grad_(False)

        # counters and random streams
        self.step, self.nimg = 0, 0
        self.stage_index, self.stage_starts = 0, [(0, 0)]   # (step, nimg) where each stage began
        self.noise = torch.Generator().manual_seed(run.seed * 7919 + 17)
        torch.manual_seed(run.seed * 1000 + self.rank)
        np.random.seed((run.seed * 1000 + self.rank) % 2**32)
        random.seed(run.seed * 1000 + self.rank)
        self.grid_inputs = st.to_device(
            self.family.snapshot_inputs(run.grid, torch.Generator().manual_seed(run.seed + 123)), self.device)
        if state is not None:
            self._load_state(state)
        self._advance_stages()
        self.metric_fn = metric_fn if metric_fn is not None else metrics_hook.evaluate
        self.last_metrics: dict = {}
        self.nvtx = False
        self._evaluated_at = -1
        self._collapse = None
        self.last_collapse: dict = {}
        self._stop = None

    # -- construction helpers -----------------------------------------------------
    @property
    def phases(self) -> list:
        """The phases of the current stage (the last stage's once training is done)."""
        return list(self.stages[min(self.stage_index, len(self.stages) - 1)].phases)

    @property
    def stage(self):
        return self.stages[min(self.stage_index, len(self.stages) - 1)]

    @property
    def finished(self) -> bool:
        return self.stage_index >= len(self.stages)

    def _check_phases(self):
        if not self.stages:
            raise ValueError(f"{self.model_name}: stages() returned no stage")
        for ph in (p for s in self.stages for p in s.phases):
            if ph.opt not in self.opts:
                raise ValueError(f"phase {ph.name}: no optimiser {ph.opt!r} (have {sorted(self.opts)})")
            missing = [n for n in ph.trained if n not in self.nets]
            if missing or not callable(getattr(self.family, ph.loss, None)):
                raise ValueError(f"phase {ph.name}: unknown nets {missing} or loss method {ph.loss!r}")
        self._params = {k: [p for g in o.param_groups for p in g["params"]] for k, o in self.opts.items()}

    def _adjust_lazy_optimizers(self):
        phases = [p for s in self.stages for p in s.phases]
        for name, opt in self.opts.items():
            ks = {ph.interval for ph in phases if ph.opt == name and ph.interval > 1}
            if len(ks) > 1:
                raise ValueError(f"optimiser {name}: lazy phases with different intervals {sorted(ks)}")
            if ks:
                k = ks.pop()
                c = k / (k + 1)
                for g in opt.param_groups:
                    g["lr"] *= c
                    if "betas" in g:
                        g["betas"] = tuple(b ** c for b in g["betas"])

    def _advance_stages(self):
        while not self.finished:
            step0, nimg0 = self.stage_starts[self.stage_index]
            if not self.stage.done(self.step - step0, self.nimg - nimg0):
                break
            self.stage_index += 1
            self.stage_starts = self.stage_starts[:self.stage_index] + [(self.step, self.nimg)]

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        if self._ema_stats_step != self.step:   # the saved EMA generator carries its own BatchNorm statistics
            self.refresh_ema_norm_stats()
        return {
            "model": self.model_name, "data_spec": self.data_spec,
            "data_info": to_dict(self.family.data),
            "recipe": to_dict(self.recipe), "run": to_dict(self.run),
            "step": self.step, "nimg": self.nimg, "world": self.world,
            "stage": {"index": self.stage_index, "starts": [list(p) for p in self.stage_starts]},
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "ema": {k: v.state_dict() for k, v in self.ema.items()},
            "opts": {k: v.state_dict() for k, v in self.opts.items()},
            "scheds": {k: v.state_dict() for k, v in self.scheds.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "family": self.family.state_dict(),
            "loader": self.loader.state_dict(),
            "rng": {"noise": self.noise.get_state(), "torch": torch.get_rng_state(),
                    "numpy": st.np_state_to_tensor(), "python": random.getstate(),
                    "cuda": (torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None)},
        }

    def _load_state(self, s: dict):
        # the family's state first: it can tell a clear mismatch of the data (a table's columns)
        # before the networks' shapes do
        self.family.load_state_dict(s["family"])
        for group, target in (("nets", self.nets), ("ema", self.ema), ("opts", self.opts),
                              ("scheds", self.scheds), ("scalers", self.scalers)):
            for k, obj in target.items():
                if k not in s.get(group, {}):
                    raise ValueError(f"checkpoint has no {group}/{k}; it was written by a different setup")
                obj.load_state_dict(s[group][k])
        self.loader.load_state_dict(s["loader"])
        self.step, self.nimg = int(s["step"]), int(s["nimg"])
        # a run resumed with a longer last stage (a larger --kimg) continues that stage
        stage = s.get("stage", {"index": 0, "starts": [[0, 0]]})
        self.stage_starts = [(int(a), int(b)) for a, b in stage["starts"]]
        self.stage_index = min(int(stage["index"]), len(self.stages) - 1)
        self.stage_starts = self.stage_starts[:self.stage_index + 1]
        rng = s["rng"]
        self.noise.set_state(rng["noise"])
        if self.world == s.get("world", 1):  # per-rank streams only carry over with the same world size
            torch.set_rng_state(rng["torch"])
            st.np_state_from_tensor(rng["numpy"])
            random.setstate(rng["python"])
            if rng.get("cuda") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)

    def save_checkpoint(self) -> str | None:
        """Write ``<out>/checkpoints/ckpt-<step>.safetensors`` (rank 0) and prune old ones."""
        if self.rank != 0:
            return None
        d = os.path.join(self.run.out, "checkpoints")
        path = ckpt.save(os.path.join(d, ckpt.checkpoint_name(self.step)), self.state_dict())
        ckpt.prune(d, self.run.keep_ckpts)
        return path

    # -- one step ---------------------------------------------------------------------
    def _autocast(self):
        if self.run.amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.run.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _set_trainable(self, names):
        """requires_grad on the parameters of ``names`` except the frozen ones; off elsewhere."""
        for k, net in self.nets.items():
            on = k in names
            for p in net.parameters():
                p.requires_grad_(on and id(p) not in self._frozen)

    def _optimise(self, opt_name: str, loss: torch.Tensor) -> bool:
        """Backward and step; False when the GradScaler skipped the step (inf/NaN gradients)."""
        opt, scaler, params = self.opts[opt_name], self.scalers.get(opt_name), self._params[opt_name]
        (scaler.scale(loss) if scaler else loss).backward()
        ddp.average_gradients(params)
        if scaler:
            scaler.unscale_(opt)
        if self.recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.recipe.grad_clip)
        if not scaler:
            opt.step()
            return True
        scale = scaler.get_scale() if opt_name in self.scheds else None
        scaler.step(opt)
        scaler.update()
        return scale is None or scaler.get_scale() >= scale   # a skipped step lowers the scale

    def _next_batch(self):
        raw = next(self.loader)
        data, labels = raw if isinstance(raw, tuple) and len(raw) == 2 else (raw, None)
        data, labels = st.to_device(data, self.device), st.to_device(labels, self.device)
        self.nimg += self.recipe.batch
        return self.family.prepare(data, labels, self.device)

    def train_step(self, monitor: Monitor | None = None) -> None:
        if self.finished:
            raise ValueError(f"{self.model_name}: training is complete (all {len(self.stages)} stages done)")
        batch = labels = ctx = None
        stage = self.stage
        stepped = set()   # optimisers that stepped: only their schedules advance
        for ph in stage.phases:
            if self.step % ph.interval:
                continue
            for _ in range(self.family.phase_repeat(ph, self.step)):
                with nvtx_range(f"{stage.name}/{ph.name}", True if self.nvtx else None):
                    if ph.fresh_batch or batch is None:
                        batch, labels = self._next_batch()
                    self._set_trainable(ph.trained)
                    self.opts[ph.opt].zero_grad(set_to_none=True)
                    ctx = Context(self.nets, batch, labels, self.step, self.nimg, self.rank, self.world,
                                  self.device, self.noise, self.family, ph, self.helpers, stage.name)
                    with self._autocast():
                        out = getattr(self.family, ph.loss)(ctx)
                    loss, scalars = out if isinstance(out, tuple) else (out, {})
                    if self._optimise(ph.opt, loss * ph.interval if ph.interval > 1 else loss):
                        stepped.add(ph.opt)
                    self.family.after_phase(ph, ctx)
                if monitor is not None:
                    monitor.add({f"loss/{ph.name}": loss.detach().float(),
                                 **{f"{ph.name}/{k}": v for k, v in scalars.items()}})
        self._set_trainable(())
        with nvtx_range("ema", True if self.nvtx else None):
            self._update_ema()
        self.family.end_step(ctx)
        for name, sched in self.scheds.items():
            if name in stepped:
                sched.step()
        self.step += 1
        self._advance_stages()

    def _update_ema(self):
        if not self.ema:
            return
        r = self.recipe
        half_life = r.ema_kimg * 1000
        if r.ema_rampup > 0:
            half_life = min(half_life, self.nimg * r.ema_rampup)
        beta = 0.5 ** (r.batch / max(half_life, 1e-8))
        with torch.no_grad():
            for k, e in self.ema.items():
                for pe, p in zip(e.parameters(), self.nets[k].parameters()):
                    pe.lerp_(p.detach(), 1.0 - beta)
                for be, b in zip(e.buffers(), self.nets[k].buffers()):
                    be.copy_(b)

    # -- sampling -----------------------------------------------------------------------
    @property
    def sampler(self) -> torch.nn.Module:
        """The network used for samples: the EMA copy when there is one, with its BatchNorm
        statistics measured on its own samples (once per step: :meth:`refresh_ema_norm_stats`)."""
        name = self.family.generator_net
        if name not in self.ema:
            return self.nets[name]
        if self._ema_stats_step != self.step:
            self.refresh_ema_norm_stats()
        return self.ema[name]

    def refresh_ema_norm_stats(self) -> bool:
        """Measure the EMA generator's BatchNorm running statistics on ``NORM_STATS_SAMPLES`` of
        its own samples, in batches of the recipe's size (latents of ``NORM_STATS_SEED``; uniform
        random labels for a conditional family), instead of the live generator's that
        ``_update_ema`` copies.  False when it has none (or there is no EMA)."""
        name = self.family.generator_net
        if name not in self.ema:
            return False
        self._ema_stats_step = self.step
        G, fam, b = self.ema[name], self.family, max(1, int(self.recipe.batch))
        gen = torch.Generator().manual_seed(NORM_STATS_SEED)

        def draw(_):
            z = fam.latent(b, gen).to(self.device)
            labels = (torch.randint(fam.data.num_classes, (b,), generator=gen).to(self.device)
                      if fam.conditional else None)
            fam.generate(G, z, labels)
        return st.standing_norm_stats(G, draw, -(-NORM_STATS_SAMPLES // b))

    @contextlib.contextmanager
    def _eval_sampler(self):
        G = self.sampler
        was_training = G.training
        G.eval()
        try:
            yield G
        finally:
            G.train(was_training)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels=None, trunc=None) -> torch.Tensor:
        with self._eval_sampler() as G:
            return self.family.generate(G, z, labels, trunc).float()

    def snapshot(self, monitor: Monitor, final: bool = False) -> dict[str, str]:
        """The family's snapshot of the fixed grid inputs (rank 0): ``{kind: path}``."""
        if self.rank != 0:
            return {}
        kimg = self.nimg / 1000

        def image(tag, imgs, path, nrow=None):
            monitor.image(tag, imgs, path, kimg, nrow=nrow)
            if tag == "samples":
                monitor.image("", imgs, os.path.join(self.run.out, "samples", "latest.png"), kimg)
            return path
        snap = Snapshot(os.path.join(self.run.out, "samples", f"fakes-{self.step:09d}"), self.step, kimg, final, image)
        with self._eval_sampler() as G:
            return self.family.snapshot(G, self.grid_inputs, snap)

    # -- the loop -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _training_rng_kept(self):
        """Side work (snapshots, checkpoints, metrics, the collapse check) leaves the global random streams
        as it found them: a network it builds draws its initial weights from torch's generator, which the
        training's dropout and augmentations also draw from, so a run would otherwise depend on when it
        evaluates (and on DDP, rank 0's stream would part from the others')."""
        devices = ([self.device.index if self.device.index is not None else torch.cuda.current_device()]
                   if self.device.type == "cuda" else [])
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=devices):
                yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    def _on_signal(self, signum, frame):
        if self._stop is not None:  # second signal: stop now
            raise KeyboardInterrupt
        self._stop = signal.Signals(signum).name

    def _evaluate(self, monitor: Monitor) -> None:
        if self.rank != 0 or self.metric_fn is None or self._evaluated_at == self.nimg:
            return
        self._evaluated_at = self.nimg
        try:
            res = self.metric_fn(self)
        except Exception as e:  # noqa: BLE001 - a metric failure must not lose the run
            monitor.write(f"metric evaluation failed: {type(e).__name__}: {e}")
            return
        if res:
            self.last_metrics = dict(res)
            monitor.flush(self.step, self.nimg / 1000, {f"metrics/{k}": v for k, v in res.items()})
            monitor.write(f"kimg {self.nimg / 1000:.1f}: " + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))

    def check_collapse(self, monitor: Monitor) -> dict:
        """Run the mode-collapse check (rank 0): log ``collapse/*``, warn visibly on a collapse."""
        if self.rank != 0 or self.run.collapse_kimg <= 0 or not self.family.samples_ready(self.stage.name):
            return {}
        if self._collapse is None:
            self._collapse = collapse.CollapseCheck(self)
        try:
            res = self._collapse.check()
        except Exception as e:  # noqa: BLE001 - a failed check must not lose the run
            monitor.write(f"mode-collapse check failed: {type(e).__name__}: {e}")
            self.run.collapse_kimg = 0.0
            return {}
        kimg = self.nimg / 1000
        scal = {f"collapse/{k}": float(v) for k, v in res.items() if k in ("spread", "classes")}
        scal["collapse/warning"] = float(bool(res["warning"]))
        monitor.flush(self.step, kimg, scal)
        if res["warning"]:
            monitor.warn(res["warning"], kimg)
        else:
            monitor.clear_warning()
        self.last_collapse = dict(res, at=self.nimg)
        return res

    def fit(self) -> dict:
        """Train through every stage (or ``run.max_steps`` steps); returns a summary dict."""
        r, run = self.recipe, self.run
        total = total_kimg(self.stages, r.batch)
        monitor = Monitor(run.out, enabled=self.rank == 0, total_kimg=total, start_kimg=self.nimg / 1000,
                          tensorboard=run.tensorboard, progress=run.progress)
        every = {k: int(round(v * 1000)) for k, v in (("snap", run.snap_kimg), ("ckpt", run.ckpt_kimg),
                                                       ("fid", run.fid_kimg), ("collapse", run.collapse_kimg))}
        due = {k: (self.nimg // v + 1) * v if v > 0 else math.inf for k, v in every.items()}
        old = {}
        if threading.current_thread() is threading.main_thread():
            old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        t_start, start_nimg, start_step = time.time(), self.nimg, self.step
        t_bar, ckpt_path, status, snaps = 0.0, None, "done", {}
        try:
            if self.rank == 0 and self.step == 0:
                monitor.write(f"{self.model_name} on {self.dataset.describe()}; batch {r.batch} "
                              f"({r.batch // self.world} per process x {self.world}), {total:g} kimg -> {run.out}")
            while not self.finished and not (run.max_steps and self.step - start_step >= run.max_steps):
                self.train_step(monitor)
                now = time.time()
                speed = (self.nimg - start_nimg) / max(now - t_start, 1e-9)
                if self.step % run.log_every == 0:
                    monitor.flush(self.step, self.nimg / 1000, {"progress/img_per_s": speed})
                if now - t_bar > 0.5:
                    monitor.progress(self.nimg / 1000, speed)
                    t_bar = now
                for key, action in (("snap", lambda: self.snapshot(monitor)),
                                    ("ckpt", self.save_checkpoint),
                                    ("fid", lambda: self._evaluate(monitor)),
                                    ("collapse", lambda: self.check_collapse(monitor))):
                    if self.nimg >= due[key]:
                        with self._training_rng_kept():
                            action()
                        due[key] = (self.nimg // every[key] + 1) * every[key]
                if ddp.any_flag(self._stop is not None, self.device):
                    status = f"stopped by {self._stop or 'another process'}"
                    break
            monitor.progress(self.nimg / 1000, (self.nimg - start_nimg) / max(time.time() - t_start, 1e-9))
            if monitor.pending:
                monitor.flush(self.step, self.nimg / 1000)
            ckpt_path = self.save_checkpoint()
            if status == "done" or self.step > start_step:
                snaps = self.snapshot(monitor, final=True)
            if status == "done":
                if self.last_collapse.get("at") != self.nimg:
                    self.check_collapse(monitor)
                self._evaluate(monitor)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            monitor.close()
        plot = metric_plot = None
        if self.rank == 0 and os.path.exists(os.path.join(run.out, "scalars.csv")):
            series = read_scalars(os.path.join(run.out, "scalars.csv"))
            title = f"{self.model_name} on {self.data_spec}"
            plot = plot_scalars(series, os.path.join(run.out, "losses.png"), title=title)
            metric_plot = plot_metrics(series, os.path.join(run.out, "metrics.png"), title=title)
        return {"status": status, "step": self.step, "kimg": self.nimg / 1000,
                "seconds": time.time() - t_start, "out": run.out, "checkpoint": ckpt_path,
                "grid": snaps.get("samples"), "trunc_grid": snaps.get("truncation"), "snapshots": snaps,
                "loss_plot": plot, "metric_plot": metric_plot, "metrics": dict(self.last_metrics),
                "collapse": dict(self.last_collapse)}


def train(model: str, data, *, resume: str | None = None, metric_fn=None, preset: str | None = None,
          **overrides) -> dict:
    """Python API: ``fastgan.train.train("dcgan28", "mnist", kimg=50, out="runs/x")``."""
    return Trainer(model, data, overrides=overrides, resume=resume, metric_fn=metric_fn, preset=preset).fit()
