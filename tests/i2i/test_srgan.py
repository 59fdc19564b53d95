"""SRGAN's networks against the paper's layer lists and an independent functional forward, its
losses against hand formulas, the VGG19 extractor against torchvision's layout."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastgan.models.srgan import (
    ContentLoss, SRDiscriminator, SRResNet, discriminator_loss, icnr_, perceptual_loss, upsample_stages,
)
from fastgan.models.vgg import VGG19_LAYERS, VGG19Features


def conv(k, ci, co):
    return k * k * ci * co + co


def test_srresnet_parameter_count_full_size():
    G = SRResNet(3, scale=4, n_blocks=16, width=64)
    block = 2 * conv(3, 64, 64) + 2 * (2 * 64) + 1                      # conv-BN-PReLU-conv-BN
    expected = (conv(9, 3, 64) + 1 + 16 * block + conv(3, 64, 64) + 2 * 64
                + 2 * (conv(3, 64, 256) + 1) + conv(9, 256 // 4, 3))    # two x2 stages, 9x9 to RGB
    assert sum(p.numel() for p in G.parameters()) == expected


def test_discriminator_parameter_count_full_size():
    D = SRDiscriminator(3, hr_size=96, width=64, depth=4, fc=1024)
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    expected = sum(conv(3, ci, co) for ci, co in convs) + sum(2 * co for _, co in convs[1:])  # BN on all but k3n64s1
    expected += (512 * 6 * 6) * 1024 + 1024 + 1024 + 1                 # dense 1024, dense 1
    assert sum(p.numel() for p in D.parameters()) == expected


def pixel_shuffle(x, r):   # the definition: channel c*r*r + i*r + j goes to (h*r + i, w*r + j)
    n, c, h, w = x.shape
    return x.view(n, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


def _randomise(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
        for p in module.parameters():
            p.normal_(0, 0.2)


def bn(x, m):
    return (x - m.running_mean.view(1, -1, 1, 1)) / torch.sqrt(m.running_var.view(1, -1, 1, 1) + m.eps) \
        * m.weight.view(1, -1, 1, 1) + m.bias.view(1, -1, 1, 1)


def prelu(x, m):
    return torch.where(x >= 0, x, m.weight * x)


def srresnet_reference(G, x, stages):
    mods = list(G.modules())
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    bns = [m for m in mods if isinstance(m, nn.BatchNorm2d)]
    prelus = [m for m in mods if isinstance(m, nn.PReLU)]
    c = lambda h, m: F.conv2d(h, m.weight, m.bias, padding=m.kernel_size[0] // 2)  # noqa: E731
    head = prelu(c(x, convs[0]), prelus[0])
    h, ci, bi = head, 1, 0
    for b in range((len(bns) - 1) // 2):            # 2 BN per block, one after the body
        r = prelu(bn(c(h, convs[ci]), bns[bi]), prelus[1 + b])
        h = h + bn(c(r, convs[ci + 1]), bns[bi + 1])
        ci, bi = ci + 2, bi + 2
    h = head + bn(c(h, convs[ci]), bns[bi])
    ci += 1
    for k, f in enumerate(stages):
        h = prelu(pixel_shuffle(c(h, convs[ci]), f), prelus[len(prelus) - len(stages) + k])
        ci += 1
    return c(h, convs[ci])


@pytest.mark.parametrize("scale,n_blocks", [(2, 2), (3, 1), (4, 3), (8, 0)])
def test_srresnet_matches_functional_reference(scale, n_blocks):
    G = SRResNet(3, scale=scale, n_blocks=n_blocks, width=8).double()
    _randomise(G)
    G.eval()
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    y = G(x)
    assert y.shape == (2, 3, 5 * scale, 7 * scale)
    torch.testing.assert_close(y, srresnet_reference(G, x, upsample_stages(scale)), rtol=1e-10, atol=1e-10)


def test_discriminator_matches_functional_reference():
    D = SRDiscriminator(1, hr_size=24, width=4, depth=3, fc=16).double()
    _randomise(D)
    D.eval()
    x = torch.randn(3, 1, 24, 24, dtype=torch.float64)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    lin = [m for m in D.modules() if isinstance(m, nn.Linear)]
    h = F.leaky_relu(F.conv2d(x, convs[0].weight, convs[0].bias, padding=1), 0.2)
    for i, m in enumerate(convs[1:]):
        h = F.leaky_relu(bn(F.conv2d(h, m.weight, m.bias, stride=2 if i % 2 == 0 else 1, padding=1), bns[i]), 0.2)
    assert h.shape == (3, 16, 3, 3)
    h = F.leaky_relu(h.flatten(1) @ lin[0].weight.T + lin[0].bias, 0.2) @ lin[1].weight.T + lin[1].bias
    torch.testing.assert_close(D(x), h, rtol=1e-10, atol=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="power of two"):
        SRResNet(scale=6)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        SRResNet(width=4, n_blocks=1)(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="skip must be one of"):
        SRResNet(skip="bilinear")
    with pytest.raises(ValueError, match="up_init must be one of"):
        SRResNet(up_init="kaiming")
    with pytest.raises(ValueError, match=r"out_channels \(10\) must be a multiple of factor\*\*2 = 4"):
        icnr_(nn.Conv2d(3, 10, 3), 2)
    with pytest.raises(ValueError, match="multiple of 2\\*\\*depth = 16"):
        SRDiscriminator(hr_size=40)
    with pytest.raises(ValueError, match=r"\[N, 3, 32, 32\]"):
        SRDiscriminator(hr_size=32, width=2, depth=2, fc=4)(torch.randn(1, 3, 48, 48))


# -- losses -------------------------------------------------------------------------------

class _Feat(nn.Module):     # a feature net with dropout and BN: eval mode makes it deterministic
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        return self.net(x), "logits"


def test_content_loss_pixels_and_frozen_features():
    rng = np.random.default_rng(0)
    sr_np, hr_np = rng.normal(size=(2, 3, 9, 11)), rng.normal(size=(2, 3, 9, 11))
    assert ContentLoss()(torch.from_numpy(sr_np), torch.from_numpy(hr_np)).item() == \
        pytest.approx(np.mean((sr_np - hr_np) ** 2), rel=1e-12)
    feat = _Feat().double()
    _randomise(feat)
    loss_fn = ContentLoss(feat, feature_scale=1 / 12.75).train()
    assert not feat.training and not any(p.requires_grad for p in feat.parameters())
    sr = torch.from_numpy(sr_np).requires_grad_()
    loss = loss_fn(sr, torch.from_numpy(hr_np))
    with torch.no_grad():
        diff = feat(sr)[0] - feat(torch.from_numpy(hr_np))[0]
    assert loss.item() == pytest.approx(diff.square().mean().item() / 12.75 ** 2, rel=1e-12)
    loss.backward()
    assert sr.grad.abs().sum() > 0 and all(p.grad is None for p in feat.parameters())
    with pytest.raises(ValueError, match="same shape"):
        loss_fn(sr, torch.from_numpy(hr_np)[:, :, 1:])


def test_adversarial_weighting_and_d_loss():
    rng = np.random.default_rng(1)
    fake, real = rng.normal(size=(6, 1)), rng.normal(size=(6, 1))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    content = torch.tensor(0.37, dtype=torch.float64)
    loss, terms = perceptual_loss(content, torch.from_numpy(fake))
    assert loss.item() == pytest.approx(0.37 + 1e-3 * np.mean(-np.log(sig(fake))), rel=1e-12)
    assert terms["adv"].item() == pytest.approx(np.mean(-np.log(sig(fake))), rel=1e-12)
    d = discriminator_loss(torch.from_numpy(real), torch.from_numpy(fake)).item()
    assert d == pytest.approx(np.mean(-np.log(sig(real))) + np.mean(-np.log(1 - sig(fake))), rel=1e-12)


# -- VGG19 --------------------------------------------------------------------------------

def test_vgg19_layers_follow_torchvision():
    tv = pytest.importorskip("torchvision", reason="torchvision comes with the test extras (pytorch-fid)")
    with torch.device("meta"):      # the layout only: no 143M-parameter initialisation
        ref = tv.models.vgg19(weights=None).features
    ours = VGG19Features(None, layer="relu5_4").features
    assert len(ours) == VGG19_LAYERS["relu5_4"] + 1 == 36
    for a, b in zip(ours, ref):
        assert type(a) is type(b)
        if isinstance(a, nn.Conv2d):
            assert a.weight.shape == b.weight.shape and a.padding == b.padding


def test_vgg19_loads_checked_weights_and_matches_torchvision(tmp_path):
    tv = pytest.importorskip("torchvision", reason="torchvision comes with the test extras (pytorch-fid)")
    ref = tv.models.vgg.make_layers(tv.models.vgg.cfgs["E"])[:9].double().eval()   # VGG19's, up to relu2_2
    path = tmp_path / "vgg.pth"
    torch.save({f"features.{k}": v.float() for k, v in ref.state_dict().items()}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ours = VGG19Features(path, sha256=digest, layer="relu2_2").double()
    x = torch.rand(2, 3, 20, 18, dtype=torch.float64) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    want = ref.float().double()(((x + 1) / 2 - mean) / std)
    torch.testing.assert_close(ours(x), want, rtol=1e-6, atol=1e-6)
    grey = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(ours(grey), ours(grey.expand(-1, 3, -1, -1)))
    with pytest.raises(ValueError, match=f"does not match the expected {'0' * 64}"):
        VGG19Features(path, sha256="0" * 64, layer="relu2_2")
    with pytest.raises(ValueError, match="full 64-hex digest"):
        VGG19Features(path, sha256=digest[:8], layer="relu2_2")
    with pytest.raises(ValueError, match="missing features.10.weight"):
        VGG19Features(path, sha256=digest, layer="relu3_1")
    with pytest.raises(ValueError, match="layer must be one of"):
        VGG19Features(None, layer="relu6_1")


def test_full_size_shapes_on_meta_tensors():
    with torch.device("meta"):
        assert SRResNet(3, 4, 16, 64)(torch.empty(2, 3, 24, 24)).shape == (2, 3, 96, 96)
        assert SRDiscriminator(3, 96)(torch.empty(2, 3, 96, 96)).shape == (2, 1)


def keys_bicubic_upscale(x: np.ndarray, scale: int, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution (a = -0.75), half-pixel centres, edges replicated: float64, by hand."""
    def kernel(t):
        t = np.abs(t)
        return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                        np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))

    def matrix(n):   # [n * scale, n]: output sample i from inputs j
        m = np.zeros((n * scale, n))
        for i in range(n * scale):
            src = (i + 0.5) / scale - 0.5
            base = int(np.floor(src))
            for j in range(base - 1, base + 3):
                m[i, min(max(j, 0), n - 1)] += kernel(src - j)
        return m

    h, w = x.shape[-2:]
    return np.einsum("ij,ncjk,lk->ncil", matrix(h), x, matrix(w))


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_skip_starts_at_bicubic_and_learns(scale):
    torch.manual_seed(0)
    G = SRResNet(3, scale=scale, n_blocks=1, width=8, skip="bicubic").double()
    x = torch.rand(2, 3, 7, 5, dtype=torch.float64) * 2 - 1
    x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)          # channels_last input
    np.testing.assert_allclose(G(x).detach().numpy(), keys_bicubic_upscale(x.numpy(), scale), rtol=0, atol=1e-12)
    # the zero-initialised tail still learns: one SGD step moves the output off bicubic towards the target
    target = torch.randn(2, 3, 7 * scale, 5 * scale, dtype=torch.float64)
    loss = lambda: F.mse_loss(G(x), target)   # noqa: E731
    before = loss().item()
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    loss().backward()
    assert G.tail.weight.grad.abs().sum() > 0
    opt.step()
    assert loss().item() < before


