"""The training engine: one loop for every GAN family (see ``family.py`` for the plug-in side).

A step runs the family's phases in order.  A phase with ``interval = k > 1``
(lazy regularisation) runs on steps where ``step % k == 0`` with its loss
multiplied by k, and the optimiser it steps gets StyleGAN2's adjustment
``lr * c``, ``betas ** c`` with ``c = k / (k + 1)`` (applied once, at build time).
``kimg`` counts real images drawn from the data (over all processes), so
``n_critic = 5`` shows five batches per step.

Everything that decides the future of a run is in its checkpoint, so a resumed
run on the CPU continues bit-exactly: networks, EMA copies, optimisers,
GradScalers, step and image counters, the loader position, the noise generator,
the python/numpy/torch RNG states and the family's own state.
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

from . import checkpoint as ckpt
from . import ddp
from .config import RunConfig, apply_overrides, to_dict
from .family import Context, DataInfo, Family
from .monitor import Monitor, plot_scalars, read_scalars, save_grid

__all__ = ["Trainer", "train", "check_writable"]


# run options that describe one invocation, not the run: a resumed run does not inherit them
_NOT_RESUMED = ("max_steps", "overwrite", "device", "threads", "progress")


def check_writable(out: str) -> None:
    """Create ``out`` and prove a file can be written there, or raise ValueError."""
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"output directory {out!r} is not writable: {e}") from e


def clear_run_files(out: str, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, remove) an earlier run's files in ``out``."""
    import shutil

    old = [p for p in (os.path.join(out, "scalars.csv"), os.path.join(out, "checkpoints"),
                       os.path.join(out, "samples"), os.path.join(out, "tensorboard"),
                       os.path.join(out, "losses.png")) if os.path.exists(p)]
    if old and not overwrite:
        raise ValueError(f"output directory {out!r} already holds a run ({', '.join(map(os.path.basename, old))}); "
                         f"resume it with --resume {out}, pick another --out, or --set overwrite=true")
    for p in old:
        shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)


def _run_dir_of(path: str) -> str:
    """Run directory holding a checkpoint file (``<run>/checkpoints/ckpt-*.safetensors``)."""
    d = os.path.dirname(os.path.abspath(path))
    return os.path.dirname(d) if os.path.basename(d) == "checkpoints" else d


