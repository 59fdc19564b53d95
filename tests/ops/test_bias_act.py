"""bias_act: every backend against the float64 reference; gradients to second order; opcheck;
torch.compile; bad input."""
import math

import pytest
import torch

from fastgan.ops import bias_act, reference
from fastgan.ops import _backend as B

from .helpers import DTYPES, LAYOUTS, assert_close, backend_params, randn

ACTS = list(reference.ACTIVATIONS)


def _ref64(x, b, **kw):
    return reference.bias_act(x.double(), None if b is None else b.double(), **kw)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("clamp", [None, 0.7])
def test_forward_matches_reference(backend, act, with_bias, clamp):
    x = randn(3, 7, 5, 11, scale=2.0)
    b = randn(7) if with_bias else None
    y = bias_act(x, b, act=act, clamp=clamp, impl=backend)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert_close(y, _ref64(x, b, act=act, clamp=clamp), torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [1, 3, -1, 0])
def test_dtypes_layouts_dims(backend, dtype, layout, dim):
    x = randn(4, 6, 9, 13, dtype=dtype, layout=layout)
    b = randn(x.shape[dim], dtype=dtype)
    y = bias_act(x, b, dim=dim, act="lrelu", clamp=1.5, impl=backend)
    assert y.dtype == dtype
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, _ref64(x, b, dim=dim, act="lrelu", clamp=1.5), dtype, scale=2)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("shape,dim", [((1000003,), 0), ((2, 3), 1), ((5, 1, 3), 1), ((2, 3, 4, 5, 6), 2)])
def test_odd_shapes(backend, shape, dim):
    if backend == "triton" and math.prod(shape) > 10**5:
        shape = (100003,)
    x = randn(*shape)
    b = randn(shape[dim])
    y = bias_act(x, b, dim=dim, act="swish", impl=backend)
    assert_close(y, _ref64(x, b, dim=dim, act="swish"), torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("act", ACTS)
def test_backward_matches_reference(backend, act, layout):
    x = randn(4, 6, 5, 7, layout=layout, requires_grad=True)
    b = randn(6, requires_grad=True)
    dy = randn(4, 6, 5, 7)
    y = bias_act(x, b, act=act, clamp=1.2, impl=backend)
    gx, gb = torch.autograd.grad(y, (x, b), dy)
    x64, b64 = x.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    r = reference.bias_act(x64, b64, act=act, clamp=1.2)
    rx, rb = torch.autograd.grad(r, (x64, b64), dy.double())
    assert_close(gx, rx, torch.float32)
    assert_close(gb, rb, torch.float32, scale=10)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_second_order(backend, act):
    shape = (2, 3, 2, 3) if backend == "triton" else (2, 5, 3, 4)
    x = randn(*shape, dtype=torch.float64, requires_grad=True)
    b = randn(shape[1], dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: bias_act(x, b, act=act, clamp=1.3, impl=backend)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    fn2 = lambda x, b: bias_act(x, b, act=act, impl=backend)  # noqa: E731
    assert torch.autograd.gradgradcheck(fn2, (x, b))


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
@pytest.mark.parametrize("act", ["tanh", "swish", "sigmoid", "softplus", "elu"])
def test_third_order_matches_reference(backend, act):
    x = randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    b = randn(3, dtype=torch.float64, requires_grad=True)

    def third(fn):
        y = fn(x, b).sum()
        (g1,) = torch.autograd.grad(y, x, create_graph=True)
        (g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
        return torch.autograd.grad(g2.sum(), (x, b))

    ours = third(lambda x, b: bias_act(x, b, act=act, impl=backend))
    ref = third(lambda x, b: reference.bias_act(x, b, act=act))
    for o, r in zip(ours, ref):
        torch.testing.assert_close(o, r)


def test_r1_style_penalty_through_bias_act():
    """A gradient penalty (R1-like) differentiates through the backward op: parameter grads match."""
    torch.manual_seed(0)
    w = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def penalty(fn):
        out = fn(x @ w.t(), b).sum()
        (g,) = torch.autograd.grad(out, x, create_graph=True)
        return torch.autograd.grad(g.square().sum(), (w, b))

    ours = penalty(lambda h, b: bias_act(h, b, act="lrelu", impl="cpu"))
    ref = penalty(lambda h, b: reference.bias_act(h, b, act="lrelu"))
    for o, r in zip(ours, ref):
        torch.testing.assert_close(o, r)


@pytest.mark.parametrize("backend", backend_params())
def test_opcheck(backend):
    x = randn(2, 3, 4, 5)
    b = randn(3)
    torch.library.opcheck(torch.ops.fastgan.bias_act.default, (x, b, 1, "lrelu", 0.2, math.sqrt(2), 1.0, backend))
    torch.library.opcheck(torch.ops.fastgan.bias_act.default, (x, None, 1, "tanh", 0.0, 1.0, -1.0, backend))
    dy = randn(2, 3, 4, 5)
    torch.library.opcheck(torch.ops.fastgan.bias_act_grad.default,
                          (dy, x, b, 1, "swish", 0.0, 1.0, -1.0, 1, backend))


def test_torch_compile_fullgraph_matches_eager():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(7, 9)
            self.b = torch.nn.Parameter(torch.randn(9))

        def forward(self, x):
            return bias_act(self.lin(x), self.b, act="lrelu", clamp=2.0, impl="cpu").sum(dim=1)

    m = Block()
    x = torch.randn(5, 7)
    eager = m(x)
    (ge,) = torch.autograd.grad(eager.sum(), m.b)
    torch._dynamo.reset()
    cm = torch.compile(m, fullgraph=True, backend="aot_eager")
    out = cm(x)
    (gc,) = torch.autograd.grad(out.sum(), m.b)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(gc, ge)


def test_backend_selection_and_errors(monkeypatch):
    x = randn(2, 3, 4)
    from fastgan.ops import use_backend, BackendUnavailableError

    with use_backend("ref"):
        assert torch.equal(bias_act(x, act="relu"), reference.bias_act(x, act="relu"))
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        bias_act(x, act="relu", impl="cuda")
    monkeypatch.setenv("FASTGAN_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="FASTGAN_BACKEND"):
        bias_act(x, act="relu")
    monkeypatch.setenv("FASTGAN_BACKEND", "cpu")
    y = bias_act(x, act="relu")
    torch.testing.assert_close(y, reference.bias_act(x, act="relu"))
    with pytest.raises(ValueError, match="impl"):
        bias_act(x, impl="fastest")


def test_auto_falls_back_to_ref_with_one_warning(monkeypatch):
    monkeypatch.setitem(B._native_cache, "cpu", (None, ImportError("simulated: not built")))
    B._warned.clear()
    x = randn(2, 3, 4)
    with pytest.warns(RuntimeWarning, match="simulated: not built"):
        y = bias_act(x, act="relu")
    torch.testing.assert_close(y, reference.bias_act(x, act="relu"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bias_act(x, act="relu")  # second call: no warning
    with pytest.raises(B.BackendUnavailableError, match="not built"):
        bias_act(x, act="relu", impl="cpu")


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(b=torch.randn(4)), ValueError, "b has 4 entries"),
    (dict(dim=4), ValueError, "dim=4"),
    (dict(dim=-5), ValueError, "dim=-5"),
    (dict(act="gelu2"), ValueError, "act must be one of"),
    (dict(clamp=-1.0), ValueError, "clamp"),
    (dict(b=torch.randn(3, dtype=torch.float64)), TypeError, "dtype"),
    (dict(b=torch.randn(3, 1)), ValueError, "b must have 1 dimensions"),
    (dict(gain=float("nan")), ValueError, "gain"),
])
def test_bad_input(kwargs, exc, match):
    x = torch.randn(2, 3, 4, 5)
    with pytest.raises(exc, match=match):
        bias_act(x, impl="cpu", **kwargs)


def test_integer_dtype_rejected():
    with pytest.raises(TypeError, match="x must be float"):
        bias_act(torch.ones(2, 3, dtype=torch.int32), impl="cpu")


def test_device_mismatch_rejected():
    x = torch.randn(2, 3, 4, 5)
    b = torch.randn(3, device="meta")
    with pytest.raises(ValueError, match="b is on meta"):
        bias_act(x, b, impl="cpu")
