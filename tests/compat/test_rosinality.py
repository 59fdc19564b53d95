"""fastgan.compat on the rosinality stand-in tree (`op` builds its extensions at import time)."""
import importlib
import sys

import pytest
import torch

import fastgan.compat as fc
from fastgan.compat import BlockedExtension

from .conftest import assert_matches_reference, image


@pytest.fixture
def ros_unpatched(rosinality_path, tripwire):
    """The stand-ins imported without a patch: their import-time build reaches cpp_extension.load (the tripwire)."""
    op = importlib.import_module("op")
    assert sorted(tripwire) == ["fused", "upfirdn2d"]
    return op


def test_imported_after_the_patch_nothing_is_built(rosinality_path, tripwire, spy):
    r = fc.patch("rosinality")
    assert set(r.pending) == {"op.fused_act", "op.upfirdn2d", "op.conv2d_gradfix"}
    model = importlib.import_module("model")
    fa, up = sys.modules["op.fused_act"], sys.modules["op.upfirdn2d"]
    assert tripwire == []  # cpp_extension.load was never reached
    assert isinstance(fa.fused, BlockedExtension) and isinstance(up.upfirdn2d_op, BlockedExtension)
    with pytest.raises(RuntimeError, match="never built"):
        fa.fused.fused_bias_act
    assert any("import-time cpp_extension.load('fused')" in b for b in r.blocked)
    assert {"op.fused_act.fused_leaky_relu", "op.fused_act.FusedLeakyReLU.forward", "op.upfirdn2d.upfirdn2d"} \
        <= set(r.replaced)
    # `from op import ...` in model.py bound the replacements
    assert model.upfirdn2d is up.upfirdn2d and model.fused_leaky_relu is fa.fused_leaky_relu
    net = model.TinyNet()
    x = torch.randn(2, 4, 6, 5, requires_grad=True)
    y = net(x)
    g, = torch.autograd.grad(y.sum(), x, create_graph=True)
    g.square().sum().backward()
    assert sum(fa.CALLS.values()) == 0 and sum(up.CALLS.values()) == 0
    assert spy["upfirdn2d"] == 2 and spy["bias_act"] == 2
    fc.unpatch()
    assert model.upfirdn2d is up.upfirdn2d and getattr(up.upfirdn2d, "_fastgan_impl", None) is None
    net(x)
    assert fa.CALLS["fused_leaky_relu"] > 0 and up.CALLS["upfirdn2d"] == 2


def test_patched_after_import_reports_the_earlier_build(ros_unpatched):
    model = importlib.import_module("model")
    r = fc.patch("rosinality")
    assert any("import-time JIT build had already run" in n for n in r.notes)
    assert model.upfirdn2d is sys.modules["op.upfirdn2d"].upfirdn2d  # rebound copies
    assert model.fused_leaky_relu._fastgan_impl == "auto"


@pytest.mark.parametrize("slope,scale,bias,shape", [(0.2, 2 ** 0.5, True, (3, 5, 4, 6)), (0.1, 1.3, False, (4, 7)),
                                                    (0.3, 2.0, True, (2, 6))])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_fused_leaky_relu(ros_unpatched, spy, ref, slope, scale, bias, shape, layout):
    fa = sys.modules["op.fused_act"]
    x = image(*shape, layout) if len(shape) == 4 else torch.randn(shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(shape[1], dtype=torch.float64, requires_grad=True) if bias else None
    inputs = [x, b] if bias else [x]
    fn = (lambda x, b=None: fa.fused_leaky_relu(x, b, slope, scale))
    expect = (lambda x, b=None: ref.bias_act(x, b, 1, "lrelu", slope, scale))
    assert_matches_reference(fn, expect, inputs)  # the stand-in original
    n = fa.CALLS["fused_leaky_relu"]
    fc.patch("rosinality")
    assert_matches_reference(fn, expect, inputs)
    assert fa.CALLS["fused_leaky_relu"] == n and spy["bias_act"] == 1


def test_fused_leaky_relu_module_instances_made_before_the_patch(ros_unpatched, spy, ref):
    act = ros_unpatched.FusedLeakyReLU(5, negative_slope=0.25, scale=1.5).double()
    with torch.no_grad():
        act.bias.normal_()
    x = image(2, 5, 3, 4, "strided")
    fc.patch("rosinality")
    assert_matches_reference(lambda x: act(x), lambda x: ref.bias_act(x, act.bias.detach(), 1, "lrelu", 0.25, 1.5),
                             [x])
    assert spy["bias_act"] == 1 and sys.modules["op.fused_act"].CALLS["FusedLeakyReLU.forward"] == 0


@pytest.mark.parametrize("up,down,pad", [(1, 1, (0, 0)), (2, 1, (2, 1)), (1, 2, (1, 1)), ((2, 1), (1, 2), (1, 2, 0, 3)),
                                         (2, 2, (-1, 2))])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
def test_upfirdn2d(ros_unpatched, spy, ref, up, down, pad, layout):
    """rosinality's pad=(p0, p1) pads p0 before and p1 after on both axes (NVIDIA's (px, py) differs)."""
    k = torch.tensor([[1.0, 2.0, 0.5], [3.0, -1.0, 2.0], [0.5, 1.0, 1.0]])
    x = image(2, 3, 7, 6, layout)
    padding = (pad[0], pad[1], pad[0], pad[1]) if len(pad) == 2 else pad
    fn = lambda x: ros_unpatched.upfirdn2d(x, k, up=up, down=down, pad=pad)  # noqa: E731
    expect = lambda x: ref.upfirdn2d(x, k.double(), up, down, padding)  # noqa: E731
    assert_matches_reference(fn, expect, [x])
    fc.patch("rosinality")
    fn = lambda x: sys.modules["op"].upfirdn2d(x, k, up=up, down=down, pad=pad)  # noqa: E731
    n = sys.modules["op.upfirdn2d"].CALLS["upfirdn2d"]
    assert_matches_reference(fn, expect, [x])
    assert spy["upfirdn2d"] == 1 and sys.modules["op.upfirdn2d"].CALLS["upfirdn2d"] == n
