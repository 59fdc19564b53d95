"""The direct eager route of the registered ops (fastgan/ops/_dispatch.py): bitwise the same
results and gradients (forward, backward, double backward) as the registered ops, for every op;
the registered op is used under torch.compile, make_fx, vmap, torch.func.grad, FakeTensorMode,
meta tensors, forward AD, TorchScript tracing and with FASTGAN_DIRECT_DISPATCH=0; the profiler
still sees the op names."""
import os
import subprocess
import sys

import pytest
import torch
from functorch.compile import make_boxed_func
from torch._dynamo.backends.common import aot_autograd

import fastgan.ops as O
from fastgan.ops import _dispatch

from .helpers import randn

CPU = pytest.mark.skipif(O.unavailable_reason("cpu", "cpu") is not None, reason="fastgan._C is not built")
pytestmark = CPU


def _odd(*dims):
    """A random odd size in [lo, hi] per (lo, hi) pair, so shapes differ from run to run of the seed."""
    return tuple(int(torch.randint(lo // 2, hi // 2 + 1, ()).item()) * 2 + 1 for lo, hi in dims)


def _filter():
    return O.setup_filter([1, 3, 3, 1])


# name -> (make inputs: tuple of leaves that require grad, fn(*leaves) -> tensor, registered op names)
def _bias_act_case(act, with_bias, layout="contiguous", dtype=torch.float32):
    def make():
        n, c, h, w = _odd((1, 5), (3, 9), (3, 7), (3, 7))
        x = randn(n, c, h, w, dtype=dtype, layout=layout, requires_grad=True)
        return (x, randn(c, dtype=dtype, requires_grad=True)) if with_bias else (x,)

    def fn(x, b=None):
        return O.bias_act(x, b, act=act, clamp=None if act != "tanh" else 0.7, impl="cpu")

    return make, fn, ("bias_act", "bias_act_grad")


def _pixel_norm_case(dim, layout="contiguous", dtype=torch.float32):
    def make():
        return (randn(*_odd((1, 5), (3, 9), (3, 7), (3, 7)), dtype=dtype, layout=layout, requires_grad=True),)

    return make, (lambda x: O.pixel_norm(x, dim=dim, impl="cpu")), ("pixel_norm", "pixel_norm_grad")


def _minibatch_std_case(layout="contiguous", dtype=torch.float32):
    def make():
        g, m = 3, int(torch.randint(1, 3, ()).item())
        _, h, w = _odd((3, 5), (3, 7), (1, 5))
        return (randn(g * m, 6, h, w, dtype=dtype, layout=layout, requires_grad=True),)

    return make, (lambda x: O.minibatch_std(x, group_size=3, num_channels=2, impl="cpu")), \
        ("minibatch_std", "minibatch_std_grad")


def _reduce_case(name, **kwargs):
    def make():
        return (randn(*_odd((3, 7), (1, 5), (3, 7), (3, 7)), requires_grad=True),)

    return make, (lambda g: getattr(O, name)(g, impl="cpu", **kwargs)), ("grad_reduce", "grad_reduce_grad")


def _lerp_case(layout="contiguous"):
    def make():
        shape = _odd((3, 7), (1, 5), (3, 7), (3, 7))
        return (randn(*shape, layout=layout, requires_grad=True), randn(*shape, layout=layout, requires_grad=True),
                torch.rand(shape[0], requires_grad=True))

    return make, (lambda r, f, a: O.lerp_samples(r, f, a, impl="cpu")), ("lerp_samples", "lerp_samples_grad")


def _upfirdn_case(which, layout="contiguous", dtype=torch.float32):
    def make():
        return (randn(*_odd((1, 5), (1, 5), (5, 11), (5, 11)), dtype=dtype, layout=layout, requires_grad=True),)

    fns = {
        "upsample2d": lambda x: O.upsample2d(x, _filter(), impl="cpu"),
        "downsample2d": lambda x: O.downsample2d(x, _filter(), impl="cpu"),
        "upfirdn2d": lambda x: O.upfirdn2d(x, _filter(), up=(2, 1), down=(1, 3), padding=(2, 1, -1, 3),
                                           flip_filter=True, gain=1.5, impl="cpu"),
    }
    return make, fns[which], ("upfirdn2d",)


CASES = {
    "bias_act-lrelu-bias": _bias_act_case("lrelu", True),
    "bias_act-tanh-clamp-nobias": _bias_act_case("tanh", False),
    "bias_act-swish-bias-cl-f64": _bias_act_case("swish", True, "channels_last", torch.float64),
    "bias_act-elu-bias-noncontig": _bias_act_case("elu", True, "noncontiguous"),
    "pixel_norm-dim1": _pixel_norm_case(1),
    "pixel_norm-dim3-cl": _pixel_norm_case(3, "channels_last"),
    "pixel_norm-dim0-bf16": _pixel_norm_case(0, dtype=torch.bfloat16),
    "minibatch_std": _minibatch_std_case(),
    "minibatch_std-cl-f64": _minibatch_std_case("channels_last", torch.float64),
    "grad_sq_norm": _reduce_case("grad_sq_norm"),
    "grad_norm_penalty": _reduce_case("grad_norm_penalty", target=0.5),
    "grad_norm_penalty-one-sided": _reduce_case("grad_norm_penalty", target=3.0, one_sided=True),
    "path_length_norm": _reduce_case("path_length_norm"),
    "lerp_samples": _lerp_case(),
    "lerp_samples-noncontig": _lerp_case("noncontiguous"),
    "upsample2d": _upfirdn_case("upsample2d"),
    "downsample2d-cl": _upfirdn_case("downsample2d", "channels_last"),
    "upfirdn2d-f64": _upfirdn_case("upfirdn2d", dtype=torch.float64),
}


class Spy:
    """Counts the calls that reach the registered ops through the DirectOps."""

    def __init__(self, monkeypatch):
        self.calls = {}
        for name, direct in _dispatch.DIRECT_OPS.items():
            monkeypatch.setattr(direct, "op", self._wrap(name.split("::")[1], direct.op))

    def _wrap(self, name, op):
        def call(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return op(*args)
        return call


@pytest.fixture
def spy(monkeypatch):
    return Spy(monkeypatch)


def _three_orders(fn, leaves, seed):
    """Forward, first derivatives for a random cotangent dy, and the second derivatives (in the
    inputs and in dy) of a random projection of the first (create_graph through the backward ops)."""
    gen = torch.Generator().manual_seed(seed)
    y = fn(*leaves)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y.dtype).requires_grad_()
    grads = torch.autograd.grad(y, leaves, dy, create_graph=True)
    proj = sum((g.double() * torch.randn(g.shape, generator=gen, dtype=torch.float64)).sum()
               for g in grads if g is not None)
    grads2 = torch.autograd.grad(proj, leaves + (dy,), allow_unused=True)
    return y, grads, grads2


def _clone(leaves):
    return tuple(t.detach().clone(memory_format=torch.preserve_format).requires_grad_(t.requires_grad)
                 for t in leaves)


def _assert_bitwise(a, b, what):
    assert (a is None) == (b is None), what
    if a is not None:
        assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), what
        assert torch.equal(a, b), f"{what}: max diff {(a.double() - b.double()).abs().max().item()}"


@pytest.mark.parametrize("case", list(CASES))
def test_direct_route_is_bitwise_the_registered_op(case, spy):
    make, fn, ops = CASES[case]
    leaves = make()
    assert any(s % 2 == 1 for s in leaves[0].shape[1:])
    with _dispatch.use_direct_dispatch(True):
        direct = _three_orders(fn, _clone(leaves), seed=7)
    assert spy.calls == {}, f"the direct route called registered ops: {spy.calls}"
    assert type(direct[0].grad_fn).__name__ == f"fastgan::{ops[0]}Backward"
    with _dispatch.use_direct_dispatch(False):
        registered = _three_orders(fn, _clone(leaves), seed=7)
    assert set(spy.calls) == set(ops)
    assert type(registered[0].grad_fn).__name__.startswith("GeneratedBackwardFor_fastgan_")
    for what, a, b in zip(("forward", "backward", "double backward"), direct, registered):
        for i, (ta, tb) in enumerate(zip(*((t,) if isinstance(t, torch.Tensor) else t for t in (a, b)))):
            _assert_bitwise(ta, tb, f"{case} {what} [{i}]")
    with torch.no_grad():  # no autograd.Function at all: the implementation itself
        _assert_bitwise(fn(*leaves), registered[0].detach(), f"{case} no_grad forward")
    with torch.inference_mode():
        _assert_bitwise(fn(*leaves), registered[0].detach(), f"{case} inference_mode forward")


def _capture():
    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return make_boxed_func(gm.forward)

    return graphs, aot_autograd(fw_compiler=record, bw_compiler=record)


def _targets(graphs):
    return {str(n.target) for gm in graphs for n in gm.graph.nodes if n.op == "call_function"}


@pytest.mark.parametrize("case", ["bias_act-lrelu-bias", "pixel_norm-dim1", "minibatch_std", "grad_norm_penalty",
                                  "lerp_samples", "upsample2d"])
def test_torch_compile_traces_the_registered_ops(case):
    make, fn, ops = CASES[case]
    leaves = make()
    graphs, backend = _capture()
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend=backend)
    out = compiled(*leaves)
    grads = torch.autograd.grad(out, leaves, torch.ones_like(out))
    targets = _targets(graphs)
    for op in ops:
        assert f"fastgan.{op}.default" in targets, (op, targets)
    eager_leaves = _clone(leaves)
    eager = fn(*eager_leaves)
    torch.testing.assert_close(out, eager)
    for g, e in zip(grads, torch.autograd.grad(eager, eager_leaves, torch.ones_like(eager))):
        torch.testing.assert_close(g, e)


def test_make_fx_records_the_registered_op():
    from torch.fx.experimental.proxy_tensor import make_fx

    x = randn(2, 5, 3, 3)
    gm = make_fx(lambda x: O.bias_act(O.pixel_norm(x, impl="cpu"), act="lrelu", impl="cpu"))(x)
    assert {"fastgan.pixel_norm.default", "fastgan.bias_act.default"} <= _targets([gm])


@pytest.mark.filterwarnings("ignore:There is a performance drop")
def test_vmap_takes_the_registered_op(spy):
    x = randn(3, 4, 5, 7)
    b = randn(4)
    y = torch.func.vmap(lambda t: O.bias_act(O.pixel_norm(t, dim=0, impl="cpu"), b, dim=0, act="lrelu",
                                             impl="cpu"))(x)
    assert spy.calls.get("pixel_norm") and spy.calls.get("bias_act")
    with torch.no_grad():
        loop = torch.stack([O.bias_act(O.pixel_norm(t, dim=0, impl="cpu"), b, dim=0, act="lrelu", impl="cpu")
                            for t in x])
    torch.testing.assert_close(y, loop, rtol=0, atol=0)


def test_functorch_grad_takes_the_registered_op(spy):
    x = randn(2, 5, 3)
    try:
        torch.func.grad(lambda t: O.pixel_norm(t, impl="cpu").sum())(x)
    except RuntimeError:
        pass  # whatever the registered op does under torch.func.grad, the direct route stays out of it
    assert spy.calls.get("pixel_norm")


def test_fake_and_meta_tensors_take_the_registered_op(spy):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(4, 6, 3, 5).contiguous(memory_format=torch.channels_last)
        y = O.minibatch_std(x, group_size=2, num_channels=3, impl="cpu")
    assert y.shape == (4, 9, 3, 5) and y.is_contiguous(memory_format=torch.channels_last)
    assert spy.calls.get("minibatch_std") == 1
    xm = torch.empty(3, 4, device="meta")
    ym = _dispatch.DIRECT_OPS["fastgan::pixel_norm"](xm, 1, 1e-8, "cpu")
    assert ym.is_meta and ym.shape == xm.shape and spy.calls.get("pixel_norm") == 1


def test_modes_forward_ad_and_jit_trace_take_the_registered_op(spy):
    from torch.utils.flop_counter import FlopCounterMode

    x = randn(2, 3, 4)
    with FlopCounterMode(display=False):
        O.pixel_norm(x, impl="cpu")
    assert spy.calls.pop("pixel_norm") == 1
    with torch.device("cpu"):  # a TorchFunctionMode
        O.pixel_norm(x, impl="cpu")
    assert spy.calls.pop("pixel_norm") == 1
    import torch.autograd.forward_ad as fwad
    with fwad.dual_level():
        try:
            O.pixel_norm(fwad.make_dual(x, torch.ones_like(x)), impl="cpu")
        except (RuntimeError, NotImplementedError):
            pass  # the registered op's own forward-AD behaviour
    assert spy.calls.pop("pixel_norm") == 1
    traced = torch.jit.trace(lambda t: O.pixel_norm(t, impl="cpu"), (x,), check_trace=False)
    assert "fastgan::pixel_norm" in str(traced.graph)
    torch.testing.assert_close(traced(x), O.pixel_norm(x, impl="cpu"), rtol=0, atol=0)


def test_subclass_and_parameter_inputs(spy):
    class Tagged(torch.Tensor):
        pass

    x = randn(2, 5, 3)
    b = torch.nn.Parameter(randn(5))
    O.bias_act(x, b, act="lrelu", impl="cpu")  # Parameter: plain for dispatch, stays direct
    assert spy.calls == {}
    y = O.bias_act(x.as_subclass(Tagged), b, act="lrelu", impl="cpu")
    assert spy.calls == {"bias_act": 1}
    torch.testing.assert_close(y.as_subclass(torch.Tensor), O.bias_act(x, b, act="lrelu", impl="cpu"), rtol=0, atol=0)


def test_profiler_sees_the_op_names(spy):
    x = randn(3, 6, 5, 5, requires_grad=True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        y = O.pixel_norm(x, impl="cpu")
        y.backward(torch.ones_like(y))
    names = {e.name for e in prof.events()}
    assert {"fastgan::pixel_norm", "fastgan::pixel_norm_grad"} <= names, sorted(names)
    assert spy.calls == {}


def test_env_var_turns_the_direct_route_off():
    code = ("import torch, fastgan.ops as O; from fastgan.ops import _dispatch; "
            "x = torch.randn(2, 3, requires_grad=True); "
            "print(_dispatch.ENABLED, type(O.pixel_norm(x, impl='cpu').grad_fn).__name__)")
    for value, enabled, node in (("0", "False", "GeneratedBackwardFor_fastgan_pixel_norm_defaultBackward"),
                                 ("1", "True", "fastgan::pixel_normBackward")):
        env = dict(os.environ, FASTGAN_DIRECT_DISPATCH=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == [enabled, node], out.stdout + out.stderr


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_kernel_call_checks_every_pointer_dtype(dtype):
    """A native kernel reads every pointer as the dtype its declaration gives (Tensor: the first Tensor's dtype;
    Acc: the accumulate dtype, float32 for 16-bit data): a mismatch is a TypeError naming the kernel and the
    argument, before any byte is read. (grad_reduce_grad once took its dtype from its float32 `dout` and so read
    and wrote 16-bit gradients as float32.) The right dtypes give the reference's gradient."""
    from fastgan.ops import grad_penalty as GP
    from fastgan.ops import reference

    acc = torch.float32
    g = randn(3, 40, dtype=dtype)
    out, r = torch.empty(3, dtype=acc), torch.empty(3, dtype=acc)
    GP._REDUCE("cpu", g, out, r, 3, 40, 0, 1.0, False, 1)
    torch.testing.assert_close(out.double(), reference.grad_sq_norm(g.double()), rtol=1e-5, atol=1e-6)
    dout, dg = torch.rand(3, dtype=acc), torch.empty_like(g)
    GP._REDUCE_GRAD("cpu", dout, None, r, g, dg, 3, 40, 0, 1.0, False, 1)
    torch.testing.assert_close(dg.double(), 2 * g.double() * dout.double()[:, None], rtol=2e-2, atol=1e-3)
    wrong = torch.float64 if dtype == torch.float32 else torch.float32
    with pytest.raises(TypeError, match=r"grad_reduce_fwd: out is torch.float64, the kernel reads it as torch.float32"):
        GP._REDUCE("cpu", g, out.double(), r, 3, 40, 0, 1.0, False, 1)
    with pytest.raises(TypeError, match=rf"grad_reduce_grad: dg is {wrong}, the kernel reads it as {dtype}"):
        GP._REDUCE_GRAD("cpu", dout, None, r, g, dg.to(wrong), 3, 40, 0, 1.0, False, 1)
    with pytest.raises(TypeError, match=r"grad_reduce_grad: dr is torch.float64"):
        GP._REDUCE_GRAD("cpu", dout, r.double(), r, g, dg, 3, 40, 0, 1.0, False, 1)
