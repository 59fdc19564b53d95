"""upfirdn2d: every backend against the float64 reference (pad + depthwise conv); the StyleGAN2
helpers; gradients of any order; opcheck; torch.compile; bad input."""
import random

import pytest
import torch

from fastgan.ops import reference
from fastgan.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

from .helpers import DTYPES, LAYOUTS, assert_close, backend_params, randn

F4 = [1.0, 3.0, 3.0, 1.0]


def _ref64(x, f, **kw):
    return reference.upfirdn2d(x.double(), None if f is None else f.double(), **kw)


# (up, down, filter, padding): the StyleGAN2 cases first, then odd ones (crop, 3x, asymmetric)
CONFIGS = [
    (2, 1, "f4x4", [2, 1, 2, 1]),           # upsample2d
    (1, 2, "f4x4", [1, 1, 1, 1]),           # downsample2d
    (1, 1, "f4x4", [2, 1, 2, 1]),           # blur
    (2, 1, "f4", [2, 1, 2, 1]),             # separable
    (1, 2, "f4", [1, 1, 1, 1]),
    ((2, 1), (1, 2), "f3x5", [1, -1, 2, 0]),
    (3, 2, "f5", [-2, 3, 1, -1]),           # negative padding crops
    (1, 3, "f2x3", [0, 2, 1, 1]),
    (2, 2, "f4", 3),
    (1, 1, None, [-1, 2, 1, -2]),           # pure pad/crop
    (2, 1, "f1", 0),
]


def _filter(name, dtype=torch.float32):
    g = torch.Generator().manual_seed(7)
    if name is None:
        return None
    if name == "f4x4":
        return setup_filter(F4).to(dtype)
    if name == "f4":
        return setup_filter(F4, separable=True).to(dtype)
    dims = [int(v) for v in name[1:].split("x")]
    return (torch.rand(*dims, generator=g, dtype=torch.float64) + 0.1).to(dtype)


@pytest.mark.parametrize("backend", backend_params(["ref", "cpu", "triton"]))
@pytest.mark.parametrize("up,down,fname,padding", CONFIGS)
def test_forward_matches_reference(backend, up, down, fname, padding):
    shape = (2, 3, 5, 7) if backend == "triton" else (3, 5, 9, 11)
    x = randn(*shape)
    f = _filter(fname)
    for flip, gain in [(False, 1.0), (True, 2.5)]:
        y = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain, impl=backend)
        r = _ref64(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain)
        assert y.shape == r.shape and y.dtype == x.dtype
        assert_close(y, r, torch.float32, scale=3)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", ["up", "down"])
def test_dtypes_layouts(backend, dtype, layout, op):
    c = 3 if backend == "triton" else 6
    x = randn(2, c, 7, 6, dtype=dtype, layout=layout)
    f = setup_filter(F4)
    fn = upsample2d if op == "up" else downsample2d
    y = fn(x, f, impl=backend)
    assert y.dtype == dtype
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=torch.channels_last)
    r = fn(x.double(), f.double(), impl="ref")
    assert_close(y, r, dtype, scale=4)


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
def test_random_configs(backend):
    """A sweep over up/down/padding/filter shapes/layouts, including channels_last with C > 1."""
    rng = random.Random(3)
    tested = 0
    for _ in range(150):
        up = (rng.randint(1, 3), rng.randint(1, 3))
        down = (rng.randint(1, 3), rng.randint(1, 3))
        f = randn(rng.randint(1, 6)) if rng.random() < 0.5 else randn(rng.randint(1, 6), rng.randint(1, 6))
        pad = [rng.randint(-3, 4) for _ in range(4)]
        h, w, c = rng.randint(1, 9), rng.randint(1, 9), rng.choice([1, 4])
        x = randn(2, c, h, w, dtype=torch.float64, layout=rng.choice(LAYOUTS))
        if h * up[1] + pad[2] + pad[3] < f.shape[0] or w * up[0] + pad[0] + pad[1] < f.shape[-1]:
            continue  # empty output
        tested += 1
        y = upfirdn2d(x, f.double(), up, down, pad, impl=backend)
        assert_close(y, _ref64(x, f, up=up, down=down, padding=pad), torch.float64)
    assert tested > 60


