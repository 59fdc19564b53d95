"""Every op's `cuda` and `triton` backends on a CUDA GPU against the float64 reference.

One table (`CASES`) drives every test: forward, backward and second order; float32, float64,
float16 and bfloat16; contiguous and channels_last; odd and large shapes; opcheck of every
`fastgan::` op that a public call reaches; torch.compile(fullgraph=True) with inductor.

The tests call only the public API (`fastgan.ops.<op>(..., impl=...)`). They are marked `cuda`
and skip, naming the reason, where no GPU or backend is at hand; with FASTGAN_REQUIRE_GPU=1
(scripts/gpu_check.sh sets it) such a skip is a failure instead (tests/conftest.py).

The reference runs in float64 on the same GPU: PyTorch's own kernels, independent of fastgan's.
cuDNN's TF32 is switched off here, so float32 convolutions are compared at float32 accuracy.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastgan import ops
from fastgan.ops import reference
from fastgan.ops import _backend as B

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# relative error ||out - ref|| / ||ref|| allowed per dtype (forward; gradients get GRAD_SLACK times more)
REL_TOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.2e-2}
GRAD_SLACK = 4.0


@dataclass(frozen=True)
class Target:
    """What a test runs: a backend on the tensors of a device. The emulated target runs the `cuda` backend's
    kernels (csrc/cuda, unchanged) on CPU tensors through fastgan._C_cuda_emu (csrc/emu)."""
    backend: str
    device: str
    emulated: bool = False


GPU_TARGETS = [pytest.param(Target("cuda", "cuda"), marks=pytest.mark.cuda, id="cuda"),
               pytest.param(Target("triton", "cuda"), marks=pytest.mark.cuda, id="triton")]
EMU_TARGET = pytest.param(Target("cuda", "cpu", emulated=True), marks=pytest.mark.cuda_emu, id="cuda-emu")
TARGETS = GPU_TARGETS + [EMU_TARGET]


def gpu_unavailable(backend: str) -> str | None:
    """Why `backend` cannot run on CUDA tensors here, or None."""
    if not torch.cuda.is_available():
        return "no CUDA GPU (torch.cuda.is_available() is False)"
    why = B.unavailable_reason(backend, "cuda")
    if why is None and backend == "triton" and B.triton_interpret():
        why = "TRITON_INTERPRET=1 is set, so Triton would run in the interpreter, not on the GPU"
    return why


def need(backend: str) -> None:
    why = gpu_unavailable(backend)
    if why:
        pytest.skip(f"{backend} on CUDA: {why}")


def _enter(t: Target, schedule: str = "forward"):
    if not t.emulated:
        need(t.backend)
        yield t
        return
    with B.cuda_emulation():
        why = B.unavailable_reason("cuda", "cpu")
        if why:
            pytest.skip(f"emulated cuda: {why}")
        B.cuda_module().set_schedule(schedule, 0)
        try:
            yield t
        finally:
            B.cuda_module().set_schedule("forward", 0)


@pytest.fixture(params=TARGETS)
def target(request):
    """Every target: cuda and triton on the GPU, and the cuda kernels on the emulator."""
    yield from _enter(request.param)


@pytest.fixture(params=GPU_TARGETS)
def gpu_target(request):
    """The GPU targets only (what the emulator cannot show: big shapes, streams, inductor's GPU code)."""
    yield from _enter(request.param)


@pytest.fixture(autouse=True)
def _strict_float32():
    """Full float32 matmuls/convolutions, so float32 results are compared at float32 accuracy."""
    if not torch.cuda.is_available():
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# ------------------------------------------------------------------ the table
@dataclass
class Case:
    """make(shape, dtype, device) -> tuple of tensors (those that get gradients require grad);
    run(*tensors, impl) -> output; ref(*tensors) -> reference output (inputs in float64)."""
    name: str
    make: Callable
    run: Callable
    ref: Callable
    shapes: dict = field(default_factory=dict)  # "small" / "odd" / "large" -> shape
    image: bool = True                          # 4-D image input: test channels_last too


def _rand(shape, dtype, device, scale=1.0, grad=True):
    t = (torch.randn(shape, dtype=torch.float64, device=device) * scale).to(dtype)
    return t.requires_grad_(grad)


def _fir(device):
    return ops.setup_filter([1, 3, 3, 1], device=device)


def _bias_act_make(shape, dtype, device):
    return _rand(shape, dtype, device, 2.0), _rand(shape[1], dtype, device)


def _upfirdn_run(up, down):
    def run(x, impl=None):
        f = _fir(x.device)
        if impl is None:
            return reference.upfirdn2d(x, f, (up, up), (down, down), (2, 1, 2, 1) if up > 1 else (1, 1, 1, 1))
        return ops.upfirdn2d(x, f, up=up, down=down, padding=(2, 1, 2, 1) if up > 1 else (1, 1, 1, 1), impl=impl)
    return run


def _modconv_make(up):
    def make(shape, dtype, device):
        n, c, h, w = shape
        o = c + 3
        return (_rand(shape, dtype, device), _rand((o, c, 3, 3), dtype, device),
                (_rand((n, c), dtype, device, grad=False) * 0.5 + 1).requires_grad_(),
                _rand((n, 1, h * up, w * up), dtype, device, 0.1), _rand(o, dtype, device, 0.1))
    return make


def _modconv_run(up, fused):
    kw = dict(up=up, padding=1, demodulate=True, flip_weight=up == 1, fused_modconv=fused, act="lrelu",
              clamp=256.0)

    def run(x, w, s, nz, b, impl=None):
        f = _fir(x.device) if up > 1 else None
        if impl is None:
            return reference.modulated_conv2d(x, w, s, nz, resample_filter=f, bias=b, **kw)
        return ops.modulated_conv2d(x, w, s, nz, resample_filter=f, bias=b, impl=impl, **kw)
    return run


def _lerp_make(shape, dtype, device):
    return _rand(shape, dtype, device), _rand(shape, dtype, device), torch.rand(
        shape[0], dtype=torch.float64, device=device).to(dtype).requires_grad_()


def _pl_make(shape, dtype, device):
    return (_rand(shape, dtype, device, 0.3),)


IMG = {"small": (4, 6, 9, 13), "odd": (3, 5, 17, 7), "large": (32, 256, 64, 64)}
CASES = [
    Case("bias_act", _bias_act_make,
         lambda x, b, impl=None: (reference.bias_act(x, b, act="lrelu", alpha=0.2, gain=math.sqrt(2), clamp=1.5)
                                  if impl is None else ops.bias_act(x, b, act="lrelu", clamp=1.5, impl=impl)),
         None, IMG),
    Case("bias_act_swish", _bias_act_make,
         lambda x, b, impl=None: (reference.bias_act(x, b, act="swish", gain=math.sqrt(2))
                                  if impl is None else ops.bias_act(x, b, act="swish", impl=impl)),
         None, IMG),
    Case("upsample2d", lambda s, d, dev: (_rand(s, d, dev),), _upfirdn_run(2, 1), None, IMG),
    Case("downsample2d", lambda s, d, dev: (_rand(s, d, dev),), _upfirdn_run(1, 2), None, IMG),
    Case("filter2d", lambda s, d, dev: (_rand(s, d, dev),), _upfirdn_run(1, 1), None, IMG),
    Case("modulated_conv2d", _modconv_make(1), _modconv_run(1, False), None,
         {"small": (2, 5, 8, 8), "odd": (3, 7, 11, 5), "large": (32, 512, 32, 32)}),
    Case("modulated_conv2d_up2", _modconv_make(2), _modconv_run(2, False), None,
         {"small": (2, 5, 8, 8), "odd": (3, 7, 9, 5), "large": (32, 256, 64, 64)}),
    Case("modulated_conv2d_fused", _modconv_make(1), _modconv_run(1, True), None,
         {"small": (2, 5, 8, 8), "odd": (3, 7, 11, 5), "large": (32, 512, 16, 16)}),
    Case("pixel_norm", lambda s, d, dev: (_rand(s, d, dev),),
         lambda x, impl=None: reference.pixel_norm(x) if impl is None else ops.pixel_norm(x, impl=impl), None, IMG),
    Case("minibatch_std", lambda s, d, dev: (_rand(s, d, dev),),
         lambda x, impl=None: (reference.minibatch_std(x, 4, 2) if impl is None
                               else ops.minibatch_std(x, group_size=4, num_channels=2, impl=impl)),
         None, {"small": (8, 6, 5, 7), "odd": (12, 10, 3, 9), "large": (32, 512, 8, 8)}),
    Case("grad_sq_norm", lambda s, d, dev: (_rand(s, d, dev),),
         lambda g, impl=None: reference.grad_sq_norm(g) if impl is None else ops.grad_sq_norm(g, impl=impl),
         None, IMG),
    Case("grad_norm_penalty", lambda s, d, dev: (_rand(s, d, dev, 0.05),),
         lambda g, impl=None: (reference.grad_norm_penalty(g, 1.0, True) if impl is None
                               else ops.grad_norm_penalty(g, 1.0, True, impl=impl)),
         None, IMG),
    Case("path_length_norm", _pl_make,
         lambda g, impl=None: reference.path_length_norm(g) if impl is None else ops.path_length_norm(g, impl=impl),
         None, {"small": (4, 3, 16), "odd": (5, 7, 33), "large": (32, 14, 512)}, image=False),
    Case("lerp_samples", _lerp_make,
         lambda r, f, a, impl=None: (reference.lerp_samples(r, f, a) if impl is None
                                     else ops.lerp_samples(r, f, a, impl=impl)),
         None, IMG),
]
for _c in CASES:
    _c.ref = _c.run  # run(..., impl=None) is the float64 reference composition
CASE_IDS = [c.name for c in CASES]
# ops whose output is channels_last when the input is (the others choose their output layout)
KEEPS_LAYOUT = ("bias_act", "bias_act_swish", "upsample2d", "downsample2d", "filter2d", "pixel_norm")


# ------------------------------------------------------------------ helpers
def _layout(ts, layout):
    out = []
    for t in ts:
        if layout == "channels_last" and t.dim() == 4:
            t = t.detach().contiguous(memory_format=torch.channels_last).requires_grad_(t.requires_grad)
        out.append(t)
    return tuple(out)


def _to64(ts):
    return tuple(t.detach().double().requires_grad_(t.requires_grad) for t in ts)


def _rel_err(a, ref):
    a, ref = a.double(), ref.double()
    assert torch.isfinite(a).all(), "non-finite values in the result"
    den = ref.norm().item()
    return (a - ref).norm().item() / (den if den > 0 else 1.0)


def _check(a, ref, dtype, what, slack=1.0):
    assert a.shape == ref.shape, f"{what}: shape {tuple(a.shape)} != reference {tuple(ref.shape)}"
    err = _rel_err(a, ref)
    assert err <= REL_TOL[dtype] * slack, f"{what}: relative error {err:.3g} > {REL_TOL[dtype] * slack:.3g}"


def _grads(out, inputs, seed_grad, create_graph=False):
    leaves = [t for t in inputs if t.requires_grad]
    return torch.autograd.grad(out, leaves, seed_grad, create_graph=create_graph, allow_unused=True)


def _case(name):
    return CASES[CASE_IDS.index(name)]


def _compare(case, inputs, y, dtype, slack=1.0):
    """y = case.run(*inputs) and its input gradients against the float64 reference. In 16-bit dtypes the
    allowed error is also at least 3x that of the eager reference composition run in the same dtype: rounding
    of intermediates (e.g. a convolution's output) is inherent to the dtype, not to the kernel."""
    ins64 = _to64(inputs)
    r = case.ref(*ins64)
    dy = torch.randn_like(r)
    want = _grads(r, ins64, dy)
    slacks = [slack] + [slack * GRAD_SLACK] * len(want)
    if dtype in (torch.float16, torch.bfloat16):
        lo = tuple(t.detach().clone().requires_grad_(t.requires_grad) for t in inputs)
        r_lo = case.ref(*lo)
        errs = [_rel_err(r_lo, r)] + [_rel_err(g, w) if g is not None else 0.0
                                      for g, w in zip(_grads(r_lo, lo, dy.to(dtype)), want)]
        slacks = [max(sl, 3 * e / REL_TOL[dtype]) for sl, e in zip(slacks, errs)]
    _check(y, r, dtype, f"{case.name} forward", slacks[0])
    got = _grads(y, inputs, dy.to(y.dtype))
    for i, (g, w) in enumerate(zip(got, want)):
        assert (g is None) == (w is None), f"{case.name}: gradient {i} present in one result only"
        if g is not None:
            _check(g, w, dtype, f"{case.name} gradient {i}", slacks[1 + i])


case_param = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)


