"""fastgan::bmm (fastgan.ops.cpu_conv.gemm): the float32 vector GEMM against float64 torch.bmm on odd shapes,
every edge of its register tile and blocks, any operand strides (transposed, expanded, sliced, the
Winograd layouts), gradients of first and second order, opcheck, torch.compile, and bad input."""
from __future__ import annotations

import pytest
import torch

from fastgan.ops import _backend as B
from fastgan.ops.cpu_conv import gemm as G

pytestmark = pytest.mark.skipif(B.unavailable_reason("cpu", "cpu") is not None, reason="C++ backend not built")
needs_native = pytest.mark.skipif(not (B.unavailable_reason("cpu", "cpu") is None and G.native_available()),
                                  reason="build without the AVX2/FMA GEMM")


def _ref(a, b):
    return torch.bmm(a.double(), b.double())


def _close(c, a, b):
    """float32 c against the float64 product, relative to the size of the terms summed."""
    r = _ref(a, b)
    scale = torch.bmm(a.double().abs(), b.double().abs()).clamp_min(1e-30)
    err = ((c.double() - r).abs() / scale).max().item() if c.numel() else 0.0
    assert err < 4 * a.shape[2] ** 0.5 * 2 ** -24 + 1e-7, err


def _layout(t, how):
    """t [B, R, S] in a memory layout: row-major, column-major, batch-inner, or a strided slice."""
    if how == "row":
        return t.contiguous()
    if how == "col":
        return t.transpose(1, 2).contiguous().transpose(1, 2)
    if how == "batch_inner":  # the Winograd "channel" layout: [R][B][S]
        return t.permute(1, 0, 2).contiguous().permute(1, 0, 2)
    big = torch.zeros(t.shape[0], t.shape[1] * 2, t.shape[2] * 3, dtype=t.dtype)
    big[:, ::2, ::3] = t
    return big[:, ::2, ::3]


@needs_native
@pytest.mark.parametrize("nb,m,k,n", [
    (3, 6, 8, 16),      # exactly one register tile, one K step of the transposes
    (2, 13, 29, 37),    # partial row panel, partial column panel, K not a multiple of 8
    (5, 1, 1, 1),
    (1, 7, 300, 70),    # two K blocks (K > 256), columns past one 64-column block
    (2, 130, 600, 130),  # three K blocks, balanced
    (36, 20, 24, 72),   # many batch entries, a half panel at the end (72 = 4.5 x 16)
    (1, 64, 17, 200),
])
@pytest.mark.parametrize("la,lb", [("row", "row"), ("col", "batch_inner"), ("row", "col"), ("strided", "strided")])
def test_float32_matches_float64(nb, m, k, n, la, lb):
    torch.manual_seed(nb * 1000 + m + k + n)
    a = _layout(torch.randn(nb, m, k), la)
    b = _layout(torch.randn(nb, k, n), lb)
    c = G.bmm(a, b)
    assert c.shape == (nb, m, n) and c.is_contiguous() and c.dtype == torch.float32
    _close(c, a, b)


@needs_native
def test_expanded_operand_and_threads(monkeypatch):
    """A stride-0 batch (one weight for every sample: a 1x1 convolution), on 1 and 3 threads."""
    torch.manual_seed(0)
    w = torch.randn(1, 19, 33).expand(7, 19, 33)
    x = torch.randn(7, 33, 45)
    for t in (1, 3):
        monkeypatch.setattr(torch, "get_num_threads", lambda t=t: t)
        _close(G.bmm(w, x), w, x)


@needs_native
def test_large_values_are_not_flushed_or_clamped():
    a = torch.randn(2, 12, 40) * 1e15
    b = torch.randn(2, 40, 32) * 1e-20
    _close(G.bmm(a, b), a, b)


@needs_native
def test_empty_and_zero_k():
    a, b = torch.randn(2, 5, 0), torch.randn(2, 0, 7)
    c = G.bmm(a, b)
    assert c.shape == (2, 5, 7) and torch.equal(c, torch.zeros(2, 5, 7))
    assert G.bmm(torch.randn(0, 3, 4), torch.randn(0, 4, 5)).shape == (0, 3, 5)
    assert G.bmm(torch.randn(2, 0, 4), torch.randn(2, 4, 5)).shape == (2, 0, 5)