def test_large_and_rank1_filters():
    """A 2-D rank-1 filter takes the separable path: still matches; large filters and images too."""
    x = randn(1, 2, 70, 90)
    for f in [torch.outer(randn(6), randn(5)), randn(9, 7), randn(70)]:
        y = upfirdn2d(x, f, up=2, down=3, padding=[3, 2, 4, 1], impl="cpu")
        assert_close(y, _ref64(x, f, up=2, down=3, padding=[3, 2, 4, 1]), torch.float32, scale=10)


def test_helpers_follow_stylegan2_conventions():
    f = setup_filter(F4)
    assert f.shape == (4, 4) and torch.allclose(f.sum(), torch.tensor(1.0))
    assert setup_filter(F4, separable=True).shape == (4,)
    assert setup_filter(list(range(1, 9))).dim() == 1  # >= 8 taps: separable by default
    assert torch.allclose(setup_filter([1, 2], normalize=False, gain=4).sum(), torch.tensor(36.0))
    x = randn(2, 3, 8, 10, dtype=torch.float64)
    assert upsample2d(x, f.double(), impl="cpu").shape == (2, 3, 16, 20)
    assert downsample2d(x, f.double(), impl="cpu").shape == (2, 3, 4, 5)
    assert filter2d(x, f.double(), impl="cpu").shape == x.shape
    # a constant image keeps its magnitude away from the borders
    ones = torch.ones(1, 1, 12, 12, dtype=torch.float64)
    for fn in (upsample2d, downsample2d, filter2d):
        y = fn(ones, f.double(), impl="cpu")
        torch.testing.assert_close(y[..., 3:-3, 3:-3], torch.ones_like(y[..., 3:-3, 3:-3]))
    # the explicit padding and gain of upsample2d
    r = _ref64(x, f, up=2, padding=[2, 1, 2, 1], gain=4)
    torch.testing.assert_close(upsample2d(x, f.double(), impl="cpu"), r)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("up,down,fname,padding", [CONFIGS[0], CONFIGS[1], CONFIGS[5], CONFIGS[6]])
def test_backward_matches_reference(backend, layout, up, down, fname, padding):
    x = randn(2, 3, 6, 5, layout=layout, requires_grad=True)
    f = _filter(fname)
    y = upfirdn2d(x, f, up=up, down=down, padding=padding, gain=1.5, impl=backend)
    dy = randn(*y.shape)
    (gx,) = torch.autograd.grad(y, x, dy)
    x64 = x.detach().double().requires_grad_()
    r = reference.upfirdn2d(x64, f.double(), up, down, padding, gain=1.5)
    (rx,) = torch.autograd.grad(r, x64, dy.double())
    assert_close(gx, rx, torch.float32, scale=3)


@pytest.mark.parametrize("up,down,fname,padding", [CONFIGS[0], CONFIGS[1], CONFIGS[6]])
def test_gradcheck_any_order(up, down, fname, padding):
    x = randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    f = _filter(fname, torch.float64)
    fn = lambda x: upfirdn2d(x, f, up=up, down=down, padding=padding, gain=2.0, impl="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("backend", backend_params(["triton"]))
def test_gradcheck_triton(backend):
    """The backward is the same op (checked to any order on cpu): first order suffices here."""
    x = randn(1, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    f = _filter("f2x3", torch.float64)
    fn = lambda x: upfirdn2d(x, f, up=2, down=(1, 2), padding=[1, 0, -1, 2], gain=2.0, impl=backend)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))


def test_third_order_through_penalty():
    """A penalty on a gradient through upfirdn2d + a nonlinearity: parameter grads match the reference."""
    x = randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    a = randn(2, 2, 10, 10, dtype=torch.float64, requires_grad=True)
    f = setup_filter(F4).double()

    def penalty(impl):
        y = (upsample2d(x, f, impl=impl) * a).tanh().sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        (g2,) = torch.autograd.grad(g.square().sum(), x, create_graph=True)
        return torch.autograd.grad(g2.square().sum(), a)[0]

    torch.testing.assert_close(penalty("cpu"), penalty("ref"))


@pytest.mark.parametrize("backend", backend_params())
def test_opcheck(backend):
    x = randn(2, 3, 5, 6)
    f = setup_filter(F4)
    op = torch.ops.fastgan.upfirdn2d.default
    torch.library.opcheck(op, (x, f, [2, 2], [1, 1], [2, 1, 2, 1], False, 4.0, backend))
    torch.library.opcheck(op, (x.contiguous(memory_format=torch.channels_last), randn(3), [1, 1], [2, 2],
                               [1, 1, 1, 1], True, 1.0, backend))


