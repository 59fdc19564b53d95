"""Backend registry and selection (DESIGN §2.2).

A call picks its backend from, in order: the op's `impl=` argument, the innermost
`use_backend(...)` context, the environment variable FASTGAN_BACKEND, then `auto`.
`auto` picks the fastest available backend for the tensor's device: `cpu` (C++) for CPU
tensors, `cuda` then `triton` for CUDA tensors, and falls back to `ref` with a one-time
warning that names the reason. Asking explicitly for an unavailable backend raises
BackendUnavailableError saying why and how to get it.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
import os
import sys
import warnings
from typing import Iterable, Optional

import torch

BACKENDS = ("ref", "cpu", "triton", "cuda")
# CUDA emulation (set_cuda_emulation / FASTGAN_CUDA_EMU=1): the `cuda` backend runs its kernels, the
# unchanged sources of csrc/cuda, on CPU tensors through fastgan._C_cuda_emu (csrc/emu), for tests.
_emulate_cuda = os.environ.get("FASTGAN_CUDA_EMU", "0") not in ("", "0")
_CHOICES = BACKENDS + ("auto",)
_current: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("fastgan_backend", default=None)
_warned: set = set()


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run here; the message says why and how to get it."""


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or name.lower() not in _CHOICES:
        raise ValueError(f"{what} must be one of {', '.join(_CHOICES)}; got {name!r}")
    return name.lower()


@contextlib.contextmanager
def use_backend(name: str):
    """Run the enclosed fastgan ops on backend `name` (ref, cpu, triton, cuda or auto)."""
    token = _current.set(_check_name(name, "backend"))
    try:
        yield
    finally:
        _current.reset(token)


# ---------------------------------------------------------------- availability
def native_module():
    """fastgan._C or None, with the import error kept for messages."""
    return _native_state()[0]


_native_cache: dict = {}


def _native_state():
    if "cpu" not in _native_cache:
        try:
            mod = importlib.import_module("fastgan._C")
            _native_cache["cpu"] = (mod, None)
        except ImportError as e:  # not built
            _native_cache["cpu"] = (None, e)
    return _native_cache["cpu"]


def _cuda_state():
    key = "cuda_emu" if _emulate_cuda else "cuda"
    if key not in _native_cache:
        try:
            path = os.environ.get("FASTGAN_CUDA_EMU_MODULE") if _emulate_cuda else None
            mod = (_load_from(path, "fastgan._C_cuda_emu") if path else
                   importlib.import_module("fastgan._C_cuda_emu" if _emulate_cuda else "fastgan._C_cuda"))
            _native_cache[key] = (mod, None)
        except ImportError as e:
            _native_cache[key] = (None, e)
    return _native_cache[key]


def _load_from(path: str, name: str):
    """The extension module `name` from the file `path` (FASTGAN_CUDA_EMU_MODULE: another build of the emulator,
    e.g. scripts/emu_memcheck.sh's sanitized one)."""
    if not os.path.isfile(path):
        raise ImportError(f"FASTGAN_CUDA_EMU_MODULE={path!r} is not a file")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod
    return mod


def cuda_module():
    """fastgan._C_cuda, or fastgan._C_cuda_emu while CUDA is emulated; None if not built."""
    return _cuda_state()[0]


def cuda_emulated() -> bool:
    """Whether the `cuda` backend runs on the CPU emulator (set_cuda_emulation)."""
    return _emulate_cuda


def set_cuda_emulation(enabled: bool) -> bool:
    """Run the `cuda` backend's kernels on CPU tensors through the emulator fastgan._C_cuda_emu (built with
    FASTGAN_BUILD_CUDA_EMU=1 `pip install .`; csrc/emu says what it models) instead of on a GPU; returns the
    previous setting. The emulator runs the threads of a block one after another: for tests, not speed."""
    global _emulate_cuda
    prev, _emulate_cuda = _emulate_cuda, bool(enabled)
    return prev


@contextlib.contextmanager
def cuda_emulation(enabled: bool = True):
    """set_cuda_emulation(enabled) for the enclosed block."""
    prev = set_cuda_emulation(enabled)
    try:
        yield
    finally:
        set_cuda_emulation(prev)


def triton_interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _triton_state():
    if "triton" not in _native_cache:
        try:
            import triton  # noqa: F401

            _native_cache["triton"] = (True, None)
        except Exception as e:  # ImportError or a broken install
            _native_cache["triton"] = (False, e)
    return _native_cache["triton"]


def _native_reason(what: str, device_wanted: str, device_type: str, state, build_hint: str) -> Optional[str]:
    """The reason a native backend (its module state from `state()`) cannot run on `device_type`."""
    if device_type != device_wanted:
        return f"the {what} backend runs on {device_wanted.upper()} tensors, these are on {device_type}"
    if device_wanted == "cuda" and not torch.cuda.is_available():
        return "no CUDA device is visible to PyTorch (torch.cuda.is_available() is False)"
    mod, err = state()
    return None if mod is not None else build_hint.format(err=err)


