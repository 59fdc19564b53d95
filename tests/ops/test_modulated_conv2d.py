"""modulated_conv2d: every backend against the float64 reference composition (both fused_modconv
strategies, up/down, kernels 1 and 3, padding, demodulation, noise, layouts); gradients to second
order; opcheck of the registered pieces; torch.compile; bad input."""
import itertools
import math

import pytest
import torch

from fastgan.ops import modulated_conv2d, reference, setup_filter
from fastgan.ops.modulated_conv2d import out_size

from .helpers import TOL, assert_close, backend_params, randn

F = setup_filter([1, 3, 3, 1])


def _inputs(n=2, cin=3, cout=4, h=5, w=6, k=3, dtype=torch.float32, layout="contiguous", requires_grad=False):
    x = randn(n, cin, h, w, dtype=dtype, layout=layout, requires_grad=requires_grad)
    weight = randn(cout, cin, k, k, requires_grad=requires_grad)
    styles = randn(n, cin, requires_grad=requires_grad)
    bias = randn(cout, requires_grad=requires_grad)
    return x, weight, styles, bias


def _noise(kind, n, oh, ow, requires_grad=False):
    if kind is None:
        return None
    shape = {"per_sample": (n, 1, oh, ow), "shared": (1, 1, oh, ow), "const": (oh, ow)}[kind]
    return randn(*shape, requires_grad=requires_grad)


def _ref64(x, weight, styles, noise=None, bias=None, **kw):
    d = lambda t: None if t is None else t.detach().double()  # noqa: E731
    kw = dict(kw)
    if kw.get("resample_filter") is not None:
        kw["resample_filter"] = kw["resample_filter"].double()
    return reference.modulated_conv2d(d(x), d(weight), d(styles), d(noise), bias=d(bias), **kw)


def _kw(up, down, k, padding=None, **extra):
    return dict(up=up, down=down, padding=k // 2 if padding is None else padding, resample_filter=F,
                flip_weight=up == 1, **extra)


def _out_hw(x, weight, kw):
    return out_size(x.shape, weight.shape, kw["resample_filter"], kw["up"], kw["down"],
                      reference.parse_padding(kw["padding"]))


