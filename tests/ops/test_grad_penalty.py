"""The gradient-penalty family (grad_sq_norm, grad_norm_penalty, path_length_norm, lerp_samples):
every backend against the float64 reference; gradients to second order; opcheck;
torch.compile; bad input."""
import pytest
import torch

from fastgan.ops import grad_norm_penalty, grad_sq_norm, lerp_samples, path_length_norm, reference

from .helpers import DTYPES, LAYOUTS, TOL, backend_params, randn

REDUCTIONS = {
    "sq_norm": (grad_sq_norm, reference.grad_sq_norm, {}),
    "penalty": (grad_norm_penalty, reference.grad_norm_penalty, dict(target=1.0)),
    "penalty_one_sided": (grad_norm_penalty, reference.grad_norm_penalty, dict(target=4.0, one_sided=True)),
    "penalty_target0": (grad_norm_penalty, reference.grad_norm_penalty, dict(target=0.0)),
    "path_length": (path_length_norm, reference.path_length_norm, {}),
}


def _grads(*shape, dtype=torch.float32, layout="contiguous", requires_grad=False):
    """Random gradients whose per-sample norms straddle the targets used here (some below 4, some above)."""
    g = randn(*shape, dtype=torch.float64, layout=layout)
    scale = torch.linspace(0.2, 2.0, shape[0], dtype=torch.float64).reshape([-1] + [1] * (len(shape) - 1))
    g = (g * scale * (8.0 / g[0].numel() ** 0.5)).to(dtype)
    return g.requires_grad_(requires_grad)


def _close(actual, expected, dtype, scale=1.0):
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol * scale, atol=atol * scale)


@pytest.mark.parametrize("backend", backend_params(["ref", "cpu", "triton"]))
@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_reductions_forward(backend, name, dtype, layout):
    fn, ref, kw = REDUCTIONS[name]
    g = _grads(6, 3, 7, 9, dtype=dtype, layout=layout)
    out = fn(g, impl=backend, **kw)
    assert out.shape == (6,)
    assert out.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    # 16-bit gradients: compare with the reference on the same (rounded) values; sums run in float32
    _close(out, ref(g.double(), **kw), dtype if dtype == torch.float64 else torch.float32, scale=10)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("shape", [(3, 100003), (1, 5), (7, 1), (2, 3, 5, 1, 4)], ids=str)
@pytest.mark.parametrize("name", ["sq_norm", "penalty", "path_length"])
def test_reductions_odd_shapes(backend, shape, name):
    fn, ref, kw = REDUCTIONS[name]
    if backend == "triton" and shape[-1] > 1000:
        shape = (3, 20011)
    g = _grads(*shape)
    _close(fn(g, impl=backend, **kw), ref(g.double(), **kw), torch.float32, scale=10)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "noncontiguous"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_reductions_backward(backend, name, layout, dtype):
    """Gradients in the input's dtype; 16-bit gradients against the float64 reference on the same rounded
    values (the per-sample results and the incoming gradient are float32 whatever the input's dtype)."""
    fn, ref, kw = REDUCTIONS[name]
    g = _grads(6, 3, 5, 7, dtype=dtype, layout=layout, requires_grad=True)
    w = torch.rand(6, dtype=torch.float64) + 0.5
    (dg,) = torch.autograd.grad((fn(g, impl=backend, **kw) * w.float()).sum(), g)
    g64 = g.detach().double().requires_grad_()
    (rg,) = torch.autograd.grad((ref(g64, **kw) * w).sum(), g64)
    assert dg.dtype == g.dtype and dg.shape == g.shape
    _close(dg, rg, dtype, scale=4)


@pytest.mark.parametrize("backend", backend_params())
def test_zero_gradient_sample(backend):
    """A sample whose gradient is exactly 0: the value as the reference, gradient 0 (the subgradient
    torch's norm uses; the reference path length's sqrt gives NaN there)."""
    g = _grads(3, 4, 5)
    g[1] = 0
    g.requires_grad_()
    for fn, ref, kw in REDUCTIONS.values():
        out = fn(g, impl=backend, **kw)
        (dg,) = torch.autograd.grad(out.sum(), g)
        g64 = g.detach().double().requires_grad_()
        r = ref(g64, **kw)
        (rg,) = torch.autograd.grad(r.sum(), g64)
        _close(out, r, torch.float32)
        assert torch.equal(dg[1], torch.zeros_like(dg[1]))
        _close(dg[[0, 2]], rg[[0, 2]], torch.float32)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_gradcheck_second_order(backend, name):
    fn, _, kw = REDUCTIONS[name]
    shape = (3, 2, 3) if backend == "triton" else (4, 3, 5)
    g = _grads(*shape, dtype=torch.float64, requires_grad=True)
    f = lambda g: fn(g, impl=backend, **kw)  # noqa: E731
    assert torch.autograd.gradcheck(f, (g,))
    assert torch.autograd.gradgradcheck(f, (g,))


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_third_order_matches_reference(name):
    fn, ref, kw = REDUCTIONS[name]
    g = _grads(3, 4, 5, dtype=torch.float64, requires_grad=True)

    def third(f):
        (g1,) = torch.autograd.grad(f(g).square().sum(), g, create_graph=True)
        (g2,) = torch.autograd.grad(g1.square().sum(), g, create_graph=True)
        return torch.autograd.grad(g2.square().sum(), g)[0]

    torch.testing.assert_close(third(lambda g: fn(g, impl="cpu", **kw)), third(lambda g: ref(g, **kw)))


