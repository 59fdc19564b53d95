"""minibatch_std: every backend against the float64 reference (and the reference against a
loop over the StyleGAN2 grouping); gradients to second order; opcheck; torch.compile; bad input."""
import math

import pytest
import torch

from fastgan.ops import minibatch_std, reference

from .helpers import DTYPES, LAYOUTS, assert_close, backend_cases, backend_params, randn

# N, C, H, W, group_size, num_channels
SHAPES = [
    (8, 6, 3, 5, 4, 2),
    (3, 5, 2, 2, 4, 1),      # G = min(4, N) = 3
    (6, 4, 3, 3, 2, 4),      # one channel per statistic
    (4, 8, 1, 1, None, 1),   # the whole batch is one group; 1x1 maps
    (5, 3, 4, 4, 1, 3),      # G = 1: the deviation is 0, std = sqrt(eps)
    (12, 7, 5, 3, 3, 7),
]


def _ref64(x, G, F, eps=1e-8):
    return reference.minibatch_std(x.double(), G, F, eps)


def _loop_oracle(x, group_size, F, eps):
    """minibatch_std written as loops over the issue's definition, in float64."""
    x = x.double()
    N, C, H, W = x.shape
    G = N if group_size is None else min(group_size, N)
    M, c = N // G, C // F
    y = torch.zeros(N, C + F, H, W, dtype=torch.float64)
    y[:, :C] = x
    for m in range(M):
        members = [m + g * M for g in range(G)]  # sample n is in group n mod M
        for f in range(F):
            block = x[members, f * c:(f + 1) * c]  # [G, c, H, W]
            dev = block - block.mean(dim=0, keepdim=True)
            sd = (dev.square().mean(dim=0) + eps).sqrt()
            stat = sd.mean()
            for n in members:
                y[n, C + f] = stat
    return y


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_matches_loop_oracle(shape):
    N, C, H, W, G, F = shape
    x = randn(N, C, H, W, dtype=torch.float64)
    torch.testing.assert_close(reference.minibatch_std(x, G, F), _loop_oracle(x, G, F, 1e-8))


@pytest.mark.parametrize("backend", backend_params(["ref", "cpu", "triton"]))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_matches_loop_oracle(backend, shape):
    N, C, H, W, G, F = shape
    x = randn(N, C, H, W, scale=2.0)
    y = minibatch_std(x, G, F, impl=backend)
    assert y.shape == (N, C + F, H, W)
    assert_close(y, _loop_oracle(x, G, F, 1e-8), torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_dtypes_layouts(backend, dtype, layout):
    x = randn(8, 6, 3, 5, dtype=dtype, layout=layout)
    y = minibatch_std(x, 4, 2, impl=backend)
    assert y.dtype == dtype
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, _ref64(x, 4, 2), dtype)


