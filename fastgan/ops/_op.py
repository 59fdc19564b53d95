"""The skeleton every fused op is built from: its kernels declared once, its registration once.

`Kernel` declares one kernel for all the fused backends that run it: its entry point in the C++
(fastgan._C) and CUDA (fastgan._C_cuda) modules and its Triton launcher, with one typed argument
list that the call site passes to whichever backend runs. For the native modules it becomes the
entry point's arguments: a tensor's data pointer for `Tensor` and `Acc` (0 for a None `Tensor?`/`Acc?`),
the tuple of `Strides<n>` (or of `Phases`) as it is, numbers as they are; the dtype code of the first
`Tensor` goes in front and the thread count (cpu) or the current CUDA stream (cuda) at the end, as the bindings
(csrc/bindings/bind.h) take them. A native kernel reads every `Tensor` as the storage type of that dtype code
and every `Acc` as its accumulate type (float32 for 16-bit and float32 data, float64 for float64), so a
native call checks the dtypes first: a tensor of another dtype is a TypeError naming the kernel and the
argument, never a read or write past its end. The Triton launcher takes the declared arguments themselves.
tests/test_build.py checks every declaration against the types the bindings report.

`fused_op` registers an op once: `fastgan::<name>` as a `torch.library.custom_op` (the cpu and
cuda backends) and, where the op has Triton kernels, `fastgan::<name>_triton` as a
`torch.library.triton_op` over the same implementation, so torch.compile traces into the Triton
kernels; both with the fake impl, the autograd formula and the direct eager route of
_dispatch.py. Index the result by backend to get the op to call.
"""
from __future__ import annotations

import importlib
import keyword
from typing import Callable, Optional

import torch

from . import _dispatch
from ._backend import cuda_emulated, cuda_module, native_module, triton_interpret

DTYPE_CODE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
# a kernel's accumulate type per storage dtype (csrc/include/fastgan/common.h: acc_t)
_ACC_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}
_TYPES = ("Tensor", "Tensor?", "Acc", "Acc?", "int", "float", "bool", "Strides3", "Strides4", "Phases")
_POINTERS = ("Tensor", "Tensor?", "Acc", "Acc?")
NATIVE_BACKENDS = ("cpu", "cuda")
KERNELS: list = []  # every Kernel declared, for tests/test_build.py


def num_threads() -> int:
    return max(1, torch.get_num_threads())


def cuda_stream(t: torch.Tensor) -> int:
    """The current CUDA stream of t's device (0 for a CPU tensor: the emulated `cuda` backend)."""
    return 0 if t.device.type == "cpu" else torch.cuda.current_stream(t.device).cuda_stream


def _module(backend: str):
    mod = native_module() if backend == "cpu" else cuda_module()
    if mod is None:
        raise AssertionError(f"the {backend} module is not built (resolve() should have said so)")
    return mod


def call_native(backend: str, name: str, like: torch.Tensor, *args):
    """Call entry point `name` of the C++ ('cpu') or CUDA module with `args` (already converted:
    pointers as ints) and the thread count or the current CUDA stream of `like` last."""
    if backend not in NATIVE_BACKENDS:
        raise AssertionError(f"call_native: {backend!r} is not a native backend")
    return getattr(_module(backend), name)(*args, num_threads() if backend == "cpu" else cuda_stream(like))


