"""Full-state checkpoints: one safetensors file, written atomically, loaded without running code.

Any nested state (dicts, lists, tuples, numbers, strings, tensors) is split into
a flat ``{key: tensor}`` map, stored as safetensors tensors, and a JSON skeleton
stored in the safetensors header's metadata under ``"fastgan"``; the skeleton
refers to tensors as ``{"__tensor__": key}``.  A SHA-256 over every tensor's
name, dtype, shape and bytes (``"sha256"``) catches corrupted data.  Loading
parses JSON and raw tensor bytes only: a checkpoint can never execute code.

A write goes to ``<name>.tmp-<pid>`` first, is flushed to disk, then renamed over
the final name (``os.replace`` is atomic), so a crash never leaves a
half-written checkpoint under a checkpoint's name.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

FORMAT = "fastgan-checkpoint"
VERSION = 1
SUFFIX = ".safetensors"
_NAME_RE = re.compile(r"ckpt-(\d+)\.safetensors$")

__all__ = ["save", "load", "pack", "unpack", "find", "checkpoint_name", "CheckpointError"]


class CheckpointError(ValueError):
    """A file that is not a readable fastgan checkpoint (corrupted, truncated or foreign)."""


# -- nested state <-> (JSON skeleton, tensors) ------------------------------------------
def pack(obj, tensors: dict, key: str = "s"):
    """Replace tensors in ``obj`` by references, collecting them into ``tensors``."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().cpu().clone(memory_format=torch.contiguous_format)
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: pack(v, tensors, f"{key}/{k}") for k, v in obj.items()}
        return {"__items__": [[pack(k, tensors, f"{key}/k{i}"), pack(v, tensors, f"{key}/{i}")]
                              for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [pack(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [pack(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} at {key!r} in a checkpoint")


def unpack(obj, tensors: dict):
    """Inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(unpack(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {unpack(k, tensors): unpack(v, tensors) for k, v in obj["__items__"]}
        return {k: unpack(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, tensors) for v in obj]
    return obj


def _digest(tensors: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k]
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# -- files -------------------------------------------------------------------------------
def save(path: str, state: dict) -> str:
    """Write ``state`` to ``path`` atomically; returns ``path``."""
    tensors: dict = {}
    skeleton = pack(state, tensors)
    meta = {"format": FORMAT, "version": str(VERSION), "sha256": _digest(tensors),
            "fastgan": json.dumps(skeleton, allow_nan=True)}
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        save_file(tensors, tmp, metadata=meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path: str) -> dict:
    """Read a checkpoint written by :func:`save`; raises CheckpointError when it is not one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupted?): {e}") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a fastgan checkpoint "
                              f"(format {meta.get('format')!r}); pass a file written by fastgan train")
    if int(meta.get("version", -1)) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {meta['version']}; this fastgan reads <= {VERSION}")
    if meta.get("sha256") != _digest(tensors):
        raise CheckpointError(f"{path} is corrupted: its tensor data does not match the stored checksum")
    try:
        skeleton = json.loads(meta["fastgan"])
        return unpack(skeleton, tensors)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} has a damaged state description: {e}") from e


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:09d}{SUFFIX}"


def find(path: str) -> str:
    """A checkpoint file: ``path`` itself, or the latest ``ckpt-*.safetensors`` in the run
    directory ``path`` (or its ``checkpoints/`` folder)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoint or run directory at {path}")
    found = []
    for d in (path, os.path.join(path, "checkpoints")):
        for f in glob.glob(os.path.join(glob.escape(d), f"ckpt-*{SUFFIX}")):
            m = _NAME_RE.search(os.path.basename(f))
            if m:
                found.append((int(m.group(1)), f))
    if not found:
        raise FileNotFoundError(f"no checkpoint (ckpt-*{SUFFIX}) in {path} or {os.path.join(path, 'checkpoints')}")
    return max(found)[1]


def prune(directory: str, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints in ``directory`` (keep <= 0: keep all)."""
    if keep <= 0:
        return
    files = sorted(f for f in glob.glob(os.path.join(glob.escape(directory), f"ckpt-*{SUFFIX}"))
                   if _NAME_RE.search(os.path.basename(f)))
    for f in files[:-keep]:
        os.unlink(f)