def unavailable_reason(backend: str, device_type: str) -> Optional[str]:
    """None if `backend` can run on tensors of `device_type`, else a sentence saying why not and what to do."""
    if backend == "ref":
        return None
    if backend == "cpu":
        return _native_reason("'cpu'", "cpu", device_type, _native_state,
                              "fastgan._C (the C++ CPU kernels) is not built ({err}); reinstall with "
                              "`pip install .` on a machine with a C++17 compiler and CMake")
    if backend == "cuda" and _emulate_cuda:
        return _native_reason("emulated 'cuda'", "cpu", device_type, _cuda_state,
                              "fastgan._C_cuda_emu (the CUDA emulator) is not built ({err}); reinstall with "
                              "FASTGAN_BUILD_CUDA_EMU=1 `pip install .`")
    if backend == "cuda":
        return _native_reason("'cuda'", "cuda", device_type, _cuda_state,
                              "fastgan._C_cuda is not built ({err}); reinstall with FASTGAN_CUDA=1 "
                              "`pip install .` on a machine with nvcc")
    if backend == "triton":
        ok, err = _triton_state()
        if not ok:
            return f"Triton is not importable ({err}); `pip install fastgan[triton]`"
        if device_type == "cpu" and not triton_interpret():
            return ("Triton kernels run on CUDA tensors; for CPU tensors set TRITON_INTERPRET=1 "
                    "before importing fastgan (interpreter mode, for testing)")
        if device_type not in ("cpu", "cuda"):
            return f"Triton kernels do not run on {device_type} tensors"
        if device_type == "cuda" and not torch.cuda.is_available():
            return "no CUDA device is visible to PyTorch (torch.cuda.is_available() is False)"
        return None
    raise ValueError(f"unknown backend {backend!r}")


def available_backends(device_type: str = "cpu") -> list:
    return [b for b in BACKENDS if unavailable_reason(b, device_type) is None]


# os.environ.get costs ~0.5 us when the variable is unset (a KeyError raised and caught), on every
# op call; where the environment is a dict underneath (POSIX), look the encoded key up there first.
_ENV_DATA = getattr(os.environ, "_data", None)
_ENV_KEY = os.environ.encodekey("FASTGAN_BACKEND") if hasattr(os.environ, "encodekey") else None


def _env_backend() -> Optional[str]:
    if isinstance(_ENV_DATA, dict) and _ENV_KEY not in _ENV_DATA:
        return None
    return os.environ.get("FASTGAN_BACKEND")


def requested_backend(impl: Optional[str] = None) -> str:
    if impl is not None:
        return _check_name(impl, "impl")
    ctx = _current.get()
    if ctx is not None:
        return ctx
    env = _env_backend()
    if env:
        return _check_name(env, "FASTGAN_BACKEND")
    return "auto"


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)


def _constant_for_compile(fn):
    """What torch.compiler.assume_constant_result does (dynamo evaluates fn once while tracing
    and keeps its result as a constant), without importing torch._dynamo at import time."""
    fn._dynamo_marked_constant = True
    return fn


@_constant_for_compile
def _resolve(op: str, impl: Optional[str], device_type: str, supported: tuple) -> str:
    want = requested_backend(impl)
    if want != "auto":
        if want not in supported:
            raise BackendUnavailableError(
                f"fastgan.ops.{op} has no '{want}' backend; it supports {', '.join(supported)}")
        why = unavailable_reason(want, device_type)
        if why:
            raise BackendUnavailableError(f"fastgan.ops.{op}: backend '{want}' is unavailable: {why}")
        return want
    order = ("cpu",) if device_type == "cpu" else ("cuda", "triton") if device_type == "cuda" else ()
    reasons = []
    for b in order:
        if b not in supported:
            reasons.append(f"{op} has no '{b}' backend")
            continue
        why = unavailable_reason(b, device_type)
        if why is None:
            return b
        reasons.append(why)
    if not reasons:
        reasons.append(f"no fused backend runs on {device_type} tensors")
    _warn_once((op, device_type), f"fastgan.ops.{op}: falling back to the slow 'ref' backend because "
               + "; ".join(reasons))
    return "ref"


def resolve(op: str, impl: Optional[str], device: torch.device, supported: Iterable[str] = BACKENDS) -> str:
    """The backend an op call runs on (see module docstring)."""
    device_type = device.type if isinstance(device, torch.device) else torch.device(device).type
    return _resolve(op, impl, device_type, supported if isinstance(supported, tuple) else tuple(supported))
