"""The training engine: one loop for every family (the plug-in side is ``fastgan.family``).

* ``train(model, data, **overrides)`` / ``Trainer``: build, train, checkpoint, resume;
* ``RunConfig``: run options.
"""
from .config import RunConfig  # noqa: F401
from .engine import Trainer, train  # noqa: F401
