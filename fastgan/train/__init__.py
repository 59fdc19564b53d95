"""The training engine (DESIGN §4): one loop for every family.

* ``train(model, data, **overrides)`` / ``Trainer``: build, train, checkpoint, resume;
* ``Family``, ``Recipe``, ``Phase``, ``Context``, ``GAN``: the plug-in interface (``family.py``);
* ``RunConfig``: run options; ``load_generator``/``generate``: images from a checkpoint.
"""
from .config import RunConfig  # noqa: F401
from .engine import Trainer, train  # noqa: F401
from .family import GAN, Context, DataInfo, Family, GANRecipe, Phase, Recipe  # noqa: F401
from .generate import generate, load_generator  # noqa: F401