@pytest.mark.parametrize("factor,bias", [(2, True), (3, True), (2, False)])
def test_icnr_starts_as_a_small_conv_then_nearest_upsampling(factor, bias):
    """ICNR: conv + PixelShuffle(f) equals, at initialisation, a conv with 1/f^2 of the outputs followed by
    nearest-neighbour upsampling: every f x f output block is constant (no checkerboard)."""
    torch.manual_seed(0)
    conv = icnr_(nn.Conv2d(5, 3 * factor * factor, 3, padding=1, bias=bias).double(), factor)
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64).to(memory_format=torch.channels_last)
    y = F.pixel_shuffle(conv(x), factor)
    w = conv.weight.detach()[::factor * factor]     # one kernel per PixelShuffle output channel
    b = conv.bias.detach()[::factor * factor] if bias else None
    small = F.conv2d(x.contiguous(), w, b, padding=1)
    torch.testing.assert_close(y, F.interpolate(small, scale_factor=factor, mode="nearest"), rtol=0, atol=1e-12)
    # the kernel is drawn as PyTorch draws one of a conv with fan-in 5 * 3 * 3: uniform within 1/sqrt(45)
    assert w.abs().max() <= 45 ** -0.5 and w.std() > 0.25 * 45 ** -0.5
    # and the init is only a start: one step on a random target breaks the blocks apart
    target = torch.randn_like(y)
    F.mse_loss(F.pixel_shuffle(conv(x), factor), target).backward()
    with torch.no_grad():
        conv.weight -= 0.5 * conv.weight.grad
    y2 = F.pixel_shuffle(conv(x), factor)
    assert (y2 - y2[:, :, ::factor, ::factor].repeat_interleave(factor, 2).repeat_interleave(factor, 3)).abs().max() > 1e-3


def test_srresnet_icnr_upsampling_convs():
    torch.manual_seed(0)
    G = SRResNet(3, scale=4, n_blocks=1, width=8, up_init="icnr")
    convs = [m for m in G.upsample if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2
    for c in convs:      # out channel c * 4 + k of the conv feeds output channel c of PixelShuffle(2)
        w = c.weight.detach().view(8, 4, 8, 3, 3)
        assert torch.equal(w, w[:, :1].expand_as(w)) and not torch.equal(w[0, 0], w[1, 0])
