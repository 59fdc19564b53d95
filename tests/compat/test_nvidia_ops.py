"""fastgan.compat on the NVIDIA stand-in tree: every op's values and gradients (to second order) against the
float64 reference, the stand-in originals against the same reference, and each call reaching fastgan."""
import math

import pytest
import torch

import fastgan.compat as fc

from .conftest import assert_matches_reference, image

LAYOUTS = ("contiguous", "channels_last", "strided")


def _both(nv, spy, module, name, run, expect_fastgan):
    """run() on the originals then patched; asserts who answered. Returns (original result, patched result)."""
    calls = getattr(nv, module).CALLS
    before = calls[name]
    a = run()
    assert calls[name] > before and sum(spy.values()) == 0
    fc.patch("stylegan2-ada")
    before = calls[name]
    b = run()
    assert calls[name] == before, f"{module}.{name} ran the original while patched"
    assert spy[expect_fastgan] > 0, f"{module}.{name} did not reach fastgan.{expect_fastgan}"
    return a, b


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_bias_act(nv, spy, ref, act, layout):
    x = image(3, 5, 4, 7, layout)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    alpha = 0.3 if act == "lrelu" else None
    kw = dict(act=act, alpha=alpha, gain=None if act != "tanh" else 1.7, clamp=0.9 if act == "swish" else None)
    expect = lambda x, b: ref.bias_act(x, b, 1, act, alpha, kw["gain"], kw["clamp"])  # noqa: E731
    run = lambda: assert_matches_reference(lambda x, b: nv.bias_act.bias_act(x, b, **kw), expect, [x, b])  # noqa: E731
    _both(nv, spy, "bias_act", "bias_act", run, "bias_act")


def test_bias_act_edge_cases_follow_the_original(nv, spy, ref):
    x = torch.randn(4, 6, dtype=torch.float64)
    originals = [nv.bias_act.bias_act(x, None, dim=7, act="lrelu"),  # dim is ignored without a bias
                 nv.bias_act.bias_act(x, act="elu", alpha=0.25),  # elu takes no alpha
                 nv.bias_act.bias_act(x, torch.randn(6, dtype=torch.float32), act="relu")]  # dtype promotion
    fc.patch("stylegan2-ada")
    x32 = x.to(torch.float32)
    b32 = torch.randn(6, dtype=torch.float32)
    patched = [nv.bias_act.bias_act(x, None, dim=7, act="lrelu"), nv.bias_act.bias_act(x, act="elu", alpha=0.25)]
    torch.testing.assert_close(patched[0], ref.bias_act(x, None, 1, "lrelu"), atol=1e-12, rtol=0)
    torch.testing.assert_close(patched[1], torch.nn.functional.elu(x), atol=1e-12, rtol=0)
    for a, b in zip(originals[:2], patched):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    n = spy["bias_act"]
    nv.bias_act.bias_act(x32, b32.double(), act="relu")  # mixed dtypes: the original's promotion
    assert spy["bias_act"] == n and nv.bias_act.CALLS["bias_act"] == 4
    with pytest.raises(ValueError, match="clamp"):
        nv.bias_act.bias_act(x, act="relu", clamp=-1.0)


F4 = [1.0, 3.0, 3.0, 1.0]


@pytest.mark.parametrize("up,down,padding,flip,gain,ftype", [
    (1, 1, 0, False, 1.0, "2d"), (2, 1, [2, 1, 2, 1], False, 4.0, "2d"), (1, 2, [1, 1], True, 1.0, "sep"),
    ((2, 1), (1, 2), [1, 2, 0, 3], False, 1.5, "2d"), (3, 2, [-1, 3, 2, -1], True, 2.0, "sep"),
    (1, 1, 1, False, 1.0, None),
])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_upfirdn2d(nv, spy, ref, up, down, padding, flip, gain, ftype, layout):
    f = None if ftype is None else torch.tensor(F4 if ftype == "sep" else [[1.0, 2.0, -1.0], [0.5, 3.0, 1.0]])
    x = image(2, 3, 7, 6, layout)
    kw = dict(up=up, down=down, padding=padding, flip_filter=flip, gain=gain)

    def run():
        assert_matches_reference(lambda x: nv.upfirdn2d.upfirdn2d(x, f, **kw),
                                  lambda x: ref.upfirdn2d(x, None if f is None else f.double(), up, down, padding, flip,
                                                          gain), [x])
    _both(nv, spy, "upfirdn2d", "upfirdn2d", run, "upfirdn2d")