def test_path_length_is_mean_over_ws():
    g = randn(4, 3, 8, dtype=torch.float64)
    expected = torch.stack([(g[n].square().sum(dim=1).mean()).sqrt() for n in range(4)])
    torch.testing.assert_close(path_length_norm(g, impl="cpu"), expected)
    torch.testing.assert_close(path_length_norm(g[:, 0], impl="cpu"), g[:, 0].norm(dim=1))


# ------------------------------------------------------------------ lerp_samples
@pytest.mark.parametrize("backend", backend_params(["ref", "cpu", "triton"]))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layouts", [("contiguous", "contiguous"), ("channels_last", "channels_last"),
                                     ("channels_last", "contiguous"), ("noncontiguous", "contiguous")], ids=str)
def test_lerp_forward(backend, dtype, layouts):
    real = randn(5, 3, 4, 6, dtype=dtype, layout=layouts[0])
    fake = randn(5, 3, 4, 6, dtype=dtype, layout=layouts[1])
    alpha = torch.rand(5, 1, 1, 1)
    out = lerp_samples(real, fake, alpha, impl=backend)
    assert out.dtype == dtype and out.shape == real.shape
    a64 = alpha.to(dtype).double()
    _close(out, reference.lerp_samples(real.double(), fake.double(), a64), dtype, scale=2)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("need", [(True, True, True), (True, False, False), (False, True, True), (False, False, True)],
                         ids=str)
