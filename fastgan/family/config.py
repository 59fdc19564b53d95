"""``key=value`` overrides of a recipe and the engine's run options.

Two dataclasses describe a run: the family's recipe (model and training
hyper-parameters, the paper defaults) and the engine's run options (where to write,
how often, on which device).  Overrides come from a family's preset, ``--config
file.yaml`` (a flat mapping, or sections ``model:``/``run:``) and ``--set key=value``;
a key is a field of either; ``model.key``/``run.key`` disambiguate.  Values are
parsed as YAML scalars and checked against the field's type.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing

import yaml

__all__ = ["apply_overrides", "parse_set", "parse_value", "load_yaml", "to_dict"]


def to_dict(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _coerce(value, tp, name: str):
    """Check/convert ``value`` to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, name)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise TypeError(f"{name}: {value!r} does not fit {tp} ({'; '.join(errors)})")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list like [a, b], got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], name) for v in value)
        if len(args) != len(value):
            raise ValueError(f"{name} needs {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, name) for v, a in zip(value, args))
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise TypeError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise TypeError(f"{name} must be a string, got {value!r}")
        return str(value)
    return value


# a number as a user writes it; YAML 1.1 (PyYAML) reads "4e-4" and "1.0e3" as strings (its floats need
# a dot and a signed exponent), so every number-like string is read again here
_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?")
_INT = re.compile(r"[-+]?\d[\d_]*")


def _scalars(value):
    """YAML-parsed ``value`` with number-like strings made int/float and ``None`` made None, in lists
    and mappings too."""
    if isinstance(value, str):
        text = value.strip()
        if text == "None":
            return None
        if _INT.fullmatch(text):
            return int(text.replace("_", ""))
        if _NUMBER.fullmatch(text):
            return float(text.replace("_", ""))
        return value
    if isinstance(value, list):
        return [_scalars(v) for v in value]
    if isinstance(value, dict):
        return {k: _scalars(v) for k, v in value.items()}
    return value


def parse_value(raw: str, key: str = "value"):
    """One ``--set`` value as a user means it: ``4e-4`` and ``1.5`` -> float, ``3`` -> int,
    ``true``/``false`` -> bool, ``None``/``null`` -> None, ``[a, b]`` -> list, anything else a string."""
    if not raw.strip():
        return ""
    try:
        return _scalars(yaml.safe_load(raw))
    except yaml.YAMLError as e:
        raise ValueError(f"--set {key}: cannot parse {raw!r}: {str(e).splitlines()[0]}") from e


def parse_set(items) -> dict:
    """``["a=1", "b=[0.5, 0.99]", "lr=4e-4"]`` -> ``{"a": 1, "b": [0.5, 0.99], "lr": 0.0004}``
    (values parsed by :func:`parse_value`)."""
    out = {}
    for item in items or ():
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"--set expects key=value, got {item!r} (no key)")
        out[key] = parse_value(raw, key)
    return out


def load_yaml(path: str) -> dict:
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except OSError as e:
        raise FileNotFoundError(f"config file {path}: {e}") from e
    except yaml.YAMLError as e:
        raise ValueError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of key: value")
    flat = {}
    for k, v in _scalars(data).items():
        if k in ("model", "run") and isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


def apply_overrides(recipe, run, overrides: dict):
    """Return ``(recipe', run')`` with ``overrides`` applied; unknown keys list the valid ones.
    ``run`` may be None (a recipe alone, e.g. rebuilt from a checkpoint); then ``run'`` is None."""
    targets = {"model": recipe, "run": run} if run is not None else {"model": recipe}
    hints = {k: typing.get_type_hints(type(v)) for k, v in targets.items()}
    fields = {k: [f.name for f in dataclasses.fields(v)] for k, v in targets.items()}
    changes = {k: {} for k in targets}
    for key, value in overrides.items():
        scope, _, name = key.rpartition(".")
        scopes = [scope] if scope else [s for s in targets if name in fields[s]]
        if scope and scope not in targets:
            raise ValueError(f"unknown option scope {scope!r} in {key!r}; use "
                             + " or ".join(f"{t}.<field>" for t in targets))
        if not scopes or name not in fields[scopes[0]]:
            raise ValueError(f"unknown option {key!r}; " + "; ".join(
                f"{'model' if t == 'model' else 'run'} options: {', '.join(fields[t])}" for t in targets))
        if len(scopes) > 1:
            raise ValueError(f"option {name!r} exists in both model and run; write model.{name} or run.{name}")
        s = scopes[0]
        changes[s][name] = _coerce(value, hints[s][name], key)
    return (dataclasses.replace(recipe, **changes["model"]),
            dataclasses.replace(run, **changes["run"]) if run is not None else None)
