"""Learning-rate schedules a family declares in ``Family.schedulers`` (the engine steps each once
per training step in which its optimiser stepped and saves them in checkpoints)."""
from __future__ import annotations

import math

import torch

__all__ = ["linear_decay", "run_steps"]


def run_steps(kimg: float, images_per_step: int) -> int:
    """The training steps of a stage ``kimg`` thousand images long whose steps each draw ``images_per_step``
    images: the engine ends a stage at the first step where the images seen reach round(kimg * 1000)."""
    if not kimg >= 0:
        raise ValueError(f"kimg must be >= 0, got {kimg!r}")
    if isinstance(images_per_step, bool) or not isinstance(images_per_step, int) or images_per_step < 1:
        raise ValueError(f"images_per_step must be an int >= 1, got {images_per_step!r}")
    return math.ceil(round(kimg * 1000) / images_per_step)


class _ConstantThenLinear:
    """The factor of :func:`linear_decay` (an object, so LambdaLR saves its settings)."""

    def __init__(self, constant: int, decay: int):
        self.constant, self.decay = constant, decay

    def __call__(self, step: int) -> float:
        if step < self.constant:
            return 1.0
        return max(0.0, 1.0 - (step - self.constant) / self.decay) if self.decay else 0.0


def linear_decay(opt: torch.optim.Optimizer, constant: int, decay: int) -> torch.optim.lr_scheduler.LambdaLR:
    """CycleGAN's schedule: the optimiser's lr for ``constant`` steps, then linearly down to 0 over
    ``decay`` steps (and 0 after)."""
    for name, v in (("constant", constant), ("decay", decay)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    return torch.optim.lr_scheduler.LambdaLR(opt, _ConstantThenLinear(constant, decay))
