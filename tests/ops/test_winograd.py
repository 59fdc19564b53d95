"""Winograd F(4x4, 3x3) convolution (fastgan.ops.cpu_conv.winograd): values and gradients of every order against
PyTorch's direct convolution in float64, the float32 error bound, layouts, odd shapes and paddings, the
transforms' adjoint identities, opcheck, torch.compile, the cpu backend's use of it, and bad input."""
from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F

from fastgan.ops import _backend as B
from fastgan.ops.cpu_conv import winograd as W

from .helpers import LAYOUTS, randn

mc = importlib.import_module("fastgan.ops.modulated_conv2d")

pytestmark = pytest.mark.skipif(B.unavailable_reason("cpu", "cpu") is not None, reason="C++ backend not built")


def _ref(x, w, padding):
    return F.conv2d(x.double(), w.double(), padding=padding)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape,o,padding", [
    ((2, 3, 7, 9), 5, 1),     # partial tiles on both axes
    ((3, 4, 5, 5), 2, 0),     # no padding
    ((1, 2, 11, 6), 3, 2),    # padding 2
    ((2, 5, 8, 8), 4, (1, 0)),  # different padding per axis
    ((1, 1, 3, 3), 1, 0),     # a single output pixel
    ((4, 7, 13, 17), 6, 1),
])
def test_forward_backward_float64(shape, o, padding, layout):
    torch.manual_seed(1)
    x = randn(*shape, dtype=torch.float64, layout=layout, requires_grad=True)
    w = randn(o, shape[1], 3, 3, dtype=torch.float64, requires_grad=True)
    y = W.conv2d_3x3(x, w, padding)
    r = _ref(x, w, padding)
    torch.testing.assert_close(y, r, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(r)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    rx, rw = torch.autograd.grad(r, (x, w), g)
    torch.testing.assert_close(gx, rx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw, rw, rtol=1e-12, atol=1e-11)


def test_gradcheck_gradgradcheck():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    for p in (0, 1, (2, 1)):
        fn = lambda a, b: W.conv2d_3x3(a, b, p)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, w))
        assert torch.autograd.gradgradcheck(fn, (x, w))


def test_second_order_matches_direct_conv():
    """R1-style double backward: d/dw of ||d conv / dx||^2 equals the direct convolution's."""
    torch.manual_seed(3)
    x = torch.randn(3, 4, 9, 10, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64, requires_grad=True)

    def penalty(conv):
        y = conv(x, w)
        (gx,) = torch.autograd.grad(torch.tanh(y).sum(), x, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), w)[0]

    torch.testing.assert_close(penalty(lambda a, b: W.conv2d_3x3(a, b, 1)),
                               penalty(lambda a, b: F.conv2d(a, b, padding=1)), rtol=1e-10, atol=1e-10)


