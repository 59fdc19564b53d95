"""pixel_norm: every backend against the float64 reference; gradients to third order; opcheck;
torch.compile; bad input."""
import math

import pytest
import torch

from fastgan.ops import pixel_norm, reference

from .helpers import DTYPES, LAYOUTS, assert_close, backend_cases, backend_params, randn


def _ref64(x, dim=1, eps=1e-8):
    return reference.pixel_norm(x.double(), dim, eps)


# the reference computes in the input dtype, so it is checked at float32/float64 only
@pytest.mark.parametrize("backend,dtype", backend_cases(
    ["ref", "cpu", "triton"], [(d,) for d in DTYPES],
    keep=lambda b, c: b != "ref" or c[0] in (torch.float32, torch.float64)))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [1, 3, -1, 0])
def test_dtypes_layouts_dims(backend, dtype, layout, dim):
    shape = (2, 6, 3, 5) if backend == "triton" else (4, 6, 9, 13)  # the interpreter is slow
    x = randn(*shape, dtype=dtype, layout=layout, scale=3.0)
    y = pixel_norm(x, dim=dim, impl=backend)
    assert y.shape == x.shape and y.dtype == dtype
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, _ref64(x, dim), dtype)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("shape,dim", [
    ((1000003,), 0),        # one long row: chunked float sums
    ((3, 70001), 1),        # rows (mapping-network z)
    ((2, 3), 1),
    ((5, 1, 3), 1),         # C = 1
    ((2, 3, 4, 5, 6), 2),   # 5-D, reduction in the middle
    ((2, 2100, 3, 5), 1),   # more channels than one float chunk of the tile path
    ((3, 5, 37, 41), 1),    # inner spans several tiles
])
def test_odd_shapes(backend, shape, dim):
    if backend == "triton" and math.prod(shape) > 10**5:
        shape = (100003,) if len(shape) == 1 else (2, 2100, 1, 3) if shape[1] == 2100 else (3, 5001)
    x = randn(*shape, scale=0.5)
    assert_close(pixel_norm(x, dim=dim, impl=backend), _ref64(x, dim), torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_eps_and_tiny_inputs(backend, eps):
    x = randn(3, 8, 4, 4, scale=1e-3)  # eps matters at this scale
    assert_close(pixel_norm(x, eps=eps, impl=backend), _ref64(x, 1, eps), torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout,shape", [("contiguous", (4, 6, 5, 7)), ("channels_last", (4, 6, 5, 7)),
                                          ("noncontiguous", (4, 6, 5, 7)), ("contiguous", (9, 40))])
def test_backward_matches_reference(backend, dtype, layout, shape):
    x = randn(*shape, dtype=dtype, layout=layout, requires_grad=True)
    dy = randn(*shape, dtype=dtype)
    (gx,) = torch.autograd.grad(pixel_norm(x, impl=backend), x, dy)
    x64 = x.detach().double().requires_grad_()
    (rx,) = torch.autograd.grad(reference.pixel_norm(x64), x64, dy.double())
    assert gx.dtype == dtype
    assert_close(gx, rx, dtype, scale=4)


# the interpreter is slow: the 2-D case covers triton
@pytest.mark.parametrize("backend,shape,dim", backend_cases(
    None, [((2, 5, 3, 2), 1), ((3, 4), 1), ((2, 3, 4), 2)], keep=lambda b, c: b != "triton" or len(c[0]) == 2))
def test_gradcheck_second_order(backend, shape, dim):
    x = randn(*shape, dtype=torch.float64, requires_grad=True)
    fn = lambda x: pixel_norm(x, dim=dim, eps=1e-3, impl=backend)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_third_order_matches_reference():
    x = randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    w = randn(2, 5, 3, dtype=torch.float64)

    def third(fn):
        y = (fn(x) * w).sum()
        (g1,) = torch.autograd.grad(y, x, create_graph=True)
        (g2,) = torch.autograd.grad((g1 * w).sum(), x, create_graph=True)
        return torch.autograd.grad((g2 * g2).sum(), x)[0]

    torch.testing.assert_close(third(lambda x: pixel_norm(x, impl="cpu")), third(reference.pixel_norm))


@pytest.mark.parametrize("backend", backend_params())
def test_opcheck(backend):
    x = randn(2, 3, 4, 5)
    torch.library.opcheck(torch.ops.fastgan.pixel_norm.default, (x, 1, 1e-8, backend))
    xc = x.contiguous(memory_format=torch.channels_last)
    torch.library.opcheck(torch.ops.fastgan.pixel_norm.default, (xc, 1, 1e-8, backend))
    torch.library.opcheck(torch.ops.fastgan.pixel_norm_grad.default, (randn(2, 3, 4, 5), x, 2, 1e-8, backend))
    xs = randn(2, 3, 4, 5, layout="noncontiguous")
    torch.library.opcheck(torch.ops.fastgan.pixel_norm.default, (xs, 3, 1e-8, backend))


def test_torch_compile_fullgraph_matches_eager():
    class Mapping(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, z):
            return self.fc(pixel_norm(z, impl="cpu")).square().sum(dim=1)

    m = Mapping()
    z = torch.randn(5, 8)
    eager = m(z)
    (ge,) = torch.autograd.grad(eager.sum(), m.fc.weight)
    torch._dynamo.reset()
    cm = torch.compile(m, fullgraph=True, backend="aot_eager")
    out = cm(z)
    (gc,) = torch.autograd.grad(out.sum(), m.fc.weight)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(gc, ge)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(eps=0.0), ValueError, "eps must be > 0"),
    (dict(eps=-1e-8), ValueError, "eps must be > 0"),
    (dict(eps=float("nan")), ValueError, "eps must be finite"),
    (dict(dim=4), ValueError, "dim=4"),
    (dict(dim=1.0), TypeError, "dim must be an int"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        pixel_norm(torch.randn(2, 3, 4, 5), impl="cpu", **kwargs)


def test_bad_tensor():
    with pytest.raises(ValueError, match="at least 1 dimensions"):
        pixel_norm(torch.tensor(1.0), impl="cpu")
    with pytest.raises(TypeError, match="x must be float"):
        pixel_norm(torch.ones(2, 3, dtype=torch.int64), impl="cpu")
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        pixel_norm([1.0, 2.0], impl="cpu")


def test_empty_input():
    x = torch.randn(0, 4, 3)
    assert pixel_norm(x, impl="cpu").shape == x.shape
