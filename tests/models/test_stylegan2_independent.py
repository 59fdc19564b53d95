"""StyleGAN2's G and D against an independent plain-PyTorch computation written from the paper's
equations (no fastgan.ops, no fastgan.nn): per-sample modulated/demodulated kernels, explicit zero
insertion and [1,3,3,1] FIR filtering, per-group minibatch std.  The ref-vs-cpu test compares two
backends of the same composition; this one checks the composition itself, on both backends, in
float64.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from fastgan import ops

from fastgan.models import stylegan2_networks as nets

SQRT2 = math.sqrt(2.0)
K1 = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
FIR = torch.outer(K1, K1) / 64.0  # [1,3,3,1] x [1,3,3,1], unit sum


def lrelu(x, clamp=None):
    y = F.leaky_relu(x, 0.2) * SQRT2
    return y if clamp is None else y.clamp(-clamp, clamp)


def fir(x, pad, gain=1.0):
    """Pad (x0, x1, y0, y1) then filter every channel with the 4x4 FIR kernel times gain."""
    c = x.shape[1]
    x = F.pad(x, pad)
    return F.conv2d(x, (FIR * gain).to(x.dtype)[None, None].repeat(c, 1, 1, 1), groups=c)


def zero_insert(x, trailing=True):
    """Every sample followed by a zero along H and W (the last one dropped when trailing=False)."""
    n, c, h, w = x.shape
    y = x.new_zeros(n, c, 2 * h, 2 * w)
    y[:, :, ::2, ::2] = x
    return y if trailing else y[:, :, :-1, :-1]


def up2_image(img):
    """The skip generator's RGB upsampling: zero insertion, then the FIR filter with gain 4."""
    return fir(zero_insert(img), (2, 1, 2, 1), gain=4.0)