class Trainer:
    """Build a run from a model name, data and overrides (or a checkpoint) and train it.

    Args:
        model: a registered model name (``fastgan.models.names()``) or a Family subclass.
        data: a ``fastgan.data.make_dataset`` name/path, or a data set object.
        overrides: ``{field: value}`` for the recipe and the RunConfig (see ``config.py``).
        resume: a checkpoint file or run directory to continue from; its recipe and
            run options are the base that ``overrides`` change.
        metric_fn: ``f(trainer) -> {name: value}`` evaluated every ``fid_kimg`` and at
            the end (rank 0); default: FID with the digits features when available.
    """

    def __init__(self, model=None, data=None, *, overrides: dict | None = None, resume: str | None = None,
                 metric_fn=None):
        from .. import models

        overrides = dict(overrides or {})
        state = None
        if resume is not None:
            path = ckpt.find(resume)
            state = ckpt.load(path)
            overrides.setdefault("run.out", _run_dir_of(path))
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
            recipe, run = apply_overrides(recipe, run, {f"model.{k}": v for k, v in state["recipe"].items()})
            recipe, run = apply_overrides(recipe, run, {f"run.{k}": v for k, v in state["run"].items()
                                                        if k not in _NOT_RESUMED})
        self.recipe, self.run = apply_overrides(recipe, run, overrides)
        r, run = self.recipe, self.run
        if run.amp not in ("off", "bf16", "fp16"):
            raise ValueError(f"amp must be off, bf16 or fp16, got {run.amp!r}")
        check_writable(run.out)
        self.rank, self.world, self.device = ddp.init_from_env(run.device)
        if state is None and self.rank == 0:
            clear_run_files(run.out, run.overwrite)
        if run.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp=fp16 needs a CUDA device; use amp=bf16 on the CPU")
        if run.threads:
            torch.set_num_threads(run.threads)

        # data
        from ..data import NAMES, BatchLoader, make_dataset

        self.data_spec = getattr(data, "name", "custom") if not isinstance(data, (str, os.PathLike)) else (
            os.fspath(data) if data in NAMES or not os.path.exists(data) else os.path.abspath(data))
        opts = dict(fam_cls.data_options(r), on_error="skip" if run.skip_bad_files else "raise")
        self.dataset = make_dataset(data, **opts) if isinstance(data, (str, os.PathLike)) else data
        info = DataInfo(tuple(self.dataset.shape), int(getattr(self.dataset, "num_classes", 0)),
                        str(getattr(self.dataset, "name", "")))
        self.loader = BatchLoader(self.dataset, r.batch, seed=run.seed, rank=self.rank, world=self.world,
                                  hflip=r.hflip)

        # networks, optimisers, EMA (same initialisation on every rank)
        torch.manual_seed(run.seed)
        self.family: Family = fam_cls(r, info)
        self.model_name = fam_cls.name
        self.nets = {k: v.to(self.device).train() for k, v in self.family.build().items()}
        for net in self.nets.values():
            ddp.broadcast_module(net)
        self.opts = self.family.optimizers(self.nets)
        self.phases = list(self.family.phases())
        self._check_phases()
        self._adjust_lazy_optimizers()
        self.ema = {}
        if r.ema_kimg > 0:
            self.ema = {k: copy.deepcopy(self.nets[k]).eval().requires_grad_(False)
                        for k in self.family.ema_nets if k in self.nets}
        self.scalers = ({k: torch.amp.GradScaler("cuda") for k in self.opts} if run.amp == "fp16" else {})

        # counters and random streams
        self.step, self.nimg = 0, 0
        self.noise = torch.Generator().manual_seed(run.seed * 7919 + 17)
        torch.manual_seed(run.seed * 1000 + self.rank)
        np.random.seed((run.seed * 1000 + self.rank) % 2**32)
        random.seed(run.seed * 1000 + self.rank)
        self.grid_z = self.family.latent(run.grid, torch.Generator().manual_seed(run.seed + 123)).to(self.device)
        self.grid_labels = (torch.arange(run.grid, device=self.device) % info.num_classes
                            if info.num_classes and self.family.conditional else None)
        if state is not None:
            self._load_state(state)
        self.metric_fn = metric_fn if metric_fn is not None else _default_metric
        self.last_metrics: dict = {}
        self._evaluated_at = -1
        self._stop = None

    # -- construction helpers -----------------------------------------------------
    def _check_phases(self):
        for ph in self.phases:
            if ph.opt not in self.opts:
                raise ValueError(f"phase {ph.name}: no optimiser {ph.opt!r} (have {sorted(self.opts)})")
            missing = [n for n in ph.trained if n not in self.nets]
            if missing or not callable(getattr(self.family, ph.loss, None)):
                raise ValueError(f"phase {ph.name}: unknown nets {missing} or loss method {ph.loss!r}")
        self._params = {k: [p for g in o.param_groups for p in g["params"]] for k, o in self.opts.items()}

    def _adjust_lazy_optimizers(self):
        for name, opt in self.opts.items():
            ks = {ph.interval for ph in self.phases if ph.opt == name and ph.interval > 1}
            if len(ks) > 1:
                raise ValueError(f"optimiser {name}: lazy phases with different intervals {sorted(ks)}")
            if ks:
                k = ks.pop()
                c = k / (k + 1)
                for g in opt.param_groups:
                    g["lr"] *= c
                    if "betas" in g:
                        g["betas"] = tuple(b ** c for b in g["betas"])

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model_name, "data_spec": self.data_spec,
            "data_info": to_dict(self.family.data),
            "recipe": to_dict(self.recipe), "run": to_dict(self.run),
            "step": self.step, "nimg": self.nimg, "world": self.world,
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "ema": {k: v.state_dict() for k, v in self.ema.items()},
            "opts": {k: v.state_dict() for k, v in self.opts.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "family": self.family.state_dict(),
            "loader": self.loader.state_dict(),
            "rng": {"noise": self.noise.get_state(), "torch": torch.get_rng_state(),
                    "numpy": _np_state_to_tensor(), "python": random.getstate(),
                    "cuda": (torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None)},
        }

    def _load_state(self, s: dict):
        for group, target in (("nets", self.nets), ("ema", self.ema), ("opts", self.opts),
                              ("scalers", self.scalers)):
            for k, obj in target.items():
                if k not in s[group]:
                    raise ValueError(f"checkpoint has no {group}/{k}; it was written by a different setup")
                obj.load_state_dict(s[group][k])
        self.family.load_state_dict(s["family"])
        self.loader.load_state_dict(s["loader"])
        self.step, self.nimg = int(s["step"]), int(s["nimg"])
        rng = s["rng"]
        self.noise.set_state(rng["noise"])
        if self.world == s.get("world", 1):  # per-rank streams only carry over with the same world size
            torch.set_rng_state(rng["torch"])
            _np_state_from_tensor(rng["numpy"])
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
        for k, net in self.nets.items():
            net.requires_grad_(k in names)

    def _optimise(self, opt_name: str, loss: torch.Tensor):
        opt, scaler, params = self.opts[opt_name], self.scalers.get(opt_name), self._params[opt_name]
        (scaler.scale(loss) if scaler else loss).backward()
        ddp.average_gradients(params)
        if scaler:
            scaler.unscale_(opt)
        if self.recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.recipe.grad_clip)
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()

    def train_step(self, monitor: Monitor | None = None) -> None:
        batch = labels = ctx = None
        for ph in self.phases:
            if self.step % ph.interval:
                continue
            for _ in range(ph.repeat):
                if ph.fresh_batch or batch is None:
                    raw, lab = next(self.loader)
                    batch, labels = self.family.prepare(raw, lab, self.device)
                    self.nimg += self.recipe.batch
                self._set_trainable(ph.trained)
                self.opts[ph.opt].zero_grad(set_to_none=True)
                ctx = Context(self.nets, batch, labels, self.step, self.nimg, self.rank, self.world,
                              self.device, self.noise, self.family, ph)
                with self._autocast():
                    out = getattr(self.family, ph.loss)(ctx)
                loss, scalars = out if isinstance(out, tuple) else (out, {})
                self._optimise(ph.opt, loss * ph.interval if ph.interval > 1 else loss)
                self.family.after_phase(ph, ctx)
                if monitor is not None:
                    monitor.add({f"loss/{ph.name}": loss.detach().float(),
                                 **{f"{ph.name}/{k}": v for k, v in scalars.items()}})
        self._set_trainable(())
        self._update_ema()
        self.family.end_step(ctx)
        self.step += 1

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
        """The network used for samples: the EMA copy when there is one."""
        name = self.family.generator_net
        return self.ema[name] if name in self.ema else self.nets[name]

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels=None, trunc=None) -> torch.Tensor:
        G = self.sampler
        was_training = G.training
        G.eval()
        try:
            return self.family.generate(G, z, labels, trunc).float()
        finally:
            G.train(was_training)

    def snapshot(self, monitor: Monitor) -> str:
        """Samples from the fixed grid noise: a PNG grid for images, a CSV for table rows."""
        imgs = torch.cat([self.sample(z, lab) for z, lab in _chunks(self.grid_z, self.grid_labels, 256)])
        base = os.path.join(self.run.out, "samples", f"fakes-{self.step:09d}")
        if imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
            if self.rank == 0:
                os.makedirs(os.path.dirname(base), exist_ok=True)
                np.savetxt(base + ".csv", imgs.reshape(len(imgs), -1).numpy(), delimiter=",", fmt="%.6g")
            return base + ".csv"
        monitor.image("samples", imgs, base + ".png", self.nimg / 1000)
        if self.rank == 0:
            save_grid(imgs, os.path.join(self.run.out, "samples", "latest.png"))
        return base + ".png"

    def truncation_grid(self) -> str | None:
        """``samples/truncation-<step>.png`` for families with ``truncation_psis`` (rank 0): rows are
        seeds 0..``truncation_rows``-1 (the ``fastgan generate`` seed convention), columns the ψ values."""
        psis = tuple(getattr(self.family, "truncation_psis", ()) or ())
        if self.rank != 0 or not psis:
            return None
        from .generate import truncation_images

        G = self.sampler
        was_training = G.training
        G.eval()
        try:
            imgs = truncation_images((self.family, G), range(self.family.truncation_rows), psis,
                                     device=self.device)
        finally:
            G.train(was_training)
        if imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
            return None
        return save_grid(imgs, os.path.join(self.run.out, "samples", f"truncation-{self.step:09d}.png"),
                         nrow=len(psis))

    # -- the loop -------------------------------------------------------------------------
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

    def fit(self) -> dict:
        """Train until ``recipe.kimg`` (or ``run.max_steps``); returns a summary dict."""
        r, run = self.recipe, self.run
        total = int(round(r.kimg * 1000))
        monitor = Monitor(run.out, enabled=self.rank == 0, total_kimg=r.kimg, start_kimg=self.nimg / 1000,
                          tensorboard=run.tensorboard, progress=run.progress)
        every = {k: int(round(v * 1000)) for k, v in (("snap", run.snap_kimg), ("ckpt", run.ckpt_kimg),
                                                       ("fid", run.fid_kimg))}
        due = {k: (self.nimg // v + 1) * v if v > 0 else math.inf for k, v in every.items()}
        old = {}
        if threading.current_thread() is threading.main_thread():
            old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        t_start, start_nimg, start_step = time.time(), self.nimg, self.step
        t_bar, ckpt_path, status, trunc_grid = 0.0, None, "done", None
        try:
            if self.rank == 0 and self.step == 0:
                monitor.write(f"{self.model_name} on {self.dataset.describe()}; batch {r.batch} "
                              f"({r.batch // self.world} per process x {self.world}), {r.kimg:g} kimg -> {run.out}")
            while self.nimg < total and not (run.max_steps and self.step - start_step >= run.max_steps):
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
                                    ("fid", lambda: self._evaluate(monitor))):
                    if self.nimg >= due[key]:
                        action()
                        due[key] = (self.nimg // every[key] + 1) * every[key]
                if ddp.any_flag(self._stop is not None, self.device):
                    status = f"stopped by {self._stop or 'another process'}"
                    break
            monitor.progress(self.nimg / 1000, (self.nimg - start_nimg) / max(time.time() - t_start, 1e-9))
            if monitor._acc:
                monitor.flush(self.step, self.nimg / 1000)
            ckpt_path = self.save_checkpoint()
            grid = self.snapshot(monitor) if status == "done" or self.step > start_step else None
            if grid is not None:
                trunc_grid = self.truncation_grid()
            if status == "done":
                self._evaluate(monitor)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            monitor.close()
        plot = None
        if self.rank == 0 and os.path.exists(os.path.join(run.out, "scalars.csv")):
            plot = plot_scalars(read_scalars(os.path.join(run.out, "scalars.csv")),
                                os.path.join(run.out, "losses.png"), title=f"{self.model_name} on {self.data_spec}")
        return {"status": status, "step": self.step, "kimg": self.nimg / 1000,
                "seconds": time.time() - t_start, "out": run.out, "checkpoint": ckpt_path,
                "grid": grid, "trunc_grid": trunc_grid, "loss_plot": plot, "metrics": dict(self.last_metrics)}


def _chunks(z, labels, n):
    for i in range(0, len(z), n):
        yield z[i:i + n], (labels[i:i + n] if labels is not None else None)


def _np_state_to_tensor() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _np_state_from_tensor(s: dict) -> None:
    np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["cached"]))


def _default_metric(trainer: Trainer) -> dict:
    """FID with the digits features, once ``fastgan.metrics`` provides it (see metrics_hook)."""
    from .metrics_hook import fid_for_trainer

    return fid_for_trainer(trainer)


def train(model: str, data, *, resume: str | None = None, metric_fn=None, **overrides) -> dict:
    """Python API: ``fastgan.train.train("dcgan28", "mnist", kimg=50, out="runs/x")``."""
    return Trainer(model, data, overrides=overrides, resume=resume, metric_fn=metric_fn).fit()
