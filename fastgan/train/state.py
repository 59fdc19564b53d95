"""Pieces of a run's state the engine keeps: device moves of structured batches, initialisation
from a checkpoint and freezing by name pattern, RNG states, NVTX ranges, run directories."""
from __future__ import annotations

import fnmatch
import os
import shutil
import warnings

import numpy as np
import torch

from .. import checkpoint as ckpt

__all__ = ["to_device", "named_parameters", "match_names", "init_from_checkpoint", "frozen_parameters",
           "np_state_to_tensor", "np_state_from_tensor", "check_writable",
           "clear_run_files", "run_dir_of"]


def to_device(obj, device, non_blocking: bool = False):
    """Tensors in ``obj`` (a tensor, or dicts/lists/tuples of them, nested) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, non_blocking) for v in obj)
    return obj


def named_parameters(nets: dict[str, torch.nn.Module]) -> dict[str, torch.nn.Parameter]:
    """``{"net.param": parameter}`` over all networks."""
    return {f"{k}.{n}": p for k, net in nets.items() for n, p in net.named_parameters()}


def match_names(names, patterns, what: str) -> list[str]:
    """Names matching any fnmatch pattern; a pattern matching nothing is a ValueError."""
    out = []
    for pat in patterns:
        hit = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hit:
            some = ", ".join(list(names)[:8])
            raise ValueError(f"{what}: pattern {pat!r} matches no parameter (names look like: {some}, ...)")
        out.extend(h for h in hit if h not in out)
    return out


def init_from_checkpoint(nets: dict[str, torch.nn.Module], path: str, patterns=(), partial: bool = False,
                         family: str | None = None) -> list[str]:
    """Copy parameters and buffers named ``net.name`` (those matching ``patterns``; all when empty)
    from the networks of the checkpoint at ``path``; returns the names copied.

    Without ``partial`` every taken name must have the model's shape, and (with no ``patterns``)
    every tensor of the checkpoint must have a place in the model (the model may have new parts,
    a MineGAN miner say); otherwise a ValueError lists every mismatch.  With ``partial`` the
    tensors that fit by name and shape are copied and the rest are skipped with a warning."""
    state = ckpt.load(ckpt.find(path))
    src = {f"{k}.{n}": t for k, sd in state["nets"].items() for n, t in sd.items()}
    dst = {f"{k}.{n}": t for k, net in nets.items() for n, t in net.state_dict().items()}
    names = match_names(list(dst), patterns, "init_match") if patterns else list(dst)
    missing = [n for n in names if n not in src]
    if missing and patterns and not partial:
        raise ValueError(f"init: checkpoint {path} has no {missing[:5]}")
    names = [n for n in names if n in src]
    bad = [n for n in names if src[n].shape != dst[n].shape]
    unused = [] if patterns else [n for n in src if n not in dst]
    if (bad or unused) and not partial:
        lines = [f"{n} has shape {tuple(src[n].shape)} in {path}, {tuple(dst[n].shape)} here" for n in bad]
        if unused:
            lines.append(f"{len(unused)} tensor(s) of the checkpoint have no place in this model: "
                         + ", ".join(unused[:8]) + (", ..." if len(unused) > 8 else ""))
        other = state.get("model")
        what = f" (the checkpoint is of model {other!r}, this is {family!r})" if family and other and other != family \
            else ""
        raise ValueError(f"init: " + "; ".join(lines) + f"{what}. Load only the tensors that fit with "
                         f"--set init_partial=true, or pick them with --set init_match=PATTERNS")
    names = [n for n in names if n not in bad]
    if not names:
        raise ValueError(f"init: checkpoint {path} shares no parameter of the same name and shape with this model")
    skipped = bad + missing + unused
    if skipped and partial:
        warnings.warn(f"init_partial: took {len(names)} tensors from {path}, skipped {len(skipped)}: "
                      + ", ".join(skipped[:8]) + (", ..." if len(skipped) > 8 else ""), stacklevel=2)
    with torch.no_grad():
        for n in names:
            dst[n].copy_(src[n])
    return names


def frozen_parameters(nets: dict[str, torch.nn.Module], patterns) -> set[int]:
    """ids of the parameters matching the ``freeze`` patterns (they never get requires_grad)."""
    params = named_parameters(nets)
    return {id(params[n]) for n in match_names(list(params), patterns, "freeze")} if patterns else set()


def np_state_to_tensor() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def np_state_from_tensor(s: dict) -> None:
    np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["cached"]))


def check_writable(out: str) -> None:
    """Create ``out`` and prove a file can be written there, or raise ValueError."""
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"output directory {out!r} is not writable: {e}") from e


def clear_run_files(out: str, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, remove) an earlier run's files in ``out``."""
    old = [p for p in (os.path.join(out, "scalars.csv"), os.path.join(out, "checkpoints"),
                       os.path.join(out, "samples"), os.path.join(out, "tensorboard"),
                       os.path.join(out, "losses.png")) if os.path.exists(p)]
    if old and not overwrite:
        raise ValueError(f"output directory {out!r} already holds a run ({', '.join(map(os.path.basename, old))}); "
                         f"resume it with --resume {out}, pick another --out, or --set overwrite=true")
    for p in old:
        shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)


def run_dir_of(path: str) -> str:
    """Run directory holding a checkpoint file (``<run>/checkpoints/ckpt-*.safetensors``)."""
    d = os.path.dirname(os.path.abspath(path))
    return os.path.dirname(d) if os.path.basename(d) == "checkpoints" else d


@torch.no_grad()
def standing_norm_stats(G: torch.nn.Module, draw, n_batches: int) -> bool:
    """Measure again the running statistics of G's BatchNorm layers on G's own outputs.

    An EMA copy of a generator gets averaged weights, but the running means and variances it
    copies each step are the live generator's, measured on activations of other weights; at a
    batch of 16 they also follow the last few batches only.  This resets them and lets
    ``draw(i)`` run G on ``n_batches`` batches with BatchNorm in training mode and a cumulative
    average (``momentum=None``), every other layer in eval mode (no dropout), so the running
    mean of each BatchNorm becomes the mean of its batch means and the running variance the
    mean of its (unbiased) batch variances.  Returns False, leaving G untouched, when G has no
    BatchNorm with running statistics."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return False
    if isinstance(n_batches, bool) or not isinstance(n_batches, int) or n_batches < 1:
        raise ValueError(f"n_batches must be a positive int, got {n_batches!r}")
    was, momenta = G.training, [m.momentum for m in bns]
    G.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for i in range(n_batches):
            draw(i)
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        G.train(was)
    return True
