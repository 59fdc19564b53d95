"""Direct eager dispatch of the registered fastgan ops (docs/op_dispatch.md).

Every fused op is a `torch.library.custom_op` (`fastgan::<name>`) with a fake impl and
`register_autograd`: that is what torch.compile, export, vmap, FakeTensor and opcheck see, and
it stays so. In plain eager code, though, going through the dispatcher and the custom-op Python
layer costs 20-40 us per call, more than the kernel on small shapes. So each op module registers
its autograd formula through `register_autograd` below, which also returns a `DirectOp`: a
callable with the op's signature that, when it is safe, runs the op's own implementation (the
function under `@custom_op`) without the dispatcher:

- no input requires grad, or grad mode is off: the implementation is called directly;
- otherwise: through a `torch.autograd.Function` built from the same `setup_context` and
  `backward` that the registered op uses. The backwards call the ops' DirectOps, which are
  themselves differentiable, so double backward works on either path.

Results and gradients are bitwise identical to the registered path: the same implementation
and the same backward formulas run, on the same arguments.

It is safe when all of these hold, and otherwise the call goes to the registered op:
- not inside torch.compile / export tracing (`torch.compiler.is_compiling()`), nor a
  TorchScript trace (`torch.jit.trace`);
- no functorch transform is active (vmap, grad, jvp, jacrev, functionalize);
- no TorchDispatchMode (FakeTensorMode, make_fx's proxy mode, FlopCounterMode, DebugMode,
  SchemaCheckMode in opcheck, ...) and no TorchFunctionMode (`with torch.device(...)`, ...) is on;
- forward-mode AD is off (no `forward_ad.dual_level()`), so errors stay those of the op;
- every tensor argument is a plain `torch.Tensor` or an `nn.Parameter` (whose
  `__torch_function__` is disabled): no FakeTensor, FunctionalTensor, DTensor or other subclass;
- no tensor argument is on the meta device (the registered op has a fake impl for those).

While a profiler is recording (`torch.profiler.profile`, `emit_nvtx`, ...), a direct call is
wrapped in `record_function("fastgan::<name>")`, so traces still show the op by name (its
backward node is `fastgan::<name>Backward`). Checking whether the profiler is on costs ~0.1 us.

Escape hatch: FASTGAN_DIRECT_DISPATCH=0 in the environment (read at import) sends every call
through the registered ops; `fastgan.ops.use_direct_dispatch(False)` does the same for a block
(process-wide, not per thread: it is a debugging switch).
"""
from __future__ import annotations

import contextlib
import os

import torch
from torch.autograd import forward_ad as _fwd_ad

ENABLED = os.environ.get("FASTGAN_DIRECT_DISPATCH", "1").strip().lower() not in ("0", "false", "off", "no")

_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_is_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._len_torch_function_stack
_jit_tracing = torch._C._get_tracing_state
_grad_enabled = torch.is_grad_enabled
_profiling = torch.autograd._profiler_enabled
_record_function = torch.autograd.profiler.record_function


@contextlib.contextmanager
def use_direct_dispatch(enabled: bool = True):
    """Turn the direct eager path on or off for the enclosed block (process-wide switch)."""
    global ENABLED
    prev, ENABLED = ENABLED, bool(enabled)
    try:
        yield
    finally:
        ENABLED = prev


def direct_safe() -> bool:
    """Whether the global state allows the direct path (the tensor arguments are checked per call)."""
    return not (_is_compiling() or _functorch_active() or _dispatch_modes() or _function_modes()
                or _jit_tracing() is not None or _fwd_ad._current_level >= 0)


class DirectOp:
    """A registered custom op plus its direct eager route; call it like the op (positional args)."""

    __slots__ = ("op", "impl", "name", "function", "tensor_args")

    def __init__(self, op, backward, setup_context):
        # CustomOpDef keeps the decorated function, the qualified name and the OpOverload in these
        # attributes (torch >= 2.4); test_dispatch.py fails loudly if a torch release renames them.
        self.op = op
        self.impl = op._init_fn  # the function decorated by @torch.library.custom_op
        self.name = op._qualname
        schema = op._opoverload._schema
        kinds = [str(a.type) for a in schema.arguments]
        if any("Tensor" in k and k not in ("Tensor", "Optional[Tensor]") for k in kinds):
            raise TypeError(f"{self.name}: DirectOp supports Tensor and Optional[Tensor] arguments only")
        self.tensor_args = tuple(i for i, k in enumerate(kinds) if "Tensor" in k)
        impl = self.impl

        def forward(ctx, *args):
            out = impl(*args)
            setup_context(ctx, args, out)
            return out

        # the backward node shows as `fastgan::<name>Backward` in autograd graphs and profiles
        self.function = type(self.name, (torch.autograd.Function,),
                             {"forward": staticmethod(forward), "backward": staticmethod(backward)})

    def __call__(self, *args):
        if not ENABLED or not direct_safe():
            return self.op(*args)
        requires_grad = False
        for i in self.tensor_args:
            t = args[i]
            if t is None:
                continue
            tt = type(t)
            if (tt is not _Tensor and tt is not _Parameter) or t.is_meta:
                return self.op(*args)
            requires_grad = requires_grad or t.requires_grad
        run = self.function.apply if requires_grad and _grad_enabled() else self.impl
        if _profiling():
            with _record_function(self.name):
                return run(*args)
        return run(*args)

    def __repr__(self):
        return f"<DirectOp({self.name})>"


_plain_call = DirectOp.__call__


def set_call_wrapper(wrapper) -> None:
    """Route every DirectOp call through `wrapper(call, op, args)` (None: the plain call again).

    profiling.py installs its NVTX range this way, so that while it is off the call path holds no
    extra test at all.
    """
    if wrapper is None:
        DirectOp.__call__ = _plain_call
        return

    def wrapped(self, *args):
        return wrapper(_plain_call, self, args)

    DirectOp.__call__ = wrapped


DIRECT_OPS: dict = {}  # "fastgan::<name>" -> DirectOp, for tests and tools


def register_autograd(op, backward, *, setup_context) -> DirectOp:
    """`op.register_autograd(backward, setup_context=setup_context)`, and the op's DirectOp.

    Call the returned DirectOp instead of `op` wherever the op is used, including inside the
    backward formulas (so that they are differentiable on either route), and eager calls take
    the direct route when it is safe.
    """
    op.register_autograd(backward, setup_context=setup_context)
    direct = DIRECT_OPS[op._qualname] = DirectOp(op, backward, setup_context)
    return direct
