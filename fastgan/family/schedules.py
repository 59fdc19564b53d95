"""Learning-rate schedules a family declares in ``Family.schedulers`` (the engine steps each once
per training step in which its optimiser stepped and saves them in checkpoints)."""
from __future__ import annotations

import torch

__all__ = ["linear_decay"]


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
