"""Layers of fastgan.nn built on upfirdn2d / modulated_conv2d / bias_act: each against a float64
composition of the reference ops; equalized learning rate; torch.compile of a layer."""
import math

import pytest
import torch

from fastgan import nn as fnn
from fastgan.ops import reference, setup_filter

F4 = setup_filter([1, 3, 3, 1]).double()


def _x(*shape, cl=False):
    x = torch.randn(*shape, dtype=torch.float64)
    return x.contiguous(memory_format=torch.channels_last) if cl else x


@pytest.mark.parametrize("cl", [False, True])
def test_resample_layers(cl):
    x = _x(2, 3, 8, 6, cl=cl)
    up, down, blur = fnn.Upsample2d().double(), fnn.Downsample2d().double(), fnn.Blur(padding=1, gain=2).double()
    torch.testing.assert_close(up(x), reference.upfirdn2d(x, F4, up=2, padding=[2, 1, 2, 1], gain=4))
    torch.testing.assert_close(down(x), reference.upfirdn2d(x, F4, down=2, padding=[1, 1, 1, 1]))
    torch.testing.assert_close(blur(x), reference.upfirdn2d(x, F4, padding=[3, 2, 3, 2], gain=2))
    assert up(x).shape == (2, 3, 16, 12) and down(x).shape == (2, 3, 4, 3) and blur(x).shape == (2, 3, 10, 8)
    assert "factor=2" in repr(up)


@pytest.mark.parametrize("act,lr", [("linear", 1.0), ("lrelu", 0.01)])
def test_equalized_linear(act, lr):
    layer = fnn.EqualizedLinear(7, 5, activation=act, lr_multiplier=lr, bias_init=0.5).double()
    assert layer.weight.std().item() == pytest.approx(1 / lr, rel=0.5)
    x = _x(4, 7)
    w = layer.weight * lr / math.sqrt(7)
    ref = reference.bias_act(x @ w.t(), layer.bias * lr, act=act)
    torch.testing.assert_close(layer(x), ref)
    # gradients reach the raw parameters scaled by the runtime gain
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None


@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("k", [1, 3])
def test_equalized_conv2d(up, down, k):
    layer = fnn.EqualizedConv2d(3, 4, k, activation="lrelu", up=up, down=down, conv_clamp=0.8, lr_multiplier=0.5)
    layer = layer.double()
    with torch.no_grad():
        layer.bias.normal_()
    x = _x(2, 3, 8, 8)
    y = layer(x, gain=2.0)
    w = layer.weight * 0.5 / math.sqrt(3 * k * k)
    c = reference.conv2d_resample(x, w, F4, up, down, k // 2, flip_weight=up == 1)
    ref = reference.bias_act(c, layer.bias * 0.5, act="lrelu", gain=math.sqrt(2) * 2, clamp=1.6)
    torch.testing.assert_close(y, ref)
    assert y.shape[2] == 8 * up // down


def _mod_ref(layer, x, w, noise, demodulate=True, gain=1.0):
    styles = layer.affine(w)
    clamp = None if layer.conv_clamp is None else layer.conv_clamp * gain
    return reference.modulated_conv2d(x, layer.weight, styles, noise, up=layer.up, padding=layer.padding,
                                      resample_filter=F4, demodulate=demodulate, flip_weight=layer.up == 1,
                                      bias=layer.bias, act="lrelu", gain=gain, clamp=clamp)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("fused_modconv", [None, True, False])
@pytest.mark.parametrize("cl", [False, True])
def test_modulated_conv2d_layer(up, fused_modconv, cl):
    res = 6 * up
    layer = fnn.ModulatedConv2d(3, 4, w_dim=5, up=up, resolution=res, conv_clamp=3.0).double()
    assert torch.equal(layer.affine.bias, torch.ones(3, dtype=torch.float64))  # affine bias starts at 1
    with torch.no_grad():
        layer.noise_strength.fill_(0.7)
        layer.bias.normal_()
    x, w = _x(2, 3, 6, 6, cl=cl), _x(2, 5)
    y = layer(x, w, noise_mode="const", fused_modconv=fused_modconv, gain=1.5)
    torch.testing.assert_close(y, _mod_ref(layer, x, w, layer.noise_const * 0.7, gain=1.5))
    assert y.shape == (2, 4, res, res)
    # random noise is drawn fresh and scaled by the learned strength
    y1, y2 = layer(x, w), layer(x, w)
    assert not torch.equal(y1, y2)
    torch.testing.assert_close(layer(x, w, noise_mode="none"), _mod_ref(layer, x, w, None))
    # gradients reach the noise strength, the affine and the weight
    layer(x, w, noise_mode="random").square().sum().backward()
    for p in (layer.noise_strength, layer.affine.weight, layer.weight, layer.bias):
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_to_rgb():
    layer = fnn.ToRGB(4, 3, w_dim=5, conv_clamp=2.0).double()
    x, w = _x(2, 4, 5, 5), _x(2, 5)
    styles = layer.affine(w) / math.sqrt(4)
    ref = reference.modulated_conv2d(x, layer.weight, styles, demodulate=False, bias=layer.bias, clamp=2.0)
    for fused in (True, False):
        torch.testing.assert_close(layer(x, w, fused_modconv=fused), ref)


def test_bad_noise_mode():
    layer = fnn.ModulatedConv2d(3, 4, w_dim=5)
    with pytest.raises(ValueError, match="noise_mode"):
        layer(torch.randn(1, 3, 4, 4), torch.randn(1, 5), noise_mode="fixed")
    with pytest.raises(ValueError, match="resolution"):
        layer(torch.randn(1, 3, 4, 4), torch.randn(1, 5), noise_mode="const")


def test_torch_compile_fullgraph_layer():
    torch.manual_seed(0)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = fnn.ModulatedConv2d(3, 4, w_dim=5, up=2, resolution=8)
            self.rgb = fnn.ToRGB(4, 3, w_dim=5)
            self.down = fnn.EqualizedConv2d(3, 2, 3, activation="lrelu", down=2)

        def forward(self, x, w):
            y = self.conv(x, w, noise_mode="const", fused_modconv=False)
            return self.down(self.rgb(y, w, fused_modconv=True))

    m = Block()
    with torch.no_grad():
        m.conv.noise_strength.fill_(0.3)
    x, w = torch.randn(2, 3, 4, 4), torch.randn(2, 5, requires_grad=True)
    eager = m(x, w)
    ge = torch.autograd.grad(eager.square().sum(), (w, m.conv.weight, m.conv.noise_strength))
    torch._dynamo.reset()
    cm = torch.compile(m, fullgraph=True, backend="aot_eager")
    out = cm(x, w)
    gc = torch.autograd.grad(out.square().sum(), (w, m.conv.weight, m.conv.noise_strength))
    torch.testing.assert_close(out, eager)
    for a, b in zip(gc, ge):
        torch.testing.assert_close(a, b)