class Kernel:
    """One kernel, declared once: `Kernel(name, "x: Tensor, b: Tensor?, n: int, eps: float", triton="mod.fn")`.

    `kernel(backend, *args)` runs it on 'cpu', 'cuda' or 'triton'. `backends` lists the native
    modules that have the entry point `name` (the declaration must match each); `triton` names the
    launcher `fn` in fastgan.ops.triton.<mod>; `dtype_code=False` for entry points that take no
    dtype code in front.
    """

    __slots__ = ("name", "params", "backends", "triton", "dtype_code", "_calls", "_triton_fn")

    def __init__(self, name: str, signature: str, *, triton: Optional[str] = None,
                 backends: tuple = NATIVE_BACKENDS, dtype_code: bool = True):
        self.name = name
        self.params = tuple(_parse(name, signature))
        self.backends = tuple(backends)
        self.triton = triton
        self.dtype_code = dtype_code
        self._calls: dict = {}
        self._triton_fn = None
        if not any(t == "Tensor" for _, t in self.params):
            raise ValueError(f"Kernel {name}: no Tensor argument (the first one gives the dtype code and device)")
        KERNELS.append(self)

    def __call__(self, backend: str, *args):
        key = "cuda_emu" if backend == "cuda" and cuda_emulated() else backend
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = self._bind(backend)
        return call(*args)

    def _bind(self, backend: str) -> Callable:
        if backend == "triton":
            if self.triton is None:
                raise AssertionError(f"kernel {self.name} has no Triton launcher")
            mod, fn = self.triton.rsplit(".", 1)
            return getattr(importlib.import_module(f"fastgan.ops.triton.{mod}"), fn)
        if backend not in self.backends:
            raise AssertionError(f"kernel {self.name} has no {backend!r} entry point")
        return self._native_call(getattr(_module(backend), self.name), backend)

    def _native_call(self, entry, backend: str):
        """A function with the declared parameters that calls `entry` with the converted arguments
        (generated once, so a call costs what the hand-written conversion did)."""
        names = [p for p, _ in self.params]
        conv = []
        for p, t in self.params:
            conv.append(f"{p}.data_ptr()" if t in ("Tensor", "Acc") else
                        f"(0 if {p} is None else {p}.data_ptr())" if t in ("Tensor?", "Acc?") else p)
        first = next(p for p, t in self.params if t == "Tensor")
        head = f"_code[{first}.dtype], " if self.dtype_code else ""
        tail = "_threads()" if backend == "cpu" else f"_stream({first})"
        # every pointer's dtype against the one the kernel reads it as (a few `is` tests a call)
        checks = [f"    _t = {first}.dtype\n", "    _a = _ACC.get(_t, _t)\n"]
        for p, t in self.params:
            if p == first or t not in _POINTERS:
                continue
            want = "_t" if t.startswith("Tensor") else "_a"
            cond = f"{p}.dtype is not {want}"
            if t.endswith("?"):
                cond = f"{p} is not None and {cond}"
            checks.append(f"    if {cond}:\n        _bad({p!r}, {p}.dtype, {want})\n")
        src = (f"def {self.name}({', '.join(names)}):\n" + "".join(checks) +
               f"    return _entry({head}{', '.join(conv)}, {tail})\n")
        scope = {"_entry": entry, "_threads": num_threads, "_stream": cuda_stream, "_code": DTYPE_CODE,
                 "_ACC": _ACC_DTYPE, "_bad": self._bad_dtype}
        exec(compile(src, f"<fastgan kernel {self.name}>", "exec"), scope)  # noqa: S102 - source built above
        return scope[self.name]

    def _bad_dtype(self, param, got, want):
        raise TypeError(f"fastgan kernel {self.name}: {param} is {got}, the kernel reads it as {want}")

    def __repr__(self):
        sig = ", ".join(f"{p}: {t}" for p, t in self.params)
        return f"Kernel({self.name}({sig}); {', '.join(self.backends)}{'; triton' if self.triton else ''})"


def _parse(name: str, signature: str):
    for part in signature.split(","):
        p, sep, t = (s.strip() for s in part.partition(":"))
        if not sep or not p.isidentifier() or keyword.iskeyword(p) or t not in _TYPES:
            raise ValueError(f"Kernel {name}: bad parameter {part.strip()!r} (want 'name: type', type one of "
                             f"{', '.join(_TYPES)})")
        yield p, t


# ------------------------------------------------------------------ op registration
class FusedOp(dict):
    """backend -> the registered op (a _dispatch.DirectOp) that runs on it."""

    def __missing__(self, backend):
        raise AssertionError(f"no registered op for backend {backend!r} (have {', '.join(self)})")


def fused_op(name: str, impl: Callable, *, fake: Callable, setup_context: Callable, backward: Callable,
             triton: bool = True) -> FusedOp:
    """Register `impl` (annotated, its last argument `backend: str`) as `fastgan::<name>` for the
    cpu and cuda backends and, with `triton`, as the triton_op `fastgan::<name>_triton` for the
    triton backend (without, the triton backend calls `fastgan::<name>` too)."""
    native = torch.library.custom_op(f"fastgan::{name}", impl, mutates_args=())
    native.register_fake(fake)
    op = _dispatch.register_autograd(native, backward, setup_context=setup_context)
    routes = FusedOp(cpu=op, cuda=op, triton=op)
    if triton:
        # the implementation must be traceable on fake tensors and launch its kernels via wrap_triton
        tri = torch.library.triton_op(f"fastgan::{name}_triton", impl, mutates_args=())
        tri_op = _dispatch.register_autograd(tri, backward, setup_context=setup_context)
        # Under TRITON_INTERPRET=1 (Triton kernels on CPU tensors, for tests) a kernel cannot be traced on
        # fake tensors, so the triton backend keeps the opaque op there; the triton_op stays callable.
        if not triton_interpret():
            routes["triton"] = tri_op
    return routes