def _textbook_f43(x, w, dtype):
    """Lavin & Gray's F(4x4,3x3) (points 0, +-1, +-2, inf), every step in `dtype`, padding 1: the yardstick for
    the algorithm's own float32 rounding, which is an order of magnitude above a direct convolution's."""
    BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=dtype)
    G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                      [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=dtype)
    AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=dtype)
    n, c, h, wd = x.shape
    th, tw = -(-h // 4), -(-wd // 4)
    xp = F.pad(x.to(dtype), (1, 4 * tw + 1 - wd, 1, 4 * th + 1 - h))
    d = xp.unfold(2, 6, 4).unfold(3, 6, 4)                      # n c th tw 6 6
    V = torch.einsum("ij,nctwjk,lk->nctwil", BT, d, BT)
    U = torch.einsum("ij,ocjk,lk->ocil", G, w.to(dtype), G)
    M = torch.einsum("ocil,nctwil->notwil", U, V)
    Y = torch.einsum("ij,notwjk,lk->notwil", AT, M, AT)        # n o th tw 4 4
    return Y.permute(0, 1, 2, 4, 3, 5).reshape(n, -1, 4 * th, 4 * tw)[:, :, :h, :wd]



def test_textbook_winograd_is_exact_in_float64():
    torch.manual_seed(2)
    x, w = torch.randn(2, 5, 9, 11, dtype=torch.float64), torch.randn(3, 5, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(_textbook_f43(x, w, torch.float64), _ref(x, w, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,o,seed", [((4, 64, 16, 16), 48, 4), ((3, 37, 13, 19), 11, 1), ((2, 130, 8, 8), 7, 0)])
def test_float32_error_bound(shape, o, seed):
    """float32 Winograd stays within a small multiple of a textbook float32 F(4x4,3x3)'s rounding error (not a
    direct convolution's: oneDNN's blocked float32 sums are ~20x more accurate than any F(4x4,3x3))."""
    torch.manual_seed(seed)
    x = torch.randn(*shape)
    w = torch.randn(o, shape[1], 3, 3) / (3 * shape[1] ** 0.5)
    r = _ref(x, w, 1)
    scale = r.abs().max()
    err_w = ((W.conv2d_3x3(x, w, 1).double() - r).abs().max() / scale).item()
    err_t = ((_textbook_f43(x, w, torch.float32).double() - r).abs().max() / scale).item()
    assert err_w < 2e-5, err_w
    assert err_w < 2 * err_t, (err_w, err_t)


def test_transforms_adjoint_identities():
    """<T x, v> == <x, T* v> for both transforms (the backward is the adjoint)."""
    torch.manual_seed(5)
    n, c, h, w, ph, pw = 2, 3, 9, 7, 1, 2
    oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
    th, tw = -(-oh // 4), -(-ow // 4)
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    v = torch.randn(36, c, W.padded_cols(n * th * tw), dtype=torch.float64)
    v[:, :, n * th * tw:] = 0  # the pad columns: zero by contract
    lhs = (W._input_op(x, ph, pw, th, tw) * v).sum()
    rhs = (x * W._input_adj_op(v, n, h, w, ph, pw, th, tw)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)
    m = torch.randn(36, 4, W.padded_cols(n * th * tw), dtype=torch.float64)
    m[:, :, n * th * tw:] = 0
    dy = torch.randn(n, 4, oh, ow, dtype=torch.float64)
    torch.testing.assert_close((W._output_op(m, n, oh, ow, th, tw) * dy).sum(),
                               (m * W._output_adj_op(dy, th, tw)).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pad_columns_written_zero_over_nan_memory(dtype, monkeypatch):
    """The kernels that write transformed tensors zero the pad columns themselves (a NaN there would turn the
    weight gradient's sum over the columns into NaN): their outputs are handed over NaN-filled."""
    torch.manual_seed(6)
    n, c, h, w = 2, 3, 9, 7
    th, tw = -(-h // 4), -(-w // 4)
    x = torch.randn(n, c, h, w, dtype=dtype)
    dy = torch.randn(n, c, h, w, dtype=dtype)
    new = W._new_transformed
    monkeypatch.setattr(W, "_new_transformed", lambda like, cc, t: new(like, cc, t).fill_(float("nan")))
    for t in (W._input_op(x, 1, 1, th, tw), W._output_adj_op(dy, th, tw)):
        assert t.shape[2] == W.padded_cols(n * th * tw) > n * th * tw
        assert torch.isfinite(t).all()
        assert (t[:, :, n * th * tw:] == 0).all()


def test_padded_cols_agree_with_the_kernels():
    """The Python allocation and the C++ zeroing use the same column count: past t, a multiple of 8, at most 8 more."""
    cpp = B.native_module().wino_padded_cols
    for t in list(range(0, 70)) + [255, 256, 257, 1023, 1024, 1728, 5000]:
        p = W.padded_cols(t)
        assert p == cpp(t) and p % 8 == 0 and t < p <= t + 8, (t, p)


def test_weight_transform_matches_matrix_form_and_adjoint():
    torch.manual_seed(9)
    w = torch.randn(3, 4, 3, 3, dtype=torch.float64).transpose(0, 1)  # non-contiguous
    _, g, _ = W.matrices()
    u = W.weight_transform(w)
    torch.testing.assert_close(u, (g @ w @ g.t()).permute(2, 3, 0, 1).reshape(36, 4, 3), rtol=1e-13, atol=1e-13)
    du = torch.randn_like(u)
    torch.testing.assert_close((u * du).sum(), (w * W._weight_adj_op(du)).sum(), rtol=1e-12, atol=1e-12)


def test_input_transform_matches_matrix_form():
    """V of one window equals B^T d B computed with the matrices (independent of the C++ code)."""
    torch.manual_seed(6)
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    bt, _, _ = W.matrices()
    v = W._input_op(x, 0, 0, 1, 1)
    assert (v[:, :, 1:] == 0).all()  # the pad columns
    v = v[:, :, :1].reshape(6, 6)
    torch.testing.assert_close(v, bt @ x[0, 0] @ bt.t(), rtol=1e-13, atol=1e-13)


def test_opcheck():
    x = torch.randn(2, 3, 6, 5)
    th, tw = 2, 1
    torch.library.opcheck(torch.ops.fastgan.wino_input.default, (x, 1, 1, th, tw))
    torch.library.opcheck(torch.ops.fastgan.wino_input_adjoint.default,
                          (torch.randn(36, 3, W.padded_cols(2 * th * tw)), 2, 6, 5, 1, 1, th, tw))
    torch.library.opcheck(torch.ops.fastgan.wino_output.default,
                          (torch.randn(36, 4, W.padded_cols(2 * th * tw)), 2, 6, 3, th, tw))
    torch.library.opcheck(torch.ops.fastgan.wino_output_adjoint.default, (torch.randn(2, 4, 6, 3), th, tw))
    torch.library.opcheck(torch.ops.fastgan.wino_weight.default, (torch.randn(4, 3, 3, 3),))
    torch.library.opcheck(torch.ops.fastgan.wino_weight_adjoint.default, (torch.randn(36, 4, 3),))


def test_torch_compile_fullgraph():
    torch.manual_seed(7)
    x = torch.randn(2, 3, 10, 9, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    fn = torch.compile(lambda a, b: W.conv2d_3x3(a, b, 1).square().sum(), fullgraph=True, backend="aot_eager")
    out = fn(x, w)
    gx, gw = torch.autograd.grad(out, (x, w))
    r = F.conv2d(x, w, padding=1).square().sum()
    rx, rw = torch.autograd.grad(r, (x, w))
    torch.testing.assert_close(out, r, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(gx, rx, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(gw, rw, rtol=1e-4, atol=1e-3)


def test_cpu_backend_uses_winograd_and_agrees(monkeypatch):
    """modulated_conv2d's cpu backend runs its 3x3 convolution through Winograd (and the switch works)."""
    calls = []
    real = W.conv2d_3x3
    monkeypatch.setattr(W, "conv2d_3x3", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(8)
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64)
    w = torch.randn(5, 6, 3, 3, dtype=torch.float64)
    s = torch.randn(2, 6, dtype=torch.float64)
    kw = dict(padding=1, fused_modconv=False, act="lrelu")
    y = mc.modulated_conv2d(x, w, s, impl="cpu", **kw)
    assert calls, "the cpu backend did not take the Winograd path"
    torch.testing.assert_close(y, mc.modulated_conv2d(x, w, s, impl="ref", **kw), rtol=1e-11, atol=1e-11)
    calls.clear()
    monkeypatch.setitem(mc.STRATEGY, "winograd", False)
    mc.modulated_conv2d(x, w, s, impl="cpu", **kw)
    assert not calls


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_other_dtypes_fall_back(dtype):
    x = torch.randn(1, 2, 5, 5).to(dtype)
    w = torch.randn(3, 2, 3, 3).to(dtype)
    assert not W.supported(x, w)
    y = mc.conv2d_resample(x, w, padding=1, impl="cpu")
    torch.testing.assert_close(y.double(), _ref(x, w, 1), rtol=2e-2, atol=5e-2)


def test_bad_input():
    x = torch.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match="3, 3"):
        W.conv2d_3x3(x, torch.randn(3, 2, 5, 5))
    with pytest.raises(ValueError, match="padding"):
        W.conv2d_3x3(x, torch.randn(3, 2, 3, 3), (-1, 0))
    with pytest.raises(ValueError, match="empty output"):
        W.conv2d_3x3(torch.randn(1, 2, 2, 2), torch.randn(3, 2, 3, 3), 0)
    with pytest.raises(ValueError, match="float32"):
        W.conv2d_3x3(x.half(), torch.randn(3, 2, 3, 3).half())


def test_direct_dispatch_is_bitwise_the_registered_ops():
    """The eager direct route (fastgan.ops._dispatch) and the registered ops give identical values and
    gradients of the first and second order."""
    from fastgan.ops import _dispatch

    def run():
        torch.manual_seed(10)
        x = torch.randn(2, 3, 7, 9, requires_grad=True)
        w = torch.randn(4, 3, 3, 3, requires_grad=True)
        y = W.conv2d_3x3(x, w, 1)
        gx, gw = torch.autograd.grad(y, (x, w), torch.randn_like(y), create_graph=True)
        ggx, ggw = torch.autograd.grad(gx.square().sum() + gw.square().sum(), (x, w))
        return y, gx, gw, ggx, ggw

    with _dispatch.use_direct_dispatch(True):
        direct = run()
    assert type(direct[0].grad_fn).__name__ == "fastgan::wino_outputBackward"
    with _dispatch.use_direct_dispatch(False):
        registered = run()
    assert type(registered[0].grad_fn).__name__.startswith("GeneratedBackwardFor_fastgan_wino_output")
    for a, b in zip(direct, registered):
        assert torch.equal(a, b)


@pytest.mark.parametrize("n", [8, 11, 16, 19])
def test_float32_batches_through_the_vector_transposes(n):
    """float32 batches of 8 or more go through the kernels' 8x8 AVX transposes between sample rows and the
    batch-innermost buffers (whole blocks, and leftover samples and columns): values and both gradients
    against float64, on channels_last input with a plane width that is not a multiple of 8."""
    torch.manual_seed(n)
    x = randn(n, 3, 13, 11, dtype=torch.float32, layout="channels_last", requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float32, requires_grad=True)
    dy = torch.randn(n, 4, 13, 11, dtype=torch.float64)
    y = W.conv2d_3x3(x, w, 1)
    gx, gw = torch.autograd.grad(y, (x, w), dy.float())
    xd, wd = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    r = _ref(xd, wd, 1)
    rx, rw = torch.autograd.grad(r, (xd, wd), dy)
    torch.testing.assert_close(y.double(), r, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gx.double(), rx, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gw.double(), rw, rtol=1e-4, atol=2e-4)