def test_lerp_backward(backend, need):
    shape = (4, 3, 50, 7) if backend != "triton" else (4, 3, 5, 7)
    real = randn(*shape, requires_grad=need[0])
    fake = randn(*shape, layout="channels_last", requires_grad=need[1])
    alpha = torch.rand(4, requires_grad=need[2])
    dout = randn(*shape)
    leaves = [t for t, n in zip((real, fake, alpha), need) if n]
    ours = torch.autograd.grad(lerp_samples(real, fake, alpha, impl=backend), leaves, dout)
    leaves64 = [t.detach().double().requires_grad_() for t in (real, fake, alpha)]
    ref = torch.autograd.grad(reference.lerp_samples(*leaves64), leaves64, dout.double())
    ref = [r for r, n in zip(ref, need) if n]
    for o, r in zip(ours, ref):
        _close(o, r, torch.float32, scale=10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("need", [(True, True, True), (False, True, False), (True, False, True)], ids=str)
def test_lerp_backward_long_samples_cpu(need, dtype):
    """Samples longer than the CPU kernel's chunk (32768) and its summation block (4096), odd
    sizes: the one-pass backward writes d_real/d_fake and sums d_alpha across blocks and chunks."""
    shape = (3, 5, 91, 81)  # K = 36855
    real = randn(*shape, dtype=dtype, requires_grad=need[0])
    fake = randn(*shape, dtype=dtype, layout="noncontiguous", requires_grad=need[1])
    alpha = torch.rand(3, dtype=dtype, requires_grad=need[2])
    dout = randn(*shape, dtype=dtype)
    leaves = [t for t, n in zip((real, fake, alpha), need) if n]
    ours = torch.autograd.grad(lerp_samples(real, fake, alpha, impl="cpu"), leaves, dout)
    leaves64 = [t.detach().double().requires_grad_() for t in (real, fake, alpha)]
    ref = torch.autograd.grad(reference.lerp_samples(*leaves64), leaves64, dout.double())
    ref = [r for r, n in zip(ref, need) if n]
    for o, r in zip(ours, ref):
        assert o.dtype == dtype
        _close(o, r, dtype, scale=10)


@pytest.mark.parametrize("need", [(True, True, True), (False, True, True), (True, False, False)], ids=str)
def test_streaming_stores_for_large_outputs_cpu(need):
    """Outputs of 16 MB and more are written with streaming stores (float32): an odd sample length puts
    every sample at a different alignment (the scalar head and tail around the aligned blocks), against
    float64 for the reductions' backward and both lerp passes."""
    torch.manual_seed(11)
    shape = (3, 1, 1, 1_400_001)  # 4.2 M floats = 16.8 MB per output
    g = torch.randn(*shape, requires_grad=True)
    dout = torch.randn(3)
    g64 = g.detach().double().requires_grad_()
    for ours, ref in ((grad_sq_norm(g, impl="cpu"), reference.grad_sq_norm(g64)),
                      (grad_norm_penalty(g, impl="cpu"), reference.grad_norm_penalty(g64, 1.0, False))):
        (dg,), (dg64,) = torch.autograd.grad(ours, g, dout), torch.autograd.grad(ref, g64, dout.double())
        _close(dg, dg64, torch.float32)
    real = torch.randn(*shape, requires_grad=need[0])
    fake = torch.randn(*shape, requires_grad=need[1])
    alpha = torch.rand(3, requires_grad=need[2])
    y = lerp_samples(real, fake, alpha, impl="cpu")
    leaves64 = [t.detach().double().requires_grad_() for t in (real, fake, alpha)]
    y64 = reference.lerp_samples(*leaves64)
    _close(y, y64, torch.float32)
    gy = torch.randn(*shape)
    ours = torch.autograd.grad(y, [t for t, n in zip((real, fake, alpha), need) if n], gy)
    ref = [r for r, n in zip(torch.autograd.grad(y64, leaves64, gy.double()), need) if n]
    for o, r in zip(ours, ref):
        _close(o, r, torch.float32, scale=10)


@pytest.mark.parametrize("backend", backend_params())
def test_lerp_gradcheck_second_order(backend):
    shape = (2, 3, 2) if backend == "triton" else (3, 4, 5)
    real = randn(*shape, dtype=torch.float64, requires_grad=True)
    fake = randn(*shape, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(shape[0], dtype=torch.float64, requires_grad=True)
    f = lambda r, fk, a: lerp_samples(r, fk, a, impl=backend)  # noqa: E731
    assert torch.autograd.gradcheck(f, (real, fake, alpha))
    assert torch.autograd.gradgradcheck(f, (real, fake, alpha))


# ------------------------------------------------------------------ registration, compile, errors
@pytest.mark.parametrize("backend", backend_params())
def test_opcheck(backend):
    g = _grads(3, 4, 5)
    for mode, target, one_sided, num_ws in [("sq_norm", 0.0, False, 1), ("norm_penalty", 1.0, True, 1),
                                            ("path_length", 0.0, False, 4)]:
        torch.library.opcheck(torch.ops.fastgan.grad_reduce.default, (g, mode, target, one_sided, num_ws, backend))
        out, r = torch.ops.fastgan.grad_reduce.default(g, mode, target, one_sided, num_ws, backend)
        torch.library.opcheck(torch.ops.fastgan.grad_reduce_grad.default,
                              (torch.rand_like(out), None, r, g, mode, target, one_sided, num_ws, backend))
    real, fake, alpha = randn(3, 4, 5), randn(3, 4, 5), torch.rand(3)
    torch.library.opcheck(torch.ops.fastgan.lerp_samples.default, (real, fake, alpha, backend))
    torch.library.opcheck(torch.ops.fastgan.lerp_samples_grad.default,
                          (randn(3, 4, 5), real, fake, alpha, [True, False, True], backend))


def test_torch_compile_fullgraph_matches_eager():
    def penalty(real, fake, alpha, w):
        x = lerp_samples(real, fake, alpha, impl="cpu")
        return grad_norm_penalty(torch.tanh(x * w), impl="cpu").mean() + grad_sq_norm(x, impl="cpu").mean()

    real, fake, alpha = randn(4, 3, 5), randn(4, 3, 5), torch.rand(4)
    w = torch.randn(5, requires_grad=True)
    eager = penalty(real, fake, alpha, w)
    (ge,) = torch.autograd.grad(eager, w)
    torch._dynamo.reset()
    out = torch.compile(penalty, fullgraph=True, backend="aot_eager")(real, fake, alpha, w)
    (gc,) = torch.autograd.grad(out, w)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(gc, ge)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: grad_norm_penalty(torch.randn(3, 4), target=-0.5), ValueError, "target must be >= 0"),
    (lambda: grad_norm_penalty(torch.randn(3, 4), one_sided=1), TypeError, "one_sided must be a bool"),
    (lambda: grad_sq_norm(torch.tensor(2.0)), ValueError, "g must have at least 1 dimensions"),
    (lambda: path_length_norm(torch.randn(5)), ValueError, "g must have at least 2 dimensions"),
    (lambda: grad_sq_norm(torch.ones(3, 4, dtype=torch.int32)), TypeError, "g must be float"),
    (lambda: lerp_samples(torch.randn(4, 3), torch.randn(4, 3), torch.rand(5)), ValueError,
     "alpha must hold one weight per sample"),
    (lambda: lerp_samples(torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 3)), ValueError,
     "alpha must hold one weight per sample"),
    (lambda: lerp_samples(torch.randn(4, 3), torch.randn(4, 2), torch.rand(4)), ValueError, "fake has shape"),
    (lambda: lerp_samples(torch.randn(4, 3), torch.randn(4, 3).double(), torch.rand(4)), TypeError, "fake has dtype"),
    (lambda: lerp_samples(torch.tensor(1.0), torch.tensor(1.0), torch.rand(1)), ValueError, "real must have at least"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_empty_batch():
    g = torch.randn(0, 3, 4, requires_grad=True)
    out = grad_sq_norm(g, impl="cpu")
    assert out.shape == (0,)
    (dg,) = torch.autograd.grad(out.sum(), g)
    assert dg.shape == g.shape
