"""The engine on a toy data set, stepped with evaluations in between (the examples use it)."""
from __future__ import annotations

import tempfile

from .engine import Trainer

__all__ = ["QUIET", "toy_trainer", "run_toy"]

QUIET = {"run.progress": False, "run.tensorboard": False, "run.fid": False, "run.threads": 1}


def toy_trainer(dataset, out: str | None = None, **overrides):
    """A :class:`fastgan.train.Trainer` of the ``toy`` family (or ``model=...``) on ``dataset``,
    quiet and single-threaded, writing (only if asked) into ``out`` (default: a temp dir)."""
    model = overrides.pop("model", "toy")
    out = out or tempfile.mkdtemp(prefix="fastgan-toy-")
    return Trainer(model, dataset, overrides={**QUIET, "out": out, "overwrite": True, **overrides})


def run_toy(trainer, steps: int, every: int, evaluate) -> list[dict]:
    """Run ``steps`` engine steps; every ``every`` steps (and at 0) append ``{"step": s, **evaluate(trainer)}``."""
    if steps < 0 or every < 1:
        raise ValueError(f"steps must be >= 0 and every >= 1, got {steps}, {every}")
    history = []
    for s in range(steps + 1):
        if s % every == 0 or s == steps:
            history.append({"step": trainer.step, **evaluate(trainer)})
        if s < steps:
            trainer.train_step()
    return history