def _centred(kind, f, s, padding):
    """The documented padding of filter2d / upsample2d / downsample2d for a filter of size (fw, fh)."""
    fw, fh = f.shape[-1], f.shape[0]
    x0, x1, y0, y1 = padding
    if kind == "filter2d":
        return [x0 + fw // 2, x1 + (fw - 1) // 2, y0 + fh // 2, y1 + (fh - 1) // 2]
    if kind == "upsample2d":
        return [x0 + (fw + s - 1) // 2, x1 + (fw - s) // 2, y0 + (fh + s - 1) // 2, y1 + (fh - s) // 2]
    return [x0 + (fw - s + 1) // 2, x1 + (fw - s) // 2, y0 + (fh - s + 1) // 2, y1 + (fh - s) // 2]


@pytest.mark.parametrize("kind", ["filter2d", "upsample2d", "downsample2d"])
@pytest.mark.parametrize("ftaps,padding,scale", [(F4, (0, 0, 0, 0), 2), ([1.0, 2.0, 1.0], (1, 0, -1, 2), 3),
                                                 (F4 * 2, (0, 1, 1, 0), 2)])
def test_resample_helpers(nv, spy, ref, kind, ftaps, padding, scale):
    f = nv.upfirdn2d.setup_filter(ftaps)
    x = image(2, 3, 9, 8, "channels_last")
    kw = {"up": scale} if kind == "upsample2d" else {"down": scale} if kind == "downsample2d" else {}
    p = _centred(kind, f, scale, padding)

    def expect(x):
        if kind == "upsample2d":
            return ref.upfirdn2d(x, f.double(), up=scale, padding=p, gain=scale * scale)
        return ref.upfirdn2d(x, f.double(), down=scale if kw else 1, padding=p)

    def run():
        assert_matches_reference(lambda x: getattr(nv.upfirdn2d, kind)(x, f, padding=list(padding), **kw), expect, [x])
    _both(nv, spy, "upfirdn2d", kind, run, kind)


@pytest.mark.parametrize("f,kw", [([1, 3, 3, 1], {}), ([1, 2, 1], dict(normalize=False, gain=3.0)),
                                  ([1, 2, 3, 4, 4, 3, 2, 1], dict(flip_filter=True)),
                                  ([[1, 2], [3, 5]], dict(gain=2.0)),
                                  (None, {}), (2.0, {}), ([1, 4, 6, 4, 1], dict(separable=True, gain=0.5))])
def test_setup_filter(nv, spy, f, kw):
    a, b = _both(nv, spy, "upfirdn2d", "setup_filter", lambda: nv.upfirdn2d.setup_filter(f, **kw), "setup_filter")
    assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape
    torch.testing.assert_close(a, b, atol=1e-7, rtol=0)


def test_setup_filter_normalises_a_float32_tensor_in_place_like_the_original(nv):
    t1, t2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    nv.upfirdn2d.setup_filter(t1)
    fc.patch("stylegan2-ada")
    nv.upfirdn2d.setup_filter(t2)
    torch.testing.assert_close(t1, torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
    torch.testing.assert_close(t2, t1)


@pytest.mark.parametrize("kh,up,down,padding,groups,flip_weight", [
    (3, 1, 1, 1, 1, True), (3, 2, 1, 1, 1, False), (3, 1, 2, 1, 1, True), (1, 2, 1, 0, 1, True),
    (1, 1, 2, 0, 1, True), (3, 1, 1, [1, 0, 2, 1], 1, True), (3, 2, 1, 1, 2, False), (4, 2, 2, [1, 2], 1, True),
])
def test_conv2d_resample(nv, spy, ref, kh, up, down, padding, groups, flip_weight):
    f = nv.upfirdn2d.setup_filter(F4)
    x = image(2, 4, 8, 7, "contiguous")
    w = torch.randn(6, 4 // groups, kh, kh, dtype=torch.float64, requires_grad=True)
    kw = dict(f=f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight)

    def run():
        assert_matches_reference(lambda x, w: nv.conv2d_resample.conv2d_resample(x, w, **kw),
                                 lambda x, w: ref.conv2d_resample(x, w, f.double(), up, down, padding, groups,
                                                                  flip_weight), [x, w], atol=1e-8)
    _both(nv, spy, "conv2d_resample", "conv2d_resample", run, "conv2d_resample")


@pytest.mark.parametrize("fused_modconv", [True, False])
@pytest.mark.parametrize("demodulate,up,noise", [(True, 1, True), (True, 2, True), (False, 1, False),
                                                 (True, 1, False), (False, 2, True)])
def test_modulated_conv2d(nv, spy, ref, fused_modconv, demodulate, up, noise):
    f = nv.upfirdn2d.setup_filter(F4)
    x = image(3, 4, 6, 5, "channels_last")
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    s = (torch.randn(3, 4, dtype=torch.float64) + 2).requires_grad_(True)
    oh, ow = 6 * up, 5 * up
    nz = torch.randn(3, 1, oh, ow, dtype=torch.float64) * 0.3 if noise else None
    kw = dict(noise=nz, up=up, padding=1, resample_filter=f, demodulate=demodulate, flip_weight=up == 1,
              fused_modconv=fused_modconv)

    def run():
        assert_matches_reference(
            lambda x, w, s: nv.networks.modulated_conv2d(x, w, s, **kw),
            lambda x, w, s: ref.modulated_conv2d(x, w, s, nz, up, 1, 1, f.double(), demodulate, up == 1,
                                                 fused_modconv), [x, w, s], atol=1e-8)
    _both(nv, spy, "networks", "modulated_conv2d", run, "modulated_conv2d")


def test_modulated_conv2d_per_channel_noise_runs_the_original(nv, spy):
    x, w, s = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3), torch.rand(2, 3) + 0.5
    noise = torch.randn(2, 4, 5, 5)  # not [N, 1, H, W]: fastgan's epilogue does not take it
    a = nv.networks.modulated_conv2d(x, w, s, noise=noise, padding=1, fused_modconv=False)
    fc.patch("stylegan2-ada")
    b = nv.networks.modulated_conv2d(x, w, s, noise=noise, padding=1, fused_modconv=False)
    assert spy["modulated_conv2d"] == 0
    torch.testing.assert_close(a, b)


def test_fma(nv, spy):
    a = torch.randn(3, 4, 5, 1, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 1, 6, dtype=torch.float64, requires_grad=True)
    c = torch.randn(1, 5, 6, dtype=torch.float64, requires_grad=True)
    expect = lambda a, b, c: a * b + c  # noqa: E731
    assert_matches_reference(nv.fma.fma, expect, [a, b, c])
    assert nv.fma.CALLS["fma"] > 0
    fc.patch("stylegan2-ada")
    n = nv.fma.CALLS["fma"]
    assert_matches_reference(nv.fma.fma, expect, [a, b, c])
    assert nv.fma.CALLS["fma"] == n


def test_float32_and_impl_argument(nv, spy, ref):
    """float32 on fastgan's default backend within float32 tolerance; the originals' impl='ref' runs fastgan's ref."""
    fc.patch("stylegan2-ada")
    x = torch.randn(2, 3, 9, 9)
    f = torch.tensor(F4)
    y = nv.upfirdn2d.upsample2d(x, f)
    torch.testing.assert_close(y.double(), ref.upfirdn2d(x.double(), f.double(), up=2, padding=[2, 1, 2, 1], gain=4),
                               atol=1e-5, rtol=1e-5)
    import fastgan.ops

    seen = []
    real = fastgan.ops.bias_act

    def record(*args, **kwargs):
        seen.append(kwargs["impl"])
        return real(*args, **kwargs)

    fastgan.ops.bias_act = record
    try:
        nv.bias_act.bias_act(x, impl="ref")
        nv.bias_act.bias_act(x, impl="cuda")
    finally:
        fastgan.ops.bias_act = real
    assert seen == ["ref", "auto"]
    with pytest.raises(AssertionError):
        nv.bias_act.bias_act(x, impl="triton")  # the original's own check


def test_whole_network_routes_every_call_to_fastgan(nv, spy):
    """A forward + R1-style double backward through a network of every op: no original runs while patched."""
    net = nv.networks.TinyNet()
    x = torch.randn(2, 5, 8, 8, requires_grad=True)
    w = torch.randn(2, 6)
    noise = torch.randn(2, 1, 16, 16)

    def step():
        y = net(x, w, noise)
        g, = torch.autograd.grad(y.sum(), x, create_graph=True)
        (y.sum() + g.square().sum()).backward()
        return y.detach()

    counters = [nv.bias_act.CALLS, nv.upfirdn2d.CALLS, nv.conv2d_resample.CALLS, nv.fma.CALLS, nv.networks.CALLS]
    y0 = step()
    assert all(sum(c.values()) > 0 for c in counters)
    with fc.patched("stylegan2-ada"):
        before = [dict(c) for c in counters]
        y1 = step()
        assert [dict(c) for c in counters] == before
    for name in ("bias_act", "upfirdn2d", "filter2d", "upsample2d", "downsample2d", "conv2d_resample",
                 "modulated_conv2d"):
        assert spy[name] > 0, name
    torch.testing.assert_close(y1, y0, atol=1e-4, rtol=1e-4)
    step()  # unpatched again: the originals run
    assert [dict(c) for c in counters] != before


def test_setup_filter_is_exact(nv):
    fc.patch("stylegan2-ada")
    f = nv.upfirdn2d.setup_filter([1, 2, 1], gain=4)
    torch.testing.assert_close(f, torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16 * 4)
    assert math.isclose(float(nv.upfirdn2d.setup_filter([1, 3, 3, 1]).sum()), 1.0, rel_tol=1e-6)