# ------------------------------------------------------------------ forward and backward
LAYOUT_PARAMS = [pytest.param(c, lay, id=f"{c.name}-{lay}") for c in CASES
                 for lay in (("contiguous", "channels_last") if c.image else ("contiguous",))]


@pytest.mark.parametrize("case,layout", LAYOUT_PARAMS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("size", ["small", "odd"])
def test_forward_backward(target, case, layout, dtype, size):
    inputs = _layout(case.make(case.shapes[size], dtype, target.device), layout)
    y = case.run(*inputs, impl=target.backend)
    assert y.device.type == target.device
    if layout == "channels_last" and case.name in KEEPS_LAYOUT:
        assert y.is_contiguous(memory_format=torch.channels_last), "channels_last input lost its layout"
    _compare(case, inputs, y, dtype)


@case_param
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_second_order(target, case, dtype):
    """Double backward, as R1 and path length need: with g = d(y . dy)/dinputs (create_graph), the gradient of
    ||g||^2 with respect to the inputs and to dy, against the reference's. Each is compared relative to the
    largest of them, since some are zero up to rounding (g of path_length_norm has a constant norm)."""
    inputs = case.make(case.shapes["small"], dtype, target.device)
    ins64 = _to64(inputs)
    y, r = case.run(*inputs, impl=target.backend), case.ref(*ins64)
    dy64 = torch.randn_like(r)

    def second(out, ins, seed):
        seed = seed.detach().clone().requires_grad_()
        leaves = [t for t in ins if t.requires_grad] + [seed]
        g = [t for t in _grads(out, ins, seed, create_graph=True) if t is not None]
        return torch.autograd.grad(sum(t.square().sum() for t in g), leaves, allow_unused=True)

    got, want = second(y, inputs, dy64.to(y.dtype)), second(r, ins64, dy64)
    scale = max(float(w.norm()) for w in want if w is not None)
    assert scale > 0, f"{case.name}: the reference's second-order gradients are all zero"
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None or g is None:
            assert g is None or float(g.abs().max()) == 0.0, f"{case.name} second-order gradient {i}"
            continue
        assert torch.isfinite(g).all(), f"{case.name} second-order gradient {i} is not finite"
        err = float((g.double() - w).norm()) / scale
        tol = REL_TOL[dtype] * 20 * GRAD_SLACK
        assert err <= tol, f"{case.name} second-order gradient {i}: error {err:.3g} (of the largest) > {tol:.3g}"


@pytest.mark.parametrize("name", ["bias_act", "upsample2d", "pixel_norm", "minibatch_std", "grad_sq_norm"])
def test_gradgradcheck_float64(target, name):
    case = _case(name)
    shape = {4: (4, 2, 3, 5)}.get(len(case.shapes["small"]), case.shapes["small"])
    inputs = case.make(shape, torch.float64, target.device)
    fn = lambda *a: case.run(*a, impl=target.backend)  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


@case_param
def test_large_shapes(gpu_target, case):
    """StyleGAN2-scale tensors (batch 32, 256-512 channels): forward and gradients in float32 and bfloat16."""
    for dtype in (torch.float32, torch.bfloat16):
        inputs = case.make(case.shapes["large"], dtype, "cuda")
        _compare(case, inputs, case.run(*inputs, impl=gpu_target.backend), dtype, slack=2.0)
        del inputs
    torch.cuda.empty_cache()


def test_bias_act_past_2_pow_31_elements(gpu_target):
    """64-bit indexing: an input of more than 2^31 elements (4.3 GB in bfloat16)."""
    backend = gpu_target.backend
    n = 2**31 + 3 * 2**20 + 7
    if torch.cuda.get_device_properties(0).total_memory < 6 * n * 2:
        pytest.skip("needs ~26 GB of GPU memory")
    c = 7
    x = torch.randn(n // c, c, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(c, dtype=torch.bfloat16, device="cuda")
    y = ops.bias_act(x, b, act="lrelu", impl=backend)
    for sl in (slice(0, 2**18), slice(2**31 // c - 2**17, 2**31 // c + 2**17), slice(-2**18, None)):
        r = reference.bias_act(x[sl].double(), b.double(), act="lrelu", alpha=0.2, gain=math.sqrt(2))
        _check(y[sl], r, torch.bfloat16, f"bias_act rows {sl}")
    del x, y
    torch.cuda.empty_cache()


# ------------------------------------------------------------------ opcheck and torch.compile
class _RecordFastganOps(TorchDispatchMode):
    """Records every fastgan:: op (with its arguments) that runs below autograd."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace == "fastgan":
            self.calls.append((func, args, kwargs))
        return func(*args, **kwargs)


def _detached(v):
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (list, tuple)):
        return type(v)(_detached(u) for u in v)
    return v


@case_param
def test_opcheck_every_reached_op(target, case):
    inputs = case.make(case.shapes["small"], torch.float32, target.device)
    rec = _RecordFastganOps()
    with rec:
        y = case.run(*inputs, impl=target.backend)
        _grads(y, inputs, torch.randn_like(y))
    assert rec.calls, f"{case.name} on {target} reached no fastgan:: op"
    seen = set()
    for func, args, kwargs in rec.calls:
        key = (str(func), tuple(a.shape if isinstance(a, torch.Tensor) else a for a in args if not isinstance(a, list)))
        if key in seen:
            continue
        seen.add(key)
        torch.library.opcheck(func, _detached(args), _detached(kwargs))


COMPILE_CASES = [c for c in CASES if c.name in ("bias_act", "upsample2d", "modulated_conv2d_up2", "pixel_norm",
                                                "minibatch_std", "grad_sq_norm", "path_length_norm", "lerp_samples")]


@pytest.mark.parametrize("case", COMPILE_CASES, ids=[c.name for c in COMPILE_CASES])
def test_compile_inductor_fullgraph(gpu_target, case):
    """torch.compile(fullgraph=True, backend='inductor') through the op, forward and gradients, equals eager."""
    backend = gpu_target.backend
    import torch._dynamo

    torch._dynamo.reset()
    inputs = case.make(case.shapes["small"], torch.float32, "cuda")
    dy = torch.randn_like(case.run(*inputs, impl=backend))
    fwd = lambda *ins: case.run(*ins, impl=backend)  # noqa: E731
    cfwd = torch.compile(fwd, fullgraph=True, backend="inductor")

    def step(f):
        out = f(*inputs)
        return (out,) + tuple(_grads(out, inputs, dy))

    eager, compiled = step(fwd), step(cfwd)
    for i, (a, b) in enumerate(zip(compiled, eager)):
        if b is not None:
            assert _rel_err(a, b) <= 1e-5, f"{case.name}: compiled result {i} differs from eager"


# ------------------------------------------------------------------ dispatch details
def test_runs_on_a_side_stream(gpu_target):
    """Kernels run on PyTorch's current stream: on a side stream that is still busy (spinning) when the input
    is overwritten, a kernel launched anywhere else would read the stale input."""
    backend = gpu_target.backend
    x_old, x_new = (_rand((8, 64, 32, 32), torch.float32, "cuda", grad=False) for _ in range(2))
    b = _rand(64, torch.float32, "cuda", grad=False)
    x = x_old.clone()
    torch.cuda.synchronize()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        torch.cuda._sleep(100_000_000)  # ~50 ms of spinning on s before the copy
        x.copy_(x_new)
        y = ops.bias_act(x, b, act="lrelu", impl=backend)
    torch.cuda.synchronize()
    r = reference.bias_act(x_new.double(), b.double(), act="lrelu", alpha=0.2, gain=math.sqrt(2))
    _check(y, r, torch.float32, "bias_act on a busy side stream")


@pytest.mark.cuda
def test_auto_resolves_to_cuda_on_gpu():
    need("cuda")
    x = _rand((2, 3, 4, 5), torch.float32, "cuda", grad=False)
    assert B.resolve("bias_act", None, x.device) == "cuda"


@pytest.mark.cuda
def test_require_gpu_flag_is_honoured():
    """Under FASTGAN_REQUIRE_GPU=1 a GPU must be visible (conftest turns skips into failures)."""
    if os.environ.get("FASTGAN_REQUIRE_GPU") != "1":
        pytest.skip("FASTGAN_REQUIRE_GPU is not 1")
    assert torch.cuda.is_available(), "FASTGAN_REQUIRE_GPU=1 but torch sees no CUDA GPU"
    assert B.cuda_module() is not None, f"FASTGAN_REQUIRE_GPU=1 but fastgan._C_cuda is not built: {B._cuda_state()[1]}"