@pytest.mark.parametrize("backend", backend_params())
def test_larger_shape_and_eps(backend):
    shape = (8, 16, 6, 6) if backend == "triton" else (32, 64, 8, 8)
    x = randn(*shape)
    assert_close(minibatch_std(x, impl=backend), _ref64(x, 4, 1), torch.float32)
    assert_close(minibatch_std(x, eps=0.3, impl=backend), _ref64(x, 4, 1, 0.3), torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_parts_longer_than_a_chunk(backend, layout):
    """Parts of more than 1024 contiguous elements (the CPU kernel's chunk) in both layouts."""
    x = randn(8, 2100, 1, 2, layout=layout, requires_grad=True)
    dy = randn(8, 2102, 1, 2, layout=layout)
    y = minibatch_std(x, 4, 2, impl=backend)
    assert_close(y, _ref64(x.detach(), 4, 2), torch.float32)
    (gx,) = torch.autograd.grad(y, x, dy)
    x64 = x.detach().double().requires_grad_()
    (rx,) = torch.autograd.grad(reference.minibatch_std(x64, 4, 2), x64, dy.double())
    assert_close(gx, rx, torch.float32, scale=4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16], ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("G", [2, 4, 8, 3, 16])
def test_cpu_group_size_paths(G, layout, dtype):
    """The CPU kernel unrolls the member loops for G = 2, 4, 8 and loops at run time otherwise:
    forward and backward of each path against the float64 reference, odd sizes, F = 2."""
    N, C, H, W, F = 2 * G, 6, 3, 5, 2
    x = randn(N, C, H, W, dtype=dtype, layout=layout, scale=1.5, requires_grad=True)
    dy = randn(N, C + F, H, W, dtype=dtype, layout=layout)
    y = minibatch_std(x, G, F, impl="cpu")
    assert_close(y, _ref64(x.detach(), G, F), dtype)
    assert torch.equal(y[:, :C], x.detach())  # the copy of x is exact
    (gx,) = torch.autograd.grad(y, x, dy)
    x64 = x.detach().double().requires_grad_()
    (rx,) = torch.autograd.grad(reference.minibatch_std(x64, G, F), x64, dy.double())
    assert_close(gx, rx, dtype, scale=4)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("G", [8, 3])
def test_cpu_group_size_paths_threaded(G, layout):
    """Shapes large enough for the CPU kernel to split the items over threads."""
    x = randn(4 * G, 64, 7, 9, layout=layout, requires_grad=True)
    dy = randn(4 * G, 65, 7, 9, layout=layout)
    y = minibatch_std(x, G, 1, impl="cpu")
    assert_close(y, _ref64(x.detach(), G, 1), torch.float32)
    (gx,) = torch.autograd.grad(y, x, dy)
    x64 = x.detach().double().requires_grad_()
    (rx,) = torch.autograd.grad(reference.minibatch_std(x64, G, 1), x64, dy.double())
    assert_close(gx, rx, torch.float32, scale=4)


@pytest.mark.parametrize("G", [8, 3])
def test_cpu_gradcheck_group_size_paths(G):
    x = randn(G, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    fn = lambda x: minibatch_std(x, G, 2, eps=1e-4, impl="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2], SHAPES[5]], ids=str)
def test_backward_matches_reference(backend, dtype, layout, shape):
    N, C, H, W, G, F = shape
    x = randn(N, C, H, W, dtype=dtype, layout=layout, requires_grad=True)
    dy = randn(N, C + F, H, W, dtype=dtype, layout=layout)
    (gx,) = torch.autograd.grad(minibatch_std(x, G, F, impl=backend), x, dy)
    x64 = x.detach().double().requires_grad_()
    (rx,) = torch.autograd.grad(reference.minibatch_std(x64, G, F), x64, dy.double())
    assert gx.dtype == dtype
    assert_close(gx, rx, dtype, scale=4)


# the interpreter is slow: the smaller case covers triton
@pytest.mark.parametrize("backend,shape", backend_cases(
    None, [((4, 4, 2, 3, 2, 2),), ((3, 2, 1, 1, None, 1),)],
    keep=lambda b, c: b != "triton" or math.prod(c[0][:4]) <= 10))
def test_gradcheck_second_order(backend, shape):
    N, C, H, W, G, F = shape
    x = randn(N, C, H, W, dtype=torch.float64, requires_grad=True)
    fn = lambda x: minibatch_std(x, G, F, eps=1e-4, impl=backend)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_r1_through_minibatch_std_matches_reference(layout):
    """R1 on a tiny D with minibatch_std: the parameter gradients of ||dD/dx||^2 match."""
    torch.manual_seed(3)
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    x = randn(8, 4, 3, 3, dtype=torch.float64, layout=layout, requires_grad=True)

    def r1_grad(mbstd):
        h = torch.tanh(x) * 1.5
        feat = mbstd(h)  # [8, 5, 3, 3]
        out = torch.einsum("nchw,ck->nk", feat, w).sum()
        (g,) = torch.autograd.grad(out, x, create_graph=True)
        return torch.autograd.grad(g.square().sum(), (w, x))

    ours = r1_grad(lambda h: minibatch_std(h, 4, 1, impl="cpu"))
    ref = r1_grad(lambda h: reference.minibatch_std(h, 4, 1))
    for o, r in zip(ours, ref):
        torch.testing.assert_close(o, r)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("layout", LAYOUTS)
def test_opcheck(backend, layout):
    x = randn(4, 6, 2, 3, layout=layout)
    torch.library.opcheck(torch.ops.fastgan.minibatch_std.default, (x, 2, 3, 1e-8, backend))
    dy = randn(4, 9, 2, 3, layout=layout)
    torch.library.opcheck(torch.ops.fastgan.minibatch_std_grad.default, (dy, x, 2, 3, 1e-8, backend))


def test_torch_compile_fullgraph_matches_eager():
    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(5, 3, 1)

        def forward(self, x):
            return self.conv(minibatch_std(x, 4, 1, impl="cpu")).mean(dim=(1, 2, 3))

    m = Head()
    x = torch.randn(8, 4, 3, 3)
    eager = m(x)
    (ge,) = torch.autograd.grad(eager.sum(), m.conv.weight)
    torch._dynamo.reset()
    cm = torch.compile(m, fullgraph=True, backend="aot_eager")
    out = cm(x)
    (gc,) = torch.autograd.grad(out.sum(), m.conv.weight)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(gc, ge)


@pytest.mark.parametrize("x,kwargs,exc,match", [
    ((6, 4, 2, 2), dict(group_size=4), ValueError, "does not divide the batch N=6"),
    ((8, 6, 2, 2), dict(num_channels=4), ValueError, "num_channels=4 does not divide the 6 channels"),
    ((8, 6, 2), dict(), ValueError, "x must have 4 dimensions"),
    ((8, 6, 2, 2, 1), dict(), ValueError, "x must have 4 dimensions"),
    ((8, 6, 2, 2), dict(eps=0.0), ValueError, "eps must be > 0"),
    ((8, 6, 2, 2), dict(eps=-1.0), ValueError, "eps must be > 0"),
    ((8, 6, 2, 2), dict(group_size=0), ValueError, "group_size must be >= 1"),
    ((8, 6, 2, 2), dict(num_channels=0), ValueError, "num_channels must be >= 1"),
    ((8, 6, 2, 2), dict(group_size=2.0), TypeError, "group_size must be an int"),
    ((0, 6, 2, 2), dict(), ValueError, "at least one sample"),
])
def test_bad_input(x, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        minibatch_std(torch.randn(*x), impl="cpu", **kwargs)
