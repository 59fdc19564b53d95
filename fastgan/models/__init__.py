"""Model registry: ``fastgan.models.get(name)`` and ``fastgan.models.names()``.

A family module in this package lists its families in a module-level
``FAMILIES = (MyFamily, ...)``; each is a :class:`fastgan.family.Family`
subclass with a unique ``name``.  The registry finds them by importing the
modules of this package, so adding a family means adding one module, nothing else.
Families defined elsewhere can be added with :func:`register`.
:func:`load_generator` rebuilds a family and its generator from a checkpoint, :func:`load_networks`
all its networks.
"""
from __future__ import annotations

import importlib
import pkgutil

import torch

from .. import checkpoint as ckpt
from ..family import DataInfo, Family
from ..family.config import apply_overrides

__all__ = ["get", "names", "register", "describe", "load_generator", "load_networks", "DEFAULT"]

DEFAULT = "dcgan28"   # the model `fastgan train` uses when --model is not given

_registry: dict[str, type] = {}
_import_errors: dict[str, str] = {}
_scanned = False


def register(family: type, *, replace: bool = False) -> type:
    """Add a Family subclass under ``family.name`` (usable as a class decorator)."""
    if not (isinstance(family, type) and issubclass(family, Family)):
        raise TypeError(f"family must be a Family subclass, got {family!r}")
    name = family.name
    if not isinstance(name, str) or not name or name == Family.name:
        raise ValueError(f"{family.__name__} needs a unique `name` attribute")
    if name in _registry and _registry[name] is not family and not replace:
        raise ValueError(f"model name {name!r} is taken by {_registry[name].__module__}.{_registry[name].__name__}")
    _registry[name] = family
    return family


def _scan() -> None:
    global _scanned
    if _scanned:
        return
    _scanned = True
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        modname = f"{__name__}.{info.name}"
        try:
            mod = importlib.import_module(modname)
        except Exception as e:  # noqa: BLE001 - a broken family module must not hide the others
            _import_errors[modname] = f"{type(e).__name__}: {e}"
            continue
        for fam in getattr(mod, "FAMILIES", ()):
            register(fam)


def names() -> list[str]:
    """Names of every available model family, sorted."""
    _scan()
    return sorted(_registry)


def get(name: str) -> type:
    """The Family subclass registered as ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    _scan()
    if name not in _registry:
        msg = f"unknown model {name!r}; valid models: {', '.join(names()) or '(none)'}"
        if _import_errors:
            msg += "; modules that failed to import: " + "; ".join(f"{k} ({v})" for k, v in _import_errors.items())
        raise ValueError(msg)
    return _registry[name]


def describe() -> list[tuple[str, str]]:
    """``[(name, one-line description)]`` for listings."""
    return [(n, get(n).description) for n in names()]


def load_networks(path: str, *, device="cpu", ema: bool = True) -> tuple[Family, dict[str, torch.nn.Module], str]:
    """``(family, nets, data_spec)`` from a checkpoint file or run directory: every network of
    the family with its saved weights (the EMA copy where there is one and ``ema``), in eval
    mode, frozen, on ``device``; ``data_spec`` is the run's ``--data``."""
    state = ckpt.load(ckpt.find(path))
    fam_cls = get(state["model"])
    stored = fam_cls.stored_recipe(state["recipe"])
    recipe, _ = apply_overrides(fam_cls.Recipe(), None, {f"model.{k}": v for k, v in stored.items()})
    info = state["data_info"]
    family = fam_cls(recipe, DataInfo(tuple(info["shape"]), int(info["num_classes"]), info.get("name", "")))
    family.load_state_dict(state.get("family", {}))   # before build: it may hold what building needs (a table's schema)
    nets = family.build()
    for name, net in nets.items():
        source = state["ema"] if ema and name in state.get("ema", {}) else state["nets"]
        if name not in source:
            raise ValueError(f"{path}: the checkpoint has no network {name!r} of model {family.name}")
        net.load_state_dict(source[name])
        net.to(device).eval().requires_grad_(False)
    return family, nets, str(state.get("data_spec", ""))


def load_generator(path: str, *, device="cpu", ema: bool = True) -> tuple[Family, torch.nn.Module]:
    """``(family, G)`` from a checkpoint file or run directory; G is in eval mode, frozen.  The
    family's other networks are loaded too (a translator's reverse direction: CycleGAN's G_BA)."""
    family, nets, _ = load_networks(path, device=device, ema=ema)
    return family, nets[family.generator_net]
