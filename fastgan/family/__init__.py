"""The family contract: what a GAN family gives the training engine, and what it gets.

It sits below ``fastgan.models`` (the families) and ``fastgan.train`` (the engine), so
neither imports the other: the engine finds families through ``fastgan.models.get``.

* ``contract``: :class:`Recipe`, :class:`DataInfo`, :class:`Phase`, :class:`Stage`,
  :class:`Context`, :class:`Snapshot`, :class:`Family`;
* ``gan``: :class:`GAN` / :class:`GANRecipe`, the base of every plain two-network GAN;
* ``config``: ``--set``/``--config`` overrides of a recipe and run options;
* ``sampling``: samples of a ``(family, G)`` pair by seed;
* ``schedules``: learning-rate schedules (``linear_decay``: constant, then linear to 0).
"""
from .contract import Context, DataInfo, Family, Phase, Recipe, Snapshot, Stage  # noqa: F401
from .gan import GAN, GANRecipe, critic_output  # noqa: F401