def modconv(x, weight, s, demod, up=False):
    """Per sample: kernel W * s (along input channels), divided by its norm per output channel when
    demod; up: the transposed (true) convolution at stride 2 followed by the FIR filter (gain 4)."""
    out = []
    for n in range(x.shape[0]):
        wn = weight * s[n].reshape(1, -1, 1, 1)
        if demod:
            wn = wn / (wn.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        xn = x[n:n + 1]
        if up:
            y = F.conv2d(F.pad(zero_insert(xn, trailing=False), [2, 2, 2, 2]), wn.flip([2, 3]))  # full true conv
            y = fir(y, (1, 1, 1, 1), gain=4.0)
        else:
            y = F.conv2d(xn, wn, padding=wn.shape[-1] // 2)
        out.append(y)
    return torch.cat(out)


def fc(layer, x, act):
    w = layer.weight * (layer.bias_gain / math.sqrt(layer.in_features))
    y = x @ w.t() + layer.bias * layer.bias_gain
    return lrelu(y) if act else y


def synthesis_layer(layer, x, w, up=False):
    s = fc(layer.affine, w, act=False)
    y = modconv(x, layer.weight, s, demod=True, up=up)
    y = y + layer.noise_const * layer.noise_strength          # noise_mode="const"
    return lrelu(y + layer.bias.reshape(1, -1, 1, 1), layer.conv_clamp)


def torgb(layer, x, w):
    s = fc(layer.affine, w, act=False) / math.sqrt(layer.weight.shape[1])
    y = modconv(x, layer.weight, s, demod=False) + layer.bias.reshape(1, -1, 1, 1)
    return y if layer.conv_clamp is None else y.clamp(-layer.conv_clamp, layer.conv_clamp)


def generator(G, z):
    x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    for layer in G.mapping.fc:
        x = fc(layer, x, act=True)
    ws = [x] * G.num_ws
    img = h = None
    i = 0
    for b in G.synthesis.blocks:
        if b.cin == 0:
            h = b.const.unsqueeze(0).expand(z.shape[0], -1, -1, -1)
        else:
            h = synthesis_layer(b.conv0, h, ws[i], up=True)
            i += 1
        h = synthesis_layer(b.conv1, h, ws[i])
        rgb = torgb(b.torgb, h, ws[i + 1])
        img = rgb if img is None else up2_image(img) + rgb
    return img


def conv(layer, x, down=False, gain=1.0):
    """StyleGAN2's Conv2dLayer: equalized weight; down: FIR filter, then the stride-2 convolution."""
    w = layer.weight / math.sqrt(layer.weight[0].numel())
    k = w.shape[-1]
    if down:
        p = 2 if k == 3 else 1
        y = F.conv2d(fir(x, (p, p, p, p)), w, stride=2)
    else:
        y = F.conv2d(x, w, padding=k // 2)
    if layer.bias is not None:
        y = y + layer.bias.reshape(1, -1, 1, 1)
    return lrelu(y) * gain if layer.activation == "lrelu" else y * gain


def mbstd(x, group):
    n = x.shape[0]
    m = n // group
    stat = torch.empty(n, 1, *x.shape[2:], dtype=x.dtype)
    for j in range(m):
        idx = list(range(j, n, m))  # sample k is in group k mod (N / G)
        stat[idx] = (x[idx].var(0, unbiased=False) + 1e-8).sqrt().mean()
    return torch.cat([x, stat], 1)


def discriminator(D, img):
    x = None
    for b in D.blocks:
        if b.fromrgb is not None:
            x = conv(b.fromrgb, img)
        y = conv(b.skip, x, down=True, gain=math.sqrt(0.5))
        x = y + conv(b.conv1, conv(b.conv0, x), down=True, gain=math.sqrt(0.5))
    x = conv(D.conv, mbstd(x, D.mbstd_group))
    return fc(D.out, fc(D.fc, x.flatten(1), act=True), act=False)


def _build():
    torch.manual_seed(0)
    G = nets.Generator(16, 0, 16, 16, 1, mapping_layers=2, channel_base=128, channel_max=16).double()
    D = nets.Discriminator(0, 16, 1, channel_base=128, channel_max=16, mbstd_group=4).double()
    with torch.no_grad():  # trained-looking parameters: every term of the layers matters
        for name, p in list(G.named_parameters()) + list(D.named_parameters()):
            if p.dim() <= 1:
                p.add_(0.2 * torch.randn_like(p))
    return G.eval(), D.eval()


@pytest.mark.parametrize("backend", ["ref", "cpu"])
def test_generator_and_discriminator_match_independent_computation(backend):
    G, D = _build()
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with ops.use_backend(backend):
        img = G(z, noise_mode="const")
        logits = D(img)
    ind_img = generator(G, z)
    torch.testing.assert_close(img, ind_img, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(logits, discriminator(D, ind_img), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", ["ref", "cpu"])
def test_gradients_reach_every_generator_parameter_as_computed_independently(backend):
    """The G loss's gradients (affine styles included) equal those of the independent computation."""
    G, D = _build()
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with ops.use_backend(backend):
        loss = F.softplus(-D(G(z, noise_mode="const"))).mean()
    got = dict(zip([n for n, _ in G.named_parameters()], torch.autograd.grad(loss, list(G.parameters()))))
    loss_ind = F.softplus(-discriminator(D, generator(G, z))).mean()
    want = dict(zip([n for n, _ in G.named_parameters()], torch.autograd.grad(loss_ind, list(G.parameters()))))
    for name in got:
        torch.testing.assert_close(got[name], want[name], rtol=1e-8, atol=1e-10, msg=name)
    assert all(want[n].abs().max() > 0 for n in want if "affine" in n)


@pytest.mark.parametrize("backend", ["ref", "cpu"])
def test_conditional_projection_matches_the_ada_label_mapping(backend):
    """Conditional D: logits = <the output layer's features, cmap> / sqrt(cmap_dim), where cmap is the label's
    embedding (lr multiplier 1) normalised to unit second moment, then `mapping_layers` lrelu FC layers with
    the mapping network's lr multiplier 0.01 (StyleGAN2-ADA's z-less mapping network in D)."""
    torch.manual_seed(3)
    D = nets.Discriminator(5, 16, 1, channel_base=128, channel_max=16, mbstd_group=4, mapping_layers=2).double()
    with torch.no_grad():
        for p in D.parameters():
            if p.dim() <= 1:
                p.add_(0.2 * torch.randn_like(p))
    D.eval()
    img = torch.randn(8, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    c = F.one_hot(torch.arange(8) % 5, 5).double()
    feats = {}
    D.out.register_forward_hook(lambda m, i, o: feats.__setitem__("h", o))
    with ops.use_backend(backend):
        logits = D(img, c)

    def linear(layer, x, lr):
        return x @ (layer.weight * (lr / math.sqrt(layer.in_features))).t() + layer.bias * lr

    e = linear(D.c_embed, c, 1.0)
    e = e / (e.square().mean(dim=1, keepdim=True) + 1e-8).sqrt()
    assert len(D.c_mapping) == 2
    for layer in D.c_mapping:
        e = lrelu(linear(layer, e, 0.01))
    torch.testing.assert_close(feats["h"], discriminator(D, img), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(logits, (feats["h"] * e).sum(dim=1, keepdim=True) / math.sqrt(e.shape[1]),
                               rtol=1e-10, atol=1e-10)
