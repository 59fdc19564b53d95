"""NVTX ranges for Nsight Systems: one range `fastgan::<op>` around every fused op call.

A process-wide switch: `set_nvtx(True)` in code, or FASTGAN_NVTX=1 in the environment (read when
fastgan.ops is imported). Ranges are emitted only while the switch is on *and* CUDA is available
(checked when the switch is set); `nvtx_active()` says whether they are.

- Every call of a fused op (the registered `fastgan::<name>` ops, forward and backward, on the
  direct eager route and through the dispatcher) runs inside `fastgan::<name>`.
- `nvtx_range(name)` opens a range of one's own, e.g. per training phase; it is a no-op while the
  switch is off (`nvtx_range(name, enabled)` decides for that range alone).

Off, it costs nothing on the ops' eager fast path: the range is installed by replacing
`DirectOp.__call__`, not by a test on every call (benchmarks/bench_dispatch.py measures it).
Under torch.compile tracing no range is pushed (the compiled graph is one range at most).
"""
from __future__ import annotations

import contextlib
import os
from typing import Optional

import torch

from . import _dispatch

_enabled = False
_active = False


def _cuda_available() -> bool:
    """Whether NVTX ranges can be emitted (one place, so tests can pretend a device)."""
    return torch.cuda.is_available()


def nvtx_enabled() -> bool:
    """Whether the switch is on (set_nvtx / FASTGAN_NVTX)."""
    return _enabled


def nvtx_active() -> bool:
    """Whether ranges are being emitted: the switch is on and CUDA was available when it was set."""
    return _active


def set_nvtx(enabled: bool) -> bool:
    """Turn the per-op NVTX ranges on or off for the whole process; returns whether they are active."""
    global _enabled, _active
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _enabled = enabled
    _active = enabled and _cuda_available()
    _dispatch.set_call_wrapper(_nvtx_call if _active else None)
    return _active


@contextlib.contextmanager
def use_nvtx(enabled: bool = True):
    """set_nvtx(enabled) for the enclosed block, restored after it."""
    prev = _enabled
    set_nvtx(enabled)
    try:
        yield
    finally:
        set_nvtx(prev)


@contextlib.contextmanager
def nvtx_range(name: str, enabled: Optional[bool] = None):
    """An NVTX range named `name` around the block while ranges are active (`enabled=None`: the
    process switch; True/False: this range alone, still only when CUDA is available)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    on = _active if enabled is None else bool(enabled) and _cuda_available()
    if not on or torch.compiler.is_compiling():
        yield
        return
    torch.cuda.nvtx.range_push(name)
    try:
        yield
    finally:
        torch.cuda.nvtx.range_pop()


def _nvtx_call(call, op, args):
    """DirectOp's call wrapper while ranges are active: `call(op, *args)` inside `fastgan::<name>`."""
    if torch.compiler.is_compiling():
        return call(op, *args)
    torch.cuda.nvtx.range_push(op.name)
    try:
        return call(op, *args)
    finally:
        torch.cuda.nvtx.range_pop()


def _env_switch() -> bool:
    v = os.environ.get("FASTGAN_NVTX", "").strip().lower()
    return v not in ("", "0", "false", "off", "no")


if _env_switch():
    set_nvtx(True)