RESAMPLE = [(1, 1), (2, 1), (1, 2)]


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
@pytest.mark.parametrize("up,down", RESAMPLE)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("fused_modconv", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_forward_backward_match_reference(backend, up, down, k, fused_modconv, layout):
    for demodulate, noise_kind, act in [(True, "per_sample", "lrelu"), (False, None, "linear"),
                                        (True, "shared", "tanh"), (False, "const", "swish")]:
        x, weight, styles, bias = _inputs(k=k, layout=layout, requires_grad=True)
        kw = _kw(up, down, k, demodulate=demodulate, fused_modconv=fused_modconv, act=act, clamp=2.5)
        noise = _noise(noise_kind, 2, *_out_hw(x, weight, kw), requires_grad=True)
        y = modulated_conv2d(x, weight, styles, noise, bias=bias, impl=backend, **kw)
        r = _ref64(x, weight, styles, noise, bias, **kw)
        assert y.shape == r.shape and y.dtype == x.dtype
        assert_close(y, r, torch.float32, scale=10)
        # gradients of every input against the float64 reference
        leaves = [t for t in (x, weight, styles, bias, noise) if t is not None]
        dy = randn(*y.shape)
        ours = torch.autograd.grad(y, leaves, dy)
        leaves64 = [t.detach().double().requires_grad_() for t in leaves]
        it = iter(leaves64)
        x64, w64, s64, b64 = next(it), next(it), next(it), next(it)
        n64 = next(it, None)
        r = reference.modulated_conv2d(x64, w64, s64, n64, bias=b64, **dict(kw, resample_filter=F.double()))
        refs = torch.autograd.grad(r, leaves64, dy.double())
        for name, a, b in zip("x weight styles bias noise".split(), ours, refs):
            assert_close(a, b, torch.float32, scale=30, msg=f"grad of {name} ({demodulate}, {noise_kind}, {act})")


@pytest.mark.parametrize("backend", backend_params(["triton"]))
@pytest.mark.parametrize("up,down", RESAMPLE)
@pytest.mark.parametrize("fused_modconv", [True, False])
def test_triton_matches_reference(backend, up, down, fused_modconv):
    x, weight, styles, bias = _inputs(n=2, cin=2, cout=3, h=4, w=4, layout="channels_last", requires_grad=True)
    kw = _kw(up, down, 3, fused_modconv=fused_modconv, act="lrelu", clamp=1.0)
    noise = _noise("per_sample", 2, *_out_hw(x, weight, kw), requires_grad=True)
    y = modulated_conv2d(x, weight, styles, noise, bias=bias, impl=backend, **kw)
    assert_close(y, _ref64(x, weight, styles, noise, bias, **kw), torch.float32, scale=10)
    g = torch.autograd.grad(y.square().sum(), (x, styles, bias, noise))
    yr = modulated_conv2d(x, weight, styles, noise, bias=bias, impl="ref", **kw)
    gr = torch.autograd.grad(yr.square().sum(), (x, styles, bias, noise))
    for a, b in zip(g, gr):
        assert_close(a, b, torch.float32, scale=30)


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
@pytest.mark.parametrize("padding", [0, [2, 1, 0, 1], [-1, 0, 1, 1], (2, 0)])
@pytest.mark.parametrize("up,down", RESAMPLE)
def test_padding_variants(backend, padding, up, down):
    x, weight, styles, bias = _inputs(h=7, w=8, layout="noncontiguous")
    for fused in (True, False):
        kw = _kw(up, down, 3, padding=padding, fused_modconv=fused)
        y = modulated_conv2d(x, weight, styles, bias=bias, impl=backend, **kw)
        assert_close(y, _ref64(x, weight, styles, None, bias, **kw), torch.float32, scale=10)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_dtypes(backend, dtype):
    x = randn(2, 4, 5, 5, dtype=dtype, layout="channels_last")
    pdt = torch.float64 if dtype == torch.float64 else torch.float32  # float32 parameters, as StyleGAN2 keeps them
    weight, styles, bias = randn(3, 4, 3, 3, dtype=pdt), randn(2, 4, dtype=pdt), randn(3, dtype=pdt)
    for fused in (True, False):
        kw = _kw(1, 1, 3, fused_modconv=fused, act="lrelu")
        y = modulated_conv2d(x, weight, styles, bias=bias, impl=backend, **kw)
        assert y.dtype == dtype
        rtol, atol = TOL[dtype]
        torch.testing.assert_close(y.double(), _ref64(x, weight, styles, None, bias, **kw), rtol=rtol * 10,
                                   atol=atol * 10)


@pytest.mark.parametrize("backend", backend_params(["ref", "cpu"]))
def test_fp16_overflow_guard(backend):
    """Huge fp16 weights and styles would overflow without the infinity-norm prescaling."""
    x = randn(2, 8, 4, 4, dtype=torch.float16)
    weight = (randn(4, 8, 3, 3) * 3e3).half()
    styles = (randn(2, 8) * 3e3).half()
    y = modulated_conv2d(x, weight, styles, padding=1, impl=backend)
    assert torch.isfinite(y).all()
    r = reference.modulated_conv2d(x.double(), weight.double(), styles.double(), padding=1)
    torch.testing.assert_close(y.double(), r, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
@pytest.mark.parametrize("up,down,fused,act", [(1, 1, False, "lrelu"), (2, 1, True, "tanh"), (1, 2, False, "swish")])
def test_gradcheck_second_order(backend, up, down, fused, act):
    """gradcheck over every input; gradgradcheck over x, styles and noise (the weight and bias second
    derivatives are compared exactly with the reference in test_r1_and_path_length_penalties)."""
    x = randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = randn(1, 2, dtype=torch.float64, requires_grad=True)
    b = randn(2, dtype=torch.float64, requires_grad=True)
    kw = _kw(up, down, 3, fused_modconv=fused, act=act, clamp=1.5)
    kw["resample_filter"] = F.double()
    oh, ow = _out_hw(x, w, kw)
    nz = randn(1, 1, oh, ow, dtype=torch.float64, requires_grad=True)
    fn = lambda x, w, s, b, nz: modulated_conv2d(x, w, s, nz, bias=b, impl=backend, **kw)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, s, b, nz))
    assert torch.autograd.gradgradcheck(lambda x, s, nz: fn(x, w, s, b, nz), (x, s, nz))