def test_torch_compile_fullgraph():
    f = setup_filter(F4)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return downsample2d(self.conv(upsample2d(x, f, impl="cpu")), f, impl="cpu")

    m = Block()
    x = randn(2, 3, 8, 8, requires_grad=True)
    eager = m(x)
    ge = torch.autograd.grad(eager.square().sum(), (x, m.conv.weight))
    torch._dynamo.reset()
    cm = torch.compile(m, fullgraph=True, backend="aot_eager")
    out = cm(x)
    gc = torch.autograd.grad(out.square().sum(), (x, m.conv.weight))
    torch.testing.assert_close(out, eager)
    for a, b in zip(gc, ge):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(f=torch.ones(2, 2, 2)), ValueError, "f must be a 1-D or 2-D"),
    (dict(f=torch.ones(0)), ValueError, "f must not be empty"),
    (dict(up=0), ValueError, "up must be >= 1"),
    (dict(down=(1, 0)), ValueError, "down must be >= 1"),
    (dict(up=(1, 2, 3)), ValueError, "up must be an int or a pair"),
    (dict(padding=[1, 2, 3]), ValueError, "padding must have 1, 2 or 4 entries"),
    (dict(padding=1.5), ValueError, "padding must be an int"),
    (dict(padding=-9), ValueError, "empty output"),
    (dict(f=torch.ones(3, dtype=torch.int32)), TypeError, "f must be float"),
    (dict(f=torch.ones(3, device="meta")), ValueError, "f is on meta"),
    (dict(gain=float("inf")), ValueError, "gain"),
    (dict(f=torch.ones(3, requires_grad=True)), ValueError, "f requires grad"),
])
def test_bad_input(kwargs, exc, match):
    x = torch.randn(2, 3, 6, 6)
    kwargs.setdefault("f", torch.ones(3))
    with pytest.raises(exc, match=match):
        upfirdn2d(x, impl="cpu", **kwargs)


def test_bad_x_rank():
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        upfirdn2d(torch.randn(3, 6, 6), torch.ones(3), impl="cpu")


def test_empty_batch():
    y = upfirdn2d(torch.randn(0, 3, 6, 6), setup_filter(F4), up=2, padding=[2, 1, 2, 1], impl="cpu")
    assert y.shape == (0, 3, 12, 12)


@pytest.mark.parametrize("flip_filter", [False, True])
@pytest.mark.parametrize("up,down", [(1, 2), (2, 1)])
@pytest.mark.parametrize("backend", ["ref", "cpu"])
def test_conv2d_resample_1x1_at_low_resolution(backend, up, down, flip_filter):
    """A 1x1 kernel with up or down convolves at the lower resolution; the result equals the definition
    (transposed conv / FIR filter at full resolution, then FIR filter / strided conv), float64, an
    asymmetric filter, odd sizes, padding and groups."""
    from fastgan.ops.modulated_conv2d import conv2d_resample

    g = torch.Generator().manual_seed(5)
    f = setup_filter(torch.rand(4, generator=g, dtype=torch.float64) + 0.1)
    x = torch.randn(3, 6, 9, 7, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 1, 1, generator=g, dtype=torch.float64)
    y = conv2d_resample(x, w, f, up=up, down=down, padding=1, groups=2, flip_filter=flip_filter, impl=backend)
    fw = f.shape[-1]
    if down > 1:  # the definition: FIR filter (padded as StyleGAN2 pads), then the strided 1x1 convolution
        p0, p1 = 1 + (fw - down + 1) // 2, 1 + (fw - down) // 2
        t = reference.upfirdn2d(x, f, padding=[p0, p1, p0, p1], flip_filter=flip_filter)
        ref = torch.nn.functional.conv2d(t, w, stride=down, groups=2)
    else:  # transposed 1x1 convolution with stride up, then the FIR filter with gain up**2
        wt = w.reshape(2, 2, 3, 1, 1).transpose(1, 2).reshape(6, 2, 1, 1)
        t = torch.nn.functional.conv_transpose2d(x, wt, stride=up, groups=2)
        p0, p1 = 1 + (fw + up - 1) // 2, 1 + (fw - up) // 2 + 1
        ref = reference.upfirdn2d(t, f, padding=[p0, p1, p0, p1], gain=up ** 2, flip_filter=flip_filter)
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