@needs_native
def test_native_switch_gives_torch_bmm(monkeypatch):
    torch.manual_seed(3)
    a, b = torch.randn(4, 30, 50), torch.randn(4, 50, 41)
    c = G.bmm(a, b)
    monkeypatch.setitem(G.NATIVE, "bmm", False)
    assert torch.equal(G.bmm(a, b), torch.bmm(a, b))
    _close(c, a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_structural_zeros_of_b(dtype):
    """k_valid / n_valid: b zero from row k and column n (the Winograd pad columns) gives the plain product,
    with the zero columns written; the gradient of a is exact and b's is exact off the declared zeros, to
    second order."""
    torch.manual_seed(7)
    nb, m, k, n, kv, nv = 3, 14, 40, 37, 29, 24
    a = torch.randn(nb, m, k, dtype=torch.float64)
    b = torch.zeros(nb, k, n, dtype=torch.float64)
    b[:, :kv, :nv] = torch.randn(nb, kv, nv, dtype=torch.float64)
    g = torch.randn(nb, m, n, dtype=torch.float64)
    g[:, :, nv:] = 0  # as the adjoint transforms write the pad columns of the gradients
    torch.testing.assert_close(G.bmm(a.to(dtype), b.to(dtype), kv, nv).double(), torch.bmm(a, b),
                               rtol=1e-5, atol=1e-5)

    def grads(a, b, g, fn):
        a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
        ga, gb = torch.autograd.grad(fn(a, b), (a, b), g, create_graph=True)
        (gga,) = torch.autograd.grad((gb[:, :kv, :nv] ** 2).sum() + (ga ** 3).sum(), a)
        return ga, gb[:, :kv, :nv], gga

    got = grads(a.to(dtype), b.to(dtype), g.to(dtype), lambda a, b: G.bmm(a, b, kv, nv))
    want = grads(a, b, g, torch.bmm)
    for x, y in zip(got, want):
        torch.testing.assert_close(x.double(), y, rtol=1e-4, atol=1e-4 * y.abs().max().item())


def test_gradients_float64_first_and_second_order():
    torch.manual_seed(4)
    a = torch.randn(3, 5, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 7, 4, dtype=torch.float64).transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()
    torch.autograd.gradcheck(G.bmm, (a, b))
    torch.autograd.gradgradcheck(G.bmm, (a, b))


@needs_native
def test_float32_gradients_and_double_backward_match_float64():
    torch.manual_seed(5)
    a64 = torch.randn(4, 21, 35, dtype=torch.float64)
    b64 = torch.randn(4, 35, 50, dtype=torch.float64)
    g64 = torch.randn(4, 21, 50, dtype=torch.float64)

    def grads(a, b, g):
        a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
        ga, gb = torch.autograd.grad(G.bmm(a, b) if a.dtype == torch.float32 else torch.bmm(a, b), (a, b), g,
                                     create_graph=True)
        # a second-order term, as R1 takes one: d/da of |gb|^2
        (gga,) = torch.autograd.grad((gb ** 2).sum(), a)
        return ga, gb, gga

    got = grads(a64.float(), b64.float(), g64.float())
    want = grads(a64, b64, g64)
    for x, y in zip(got, want):
        torch.testing.assert_close(x.double(), y, rtol=1e-4, atol=1e-4 * y.abs().max().item())


def test_opcheck():
    torch.library.opcheck(torch.ops.fastgan.bmm.default, (torch.randn(2, 9, 13), torch.randn(2, 13, 18), 13, 18))
    torch.library.opcheck(torch.ops.fastgan.bmm.default,
                          (torch.randn(2, 13, 9).transpose(1, 2), torch.randn(2, 18, 13).transpose(1, 2), 10, 11))


def test_torch_compile_fullgraph():
    torch.manual_seed(6)
    a, b = torch.randn(3, 10, 20), torch.randn(3, 20, 30)
    f = torch.compile(lambda a, b: G.bmm(a, b) * 2, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(f(a, b), 2 * G.bmm(a, b))


def test_bad_input():
    with pytest.raises(ValueError, match="a \\[B, M, K\\]"):
        G.bmm(torch.randn(3, 4), torch.randn(1, 4, 5))
    with pytest.raises(ValueError, match="b \\(1, 3, 5\\)"):
        G.bmm(torch.randn(1, 2, 4), torch.randn(1, 3, 5))
    with pytest.raises(ValueError, match="dtype"):
        G.bmm(torch.randn(1, 2, 4), torch.randn(1, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="dtype"):
        G.bmm(torch.randn(1, 2, 4).half(), torch.randn(1, 4, 5).half())
    with pytest.raises(ValueError, match="n_valid"):
        G.bmm(torch.randn(1, 2, 4), torch.randn(1, 4, 5), n_valid=-1)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("n,c,o,h,w", [(3, 5, 3, 7, 9), (2, 3, 17, 6, 5), (4, 33, 20, 4, 4)])
def test_cpu_backend_1x1_convolution_is_one_gemm(n, c, o, h, w, layout, monkeypatch):
    """The cpu backend's unpadded 1x1 float32 convolution (ToRGB, D's skips) goes through fastgan::bmm
    and matches float64 F.conv2d, values and both gradients."""
    import importlib

    mc = importlib.import_module("fastgan.ops.modulated_conv2d")
    calls = []
    real = G._bmm
    monkeypatch.setattr(G, "_bmm", lambda a, b, *args: calls.append(a.shape) or real(a, b, *args))
    torch.manual_seed(n * c + o)
    x = torch.randn(n, c, h, w)
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    wt = torch.randn(o, c, 1, 1, requires_grad=True)
    y = mc._conv_cpu(x, wt, [0, 0], 1)
    assert calls == [(n, o, c)]
    x64, w64 = x.detach().double().requires_grad_(), wt.detach().double().requires_grad_()
    r = torch.nn.functional.conv2d(x64, w64)
    torch.testing.assert_close(y.double(), r, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(r)
    gx, gw = torch.autograd.grad(y, (x, wt), g.float())
    rx, rw = torch.autograd.grad(r, (x64, w64), g)
    torch.testing.assert_close(gx.double(), rx, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gw.double(), rw, rtol=1e-5, atol=1e-4)