@pytest.mark.parametrize("backend", backend_params(["triton"]))
def test_gradcheck_triton(backend):
    x = randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = randn(1, 2, dtype=torch.float64, requires_grad=True)
    nz = randn(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    fn = lambda x, w, s, nz: modulated_conv2d(x, w, s, nz, padding=1, act="lrelu", impl=backend)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, s, nz))


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
def test_r1_and_path_length_penalties(backend):
    """R1 (gradient w.r.t. the input of a down=2 layer) and path length (gradient w.r.t. the styles of
    an up=2 layer), each differentiated again w.r.t. the parameters: match the reference."""
    torch.manual_seed(5)
    x = randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    w = randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    s = randn(2, 3, dtype=torch.float64, requires_grad=True)
    b = randn(4, dtype=torch.float64, requires_grad=True)
    nz = randn(2, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    f = F.double()

    def penalties(impl):
        d = modulated_conv2d(x, w, s, bias=b, down=2, padding=1, resample_filter=f, act="lrelu", fused_modconv=False,
                             impl=impl)
        (gx,) = torch.autograd.grad(d.sum(), x, create_graph=True)
        r1 = gx.square().sum()
        img = modulated_conv2d(x, w, s, nz, bias=b, up=2, padding=1, resample_filter=f, act="lrelu", clamp=3.0,
                               flip_weight=False, impl=impl)
        (gs,) = torch.autograd.grad((img * nz).sum(), s, create_graph=True)
        pl = gs.square().sum()
        return torch.autograd.grad(r1 + pl, (w, s, b, nz))

    for a, r in zip(penalties(backend), penalties("ref")):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("backend", backend_params())
def test_opcheck(backend):
    c = randn(2, 3, 4, 5)
    d, nz, b = randn(2, 3), randn(2, 20), randn(3)
    args = ("lrelu", 0.2, math.sqrt(2), 1.0, backend)
    torch.library.opcheck(torch.ops.fastgan.modconv_epilogue.default, (c, d, nz, b) + args)
    torch.library.opcheck(torch.ops.fastgan.modconv_epilogue.default,
                          (c.contiguous(memory_format=torch.channels_last), None, randn(1, 20), None) + args)
    torch.library.opcheck(torch.ops.fastgan.modconv_epilogue_grad.default, (randn(2, 3, 4, 5), c, d, nz, b) + args)
    torch.library.opcheck(torch.ops.fastgan.modconv_scale.default, (c, d, True, backend))
    torch.library.opcheck(torch.ops.fastgan.modconv_chandot.default, (c, randn(2, 3, 4, 5), backend))


@pytest.mark.parametrize("backend", backend_params(["cpu"]))
@pytest.mark.parametrize("layout_in,cl_out", list(itertools.product(
    ["contiguous", "channels_last", "noncontiguous"], [False, True])))
def test_scale_and_chandot_layouts(backend, layout_in, cl_out):
    x = randn(2, 37, 5, 7, layout=layout_in)
    s = randn(2, 37)
    y = torch.ops.fastgan.modconv_scale(x, s, cl_out, backend)
    assert y.is_contiguous(memory_format=torch.channels_last if cl_out else torch.contiguous_format)
    torch.testing.assert_close(y, x * s[:, :, None, None])
    a = randn(2, 37, 5, 7, layout=layout_in)
    torch.testing.assert_close(torch.ops.fastgan.modconv_chandot(a, x, backend),
                               (a.double() * x.double()).sum([2, 3]).float())


def test_torch_compile_fullgraph():
    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
            self.bias = torch.nn.Parameter(torch.randn(4))
            self.register_buffer("f", F)

        def forward(self, x, s, nz):
            return modulated_conv2d(x, self.weight, s, nz, up=2, padding=1, resample_filter=self.f, flip_weight=False,
                                    bias=self.bias, act="lrelu", fused_modconv=False, impl="cpu")

    m = Layer()
    x, s, nz = randn(2, 3, 5, 5), randn(2, 3, requires_grad=True), randn(2, 1, 10, 10)
    eager = m(x, s, nz)
    ge = torch.autograd.grad(eager.square().sum(), (m.weight, s))
    torch._dynamo.reset()
    cm = torch.compile(m, fullgraph=True, backend="aot_eager")
    out = cm(x, s, nz)
    gc = torch.autograd.grad(out.square().sum(), (m.weight, s))
    torch.testing.assert_close(out, eager)
    for a, b in zip(gc, ge):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(styles=torch.randn(2, 4)), ValueError, r"styles must have shape \[N, C_in\]"),
    (dict(styles=torch.randn(3, 3)), ValueError, r"styles must have shape \[N, C_in\]"),
    (dict(weight=torch.randn(4, 3, 3)), ValueError, "weight must have 4 dimensions"),
    (dict(weight=torch.randn(4, 5, 3, 3)), ValueError, "weight has 5 input channels"),
    (dict(resample_filter=torch.ones(2, 2, 2), up=2), ValueError, "resample_filter must be a 1-D or 2-D"),
    (dict(up=0), ValueError, "up must be an int >= 1"),
    (dict(down=-1), ValueError, "down must be an int >= 1"),
    (dict(up=1.5), ValueError, "up must be an int >= 1"),
    (dict(padding=[1, 1, 1]), ValueError, "padding must have 1, 2 or 4 entries"),
    (dict(padding=-5), ValueError, "empty output"),
    (dict(bias=torch.randn(5)), ValueError, r"bias must have shape \[C_out\]"),
    (dict(noise=torch.randn(2, 4, 6, 6)), ValueError, "noise must broadcast"),
    (dict(noise=torch.randn(3, 1, 6, 6)), ValueError, "noise must broadcast"),
    (dict(act="gelu9"), ValueError, "act must be one of"),
    (dict(clamp=-1.0), ValueError, "clamp"),
    (dict(gain=float("nan")), ValueError, "gain"),
    (dict(styles=torch.ones(2, 3, dtype=torch.int64)), TypeError, "styles must be float"),
    (dict(bias=torch.randn(4, device="meta")), ValueError, "bias is on meta"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(x=torch.randn(2, 3, 6, 6), weight=torch.randn(4, 3, 3, 3), styles=torch.randn(2, 3), padding=1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        modulated_conv2d(impl="cpu", **args)
