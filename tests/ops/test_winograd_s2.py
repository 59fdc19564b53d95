"""Stride-2 3x3 convolutions by output phase (fastgan.ops.cpu_conv.winograd_s2): the transposed and the strided
convolution against PyTorch's direct ones in float64 (values, gradients, second order), the float32 error,
layouts and odd shapes, the transforms' adjoint identities and zero pads, the weight transform against its
formula, opcheck, torch.compile, the cpu backend's use of it in up=2 / down=2 layers, and bad input."""
from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F

from fastgan.ops import _backend as B
from fastgan.ops.cpu_conv import winograd_s2 as S

from .helpers import LAYOUTS, randn

mc = importlib.import_module("fastgan.ops.modulated_conv2d")

pytestmark = pytest.mark.skipif(B.unavailable_reason("cpu", "cpu") is not None, reason="C++ backend not built")

SHAPES = [  # (N, C, H, W), O
    ((1, 2, 1, 2), 1),     # one input row: a 3x5 output
    ((2, 3, 7, 5), 4),     # partial tiles on both axes
    ((3, 2, 6, 9), 5),
    ((1, 5, 2, 13), 3),
    ((2, 4, 12, 4), 2),
]


def _assert_same_values_and_grads(y, r, inputs):
    """y equals the reference r, and so do the gradients of both with respect to inputs (float64)."""
    torch.testing.assert_close(y, r, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(r)
    for a, b in zip(torch.autograd.grad(y, inputs, g), torch.autograd.grad(r, inputs, g)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape,o", SHAPES)
def test_conv_transpose_float64(shape, o, layout):
    torch.manual_seed(1)
    x = randn(*shape, dtype=torch.float64, layout=layout, requires_grad=True)
    wt = randn(shape[1], o, 3, 3, dtype=torch.float64, layout=layout, requires_grad=True)
    _assert_same_values_and_grads(S.conv_transpose2d_s2(x, wt), F.conv_transpose2d(x, wt, stride=2), (x, wt))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape,o", SHAPES)
@pytest.mark.parametrize("extra", [0, 1])  # odd input sizes, and even ones whose last row/column is not read
def test_strided_conv_float64(shape, o, layout, extra):
    torch.manual_seed(2)
    n, c, h, w = shape
    u = randn(n, c, 2 * h + 1 + extra, 2 * w + 1 + extra, dtype=torch.float64, layout=layout, requires_grad=True)
    wc = randn(o, c, 3, 3, dtype=torch.float64, requires_grad=True)
    _assert_same_values_and_grads(S.conv2d_s2(u, wc), F.conv2d(u, wc, stride=2), (u, wc))


def test_gradcheck_gradgradcheck():
    torch.manual_seed(3)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(S.conv_transpose2d_s2, (x, wt))
    assert torch.autograd.gradgradcheck(S.conv_transpose2d_s2, (x, wt))
    u = torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    wc = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(S.conv2d_s2, (u, wc))
    assert torch.autograd.gradgradcheck(S.conv2d_s2, (u, wc))


def test_second_order_matches_direct_conv():
    """R1-style double backward through an up=2 and a down=2 convolution equals the direct convolutions'."""
    torch.manual_seed(4)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(3, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    wc = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)

    def penalty(up, down):
        y = down(torch.tanh(up(x, wt)), wc)
        (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), (wt, wc))

    ours = penalty(S.conv_transpose2d_s2, S.conv2d_s2)
    ref = penalty(lambda a, b: F.conv_transpose2d(a, b, stride=2), lambda a, b: F.conv2d(a, b, stride=2))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_float32_error_bound():
    """F(3, 2)'s points 0, +-1, infinity: float32 error as small as the direct convolution's."""
    torch.manual_seed(5)
    x = torch.randn(2, 64, 9, 11)
    wt = torch.randn(64, 32, 3, 3) / 24
    exact = F.conv_transpose2d(x.double(), wt.double(), stride=2)
    ours = (S.conv_transpose2d_s2(x, wt).double() - exact).abs().max().item()
    direct = (F.conv_transpose2d(x, wt, stride=2).double() - exact).abs().max().item()
    scale = exact.abs().max().item()
    assert ours <= 4 * direct + 1e-7 * scale, (ours, direct)
    u = torch.randn(2, 64, 19, 23)
    wc = torch.randn(32, 64, 3, 3) / 24
    exact = F.conv2d(u.double(), wc.double(), stride=2)
    ours = (S.conv2d_s2(u, wc).double() - exact).abs().max().item()
    direct = (F.conv2d(u, wc, stride=2).double() - exact).abs().max().item()
    assert ours <= 4 * direct + 1e-7 * exact.abs().max().item(), (ours, direct)


def _dot(a, b):
    return sum((p.double() * q.double()).sum() for p, q in zip(a, b))


def test_transforms_adjoint_identities_and_pads():
    torch.manual_seed(6)
    n, c, h, w = 2, 3, 7, 4
    th, tw = S.tiles(h, w)
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    v = S._input_op(x, th, tw)
    for t, width in zip(v, (n * th * tw, 3 * n * th * tw, 3 * n * th * tw)):
        assert t.shape[2] == S.padded_cols(width) and (t[:, :, width:] == 0).all()  # the zero pad columns
    dv = tuple(torch.randn_like(t) for t in v)
    torch.testing.assert_close(_dot(v, dv), (x * S._input_adj_op(*dv, n, h, w)).sum(), rtol=1e-12, atol=1e-12)
    dy = torch.randn(n, c, 2 * h + 1, 2 * w + 1, dtype=torch.float64)
    m = S._output_adj_op(dy)
    for t, width in zip(m[:3], (n * th * tw, 3 * n * th * tw, 3 * n * th * tw)):
        assert (t[:, :, width:] == 0).all()
    torch.testing.assert_close(m[3], dy[:, :, 1::2, 1::2][:, :, :h, :w])
    mm = tuple(torch.randn_like(t) for t in m)
    torch.testing.assert_close(_dot(m, mm), (dy * S._output_op(*mm)).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pad_columns_written_zero_over_nan_memory(dtype, monkeypatch):
    """s2_input and s2_output_adjoint zero the columns after the tiles themselves: their outputs are handed
    over NaN-filled."""
    torch.manual_seed(8)
    n, c, h, w = 2, 3, 7, 4
    th, tw = S.tiles(h, w)
    t = n * th * tw
    x = torch.randn(n, c, h, w, dtype=dtype)
    dy = torch.randn(n, c, 2 * h + 1, 2 * w + 1, dtype=dtype)
    new = S._new_phases
    monkeypatch.setattr(S, "_new_phases", lambda like, cc, tt: tuple(p.fill_(float("nan")) for p in new(like, cc, tt)))
    for out in (S._input_op(x, th, tw), S._output_adj_op(dy)[:3]):
        for o, wd in zip(out, (t, 3 * t, 3 * t)):
            assert o.shape[2] == S.padded_cols(wd) > wd
            assert torch.isfinite(o).all()
            assert (o[:, :, wd:] == 0).all()


def test_weight_transform_matches_formula():
    """U_ee[a, b] = sum G[a, r] G[b, s] w[k(r), k(s)] with g = (w2, w0), G = [[1,0],[1/2,1/2],[1/2,-1/2],[0,1]]."""
    torch.manual_seed(7)
    wt = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    g = torch.tensor([[1, 0], [0.5, 0.5], [0.5, -0.5], [0, 1]], dtype=torch.float64)
    taps = [2, 0]
    w = wt  # [C, O, ky, kx]: the transformed weights keep this [in, out] order
    uee, ueo, uoe, uoo = S.weight_transform(wt)
    for a in range(4):
        ey = sum(g[a, r] * w[:, :, taps[r], 1] for r in range(2))
        ex = sum(g[a, r] * w[:, :, 1, taps[r]] for r in range(2))
        torch.testing.assert_close(ueo[a], ey)
        torch.testing.assert_close(uoe[a], ex)
        for b in range(4):
            e = sum(g[a, r] * g[b, s] * w[:, :, taps[r], taps[s]] for r in range(2) for s in range(2))
            torch.testing.assert_close(uee[a * 4 + b], e)
    torch.testing.assert_close(uoo, w[:, :, 1, 1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_weight_transform_strided_input_and_adjoint(dtype):
    """The C++ weight transform on a transposed (non-contiguous) view equals it on the contiguous copy, and
    <U(w), dU> = <w, U^T(dU)> for its adjoint (checked in float64 sums)."""
    torch.manual_seed(8)
    wt = torch.randn(70, 5, 3, 3, dtype=dtype)  # 70 > one 64-filter block
    view = wt.transpose(0, 1)
    for a, b in zip(S.weight_transform(view), S.weight_transform(view.contiguous())):
        assert a.is_contiguous() and torch.equal(a, b)
    u = S.weight_transform(view)
    du = tuple(torch.randn_like(t) for t in u)
    lhs = sum((a.double() * b.double()).sum() for a, b in zip(u, du))
    rhs = (view.double() * S._weight_adj_op(*du).double()).sum()
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(lhs, rhs, rtol=tol, atol=tol)


def test_opcheck():
    x = torch.randn(2, 3, 5, 4)
    th, tw = S.tiles(5, 4)
    t = 2 * th * tw
    phases = (torch.randn(16, 3, S.padded_cols(t)), torch.randn(4, 3, S.padded_cols(3 * t)),
              torch.randn(4, 3, S.padded_cols(3 * t)))
    torch.library.opcheck(torch.ops.fastgan.wino_s2_input.default, (x, th, tw))
    torch.library.opcheck(torch.ops.fastgan.wino_s2_input_adjoint.default, (*phases, 2, 5, 4))
    torch.library.opcheck(torch.ops.fastgan.wino_s2_output.default, (*phases, torch.randn(2, 3, 5, 4)))
    torch.library.opcheck(torch.ops.fastgan.wino_s2_output_adjoint.default, (torch.randn(2, 3, 11, 9),))
    torch.library.opcheck(torch.ops.fastgan.wino_s2_weight.default, (torch.randn(3, 5, 3, 3).transpose(0, 1),))
    torch.library.opcheck(torch.ops.fastgan.wino_s2_weight_adjoint.default,
                          (torch.randn(16, 5, 3), torch.randn(4, 5, 3), torch.randn(4, 5, 3), torch.randn(5, 3)))


def test_torch_compile_fullgraph():
    torch.manual_seed(8)
    x = torch.randn(2, 3, 6, 5, requires_grad=True)
    wt = torch.randn(3, 4, 3, 3, requires_grad=True)
    wc = torch.randn(2, 4, 3, 3, requires_grad=True)
    fn = torch.compile(lambda a, b, c: S.conv2d_s2(S.conv_transpose2d_s2(a, b), c).square().sum(), fullgraph=True,
                       backend="aot_eager")
    out = fn(x, wt, wc)
    grads = torch.autograd.grad(out, (x, wt, wc))
    r = F.conv2d(F.conv_transpose2d(x, wt, stride=2), wc, stride=2).square().sum()
    rgrads = torch.autograd.grad(r, (x, wt, wc))
    torch.testing.assert_close(out, r, rtol=1e-4, atol=1e-3)
    for a, b in zip(grads, rgrads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("up,down", [(2, 1), (1, 2)])
def test_cpu_backend_uses_it_and_agrees(monkeypatch, up, down):
    """modulated_conv2d's and conv2d_resample's cpu backend run up=2 / down=2 through winograd_s2 (and the switch)."""
    monkeypatch.setattr(mc, "S2_MIN_SIZE", 1)  # small test planes take the path too
    calls = []
    for name in ("conv_transpose2d_s2", "conv2d_s2"):
        real = getattr(S, name)
        monkeypatch.setattr(S, name, lambda *a, _r=real, **k: calls.append(1) or _r(*a, **k))
    torch.manual_seed(9)
    x = torch.randn(2, 6, 9, 10, dtype=torch.float64)
    w = torch.randn(5, 6, 3, 3, dtype=torch.float64)
    s = torch.randn(2, 6, dtype=torch.float64)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    kw = dict(padding=1, up=up, down=down, resample_filter=f, fused_modconv=False, act="lrelu")
    y = mc.modulated_conv2d(x, w, s, impl="cpu", **kw)
    assert calls, "the cpu backend did not take the phase path"
    torch.testing.assert_close(y, mc.modulated_conv2d(x, w, s, impl="ref", **kw), rtol=1e-11, atol=1e-11)
    calls.clear()
    y = mc.conv2d_resample(x, w, f, up=up, down=down, padding=1, impl="cpu")
    assert calls
    from fastgan.ops import reference
    torch.testing.assert_close(y, reference.conv2d_resample(x, w, f, up=up, down=down, padding=1))
    calls.clear()
    monkeypatch.setitem(mc.STRATEGY, "winograd_s2", False)
    mc.modulated_conv2d(x, w, s, impl="cpu", **kw)
    assert not calls
    monkeypatch.setitem(mc.STRATEGY, "winograd_s2", True)
    monkeypatch.setattr(mc, "S2_MIN_SIZE", 24)  # planes below the size threshold keep oneDNN
    mc.modulated_conv2d(x, w, s, impl="cpu", **kw)
    assert not calls


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_other_dtypes_fall_back(dtype):
    x = torch.randn(1, 2, 5, 5).to(dtype)
    w = torch.randn(3, 2, 3, 3).to(dtype)
    assert not S.supported(x, w)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    from fastgan.ops import reference
    for kw in (dict(up=2), dict(down=2)):
        y = mc.conv2d_resample(x, w, f, padding=1, impl="cpu", **kw)
        r = reference.conv2d_resample(x.double(), w.double(), f.double(), padding=1, **kw)
        torch.testing.assert_close(y.double(), r, rtol=2e-2, atol=2e-2 * r.abs().max().item())


def test_bad_input():
    x = torch.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match="3x3"):
        S.conv_transpose2d_s2(x, torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="matching"):
        S.conv_transpose2d_s2(x, torch.randn(4, 3, 3, 3))  # C_in 4 != 2
    with pytest.raises(ValueError, match="float32"):
        S.conv2d_s2(x.half(), torch.randn(3, 2, 3, 3).half())
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        S.conv2d_s2(torch.randn(1, 2, 2, 9), torch.randn(3, 2, 3, 3))


def test_direct_dispatch_is_bitwise_the_registered_ops():
    from fastgan.ops import _dispatch

    def run():
        torch.manual_seed(10)
        x = torch.randn(2, 3, 5, 4, requires_grad=True)
        wt = torch.randn(3, 4, 3, 3, requires_grad=True)
        y = S.conv2d_s2(S.conv_transpose2d_s2(x, wt), wt)
        gx, gw = torch.autograd.grad(y, (x, wt), torch.randn_like(y), create_graph=True)
        return (y, gx, gw, *torch.autograd.grad(gx.square().sum() + gw.square().sum(), (x, wt)))

    with _dispatch.use_direct_dispatch(True):
        direct = run()
    with _dispatch.use_direct_dispatch(False):
        registered = run()
    for a, b in zip(direct, registered):
        assert torch.equal(a, b)


@pytest.mark.parametrize("n", [8, 11, 16, 19])
def test_float32_batches_through_the_vector_transposes(n):
    """float32 batches of 8 or more go through the kernels' 8x8 AVX transposes (whole blocks, and leftover
    samples and columns): the transposed and the strided convolution, values and gradients, against float64
    on channels_last input whose plane width is not a multiple of 8."""
    torch.manual_seed(n)
    x = randn(n, 3, 6, 5, dtype=torch.float32, layout="channels_last", requires_grad=True)
    u = randn(n, 3, 13, 11, dtype=torch.float32, layout="channels_last", requires_grad=True)
    wt = torch.randn(3, 4, 3, 3, dtype=torch.float32, requires_grad=True)
    for fn, ref, inp in ((S.conv_transpose2d_s2, lambda a, b: F.conv_transpose2d(a, b, stride=2), x),
                         (S.conv2d_s2, lambda a, b: F.conv2d(a, b.transpose(0, 1), stride=2), u)):
        w = wt if fn is S.conv_transpose2d_s2 else wt.transpose(0, 1)
        y = fn(inp, w)
        dy = torch.randn(y.shape, dtype=torch.float64)
        g = torch.autograd.grad(y, (inp, wt), dy.float())
        ind, wd = inp.detach().double().requires_grad_(), wt.detach().double().requires_grad_()
        r = ref(ind, wd)
        rg = torch.autograd.grad(r, (ind, wd), dy)
        torch.testing.assert_close(y.double(), r, rtol=1e-4, atol=1e-4)
        for a, b in zip(g, rg):
            torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=2e-4)
