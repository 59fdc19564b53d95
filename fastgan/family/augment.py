"""Augmentation of D's inputs as a recipe option (``augment = none | diffaug | ada``).

:class:`Augmenter` applies ``fastgan.nn.augment`` to every image D sees, real and fake, with
the run's noise (``ctx.rand``/``ctx.randn``); for ADA it feeds D's real logits to the
p controller, whose state lives in ``family.state["ada"]`` and so in every checkpoint.
"""
from __future__ import annotations

import torch

from ..nn import augment as aug

__all__ = ["AUGMENTS", "Augmenter"]

AUGMENTS = ("none", "diffaug", "ada")


class Augmenter:
    """The recipe's augmentation for ``family`` (reads ``augment``, ``diffaug_policy``,
    ``ada_target``, ``ada_kimg``, ``ada_interval``, ``ada_p``)."""

    def __init__(self, family):
        r = family.recipe
        self.family, self.kind = family, r.augment
        if self.kind not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {self.kind!r}")
        if self.kind != "none" and len(family.data.shape) != 3:
            raise ValueError(f"augment={self.kind} needs image data, the data has shape {tuple(family.data.shape)}")
        if self.kind == "diffaug":
            aug.diffaugment(torch.zeros(1, 1, 8, 8), r.diffaug_policy)   # validates the policy now
        if self.kind == "ada":
            self._initial = aug.ADAController(r.ada_target, r.ada_kimg, r.ada_interval, r.ada_p).state_dict()
            self._state()

    def _state(self) -> dict:
        # the family's state may have been replaced by a checkpoint's (resume)
        return self.family.state.setdefault("ada", dict(self._initial))

    @property
    def p(self) -> float:
        return float(self._state()["p"]) if self.kind == "ada" else 0.0

    def __call__(self, x: torch.Tensor, draw) -> torch.Tensor:
        if self.kind == "diffaug":
            return aug.diffaugment(x, self.family.recipe.diffaug_policy, draw)
        if self.kind == "ada":
            return aug.ada_augment(x, self.p, draw)
        return x

    def observe(self, real_logits: torch.Tensor) -> dict:
        """After a D step: update ADA's p from D's raw outputs on the real batch; returns logs."""
        if self.kind != "ada":
            return {}
        r = self.family.recipe
        ctrl = aug.ADAController(r.ada_target, r.ada_kimg, r.ada_interval)
        ctrl.load_state_dict(self._state())
        ctrl.update(real_logits)
        self.family.state["ada"] = ctrl.state_dict()
        return {"ada_p": torch.tensor(ctrl.p)}
