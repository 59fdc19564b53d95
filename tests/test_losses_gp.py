"""The gradient-penalty loss helpers of fastgan.losses against the same penalties written with
plain autograd in float64: values and parameter gradients after .backward(), for a small
discriminator built from fastgan ops/layers (second order through bias_act, pixel_norm and
minibatch_std) and one built from plain torch layers."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastgan import losses
from fastgan.nn import MinibatchStd, PixelNorm
from fastgan.ops import bias_act, pixel_norm, use_backend


class FastD(nn.Module):
    """conv -> bias_act(lrelu) -> PixelNorm -> MinibatchStd -> conv -> bias_act(swish) -> pool -> linear."""

    def __init__(self, c=3, res=8):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(6, c, 3, 3) * 0.4)
        self.b1 = nn.Parameter(torch.randn(6) * 0.1)
        self.norm = PixelNorm()
        self.mbstd = MinibatchStd(group_size=4, num_channels=1)
        self.w2 = nn.Parameter(torch.randn(5, 7, 3, 3) * 0.3)
        self.b2 = nn.Parameter(torch.randn(5) * 0.1)
        self.fc = nn.Parameter(torch.randn(5 * (res // 2) ** 2, 1) * 0.2)

    def forward(self, x):
        x = bias_act(F.conv2d(x, self.w1, padding=1), self.b1, act="lrelu")
        x = self.mbstd(self.norm(x))
        x = bias_act(F.conv2d(x, self.w2, padding=1), self.b2, act="swish")
        return F.avg_pool2d(x, 2).flatten(1) @ self.fc


def plain_d(c=3, res=8):
    return nn.Sequential(nn.Conv2d(c, 6, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(6, 5, 3, padding=1),
                         nn.Softplus(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(5 * (res // 2) ** 2, 1))


class FastSynthesis(nn.Module):
    """ws [N, 3, 4] -> images [N, 2, 4, 4] through bias_act(tanh) and pixel_norm."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.randn(3, 4, 32) * 0.4)
        self.b = nn.Parameter(torch.randn(32) * 0.1)

    def forward(self, ws):
        h = bias_act(torch.einsum("nkw,kwo->no", ws, self.a), self.b, act="tanh")
        return pixel_norm(h.reshape(-1, 2, 4, 4))


def plain_synthesis():
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 32), nn.Unflatten(1, (2, 4, 4)))


# ---------------------------------------------------------------- plain-autograd penalties
def _grad_of(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g


def plain_wgan_gp(D, real, fake, alpha, lam, target, one_sided):
    x = (alpha.view(-1, 1, 1, 1) * fake + (1 - alpha.view(-1, 1, 1, 1)) * real).detach()
    d = _grad_of(D, x).flatten(1).norm(dim=1) - target
    if one_sided:
        d = d.clamp(min=0)
    return lam * d.square().mean()


def plain_r1(D, x, gamma):
    return gamma / 2 * _grad_of(D, x).square().sum(dim=[1, 2, 3]).mean()


def plain_path_length(G, ws, pl_mean, decay, weight, noise):
    ws = ws.detach().requires_grad_(True)
    img = G(ws)
    y = noise / math.sqrt(img.shape[2] * img.shape[3])
    (g,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    lengths = g.square().sum(dim=2).mean(dim=1).sqrt()
    new_mean = pl_mean + decay * (lengths.mean().detach() - pl_mean)
    return weight * (lengths - new_mean).square().mean(), new_mean


# ---------------------------------------------------------------- comparison helpers
def _value_and_grads(model, fn):
    model.zero_grad(set_to_none=True)
    loss = fn()
    loss.backward()
    # a parameter the input gradient does not depend on (the last bias) gets no gradient
    return loss.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                           for p in model.parameters()]


def _compare(model, ours, plain, dtype):
    """ours(): helper on the fused cpu backend in `dtype`; plain(): plain autograd, reference ops, float64."""
    model64 = model.double()
    with use_backend("ref"):
        v_ref, g_ref = _value_and_grads(model64, plain)
    model.to(dtype)
    with use_backend("cpu"):
        v, g = _value_and_grads(model, ours)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-5)
    torch.testing.assert_close(v.double(), v_ref, **tol)
    assert len(g) == len(g_ref) and sum(bool(t.abs().sum() > 0) for t in g_ref) >= len(g_ref) - 1
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a.double(), b, **tol)


MODELS = {"fastgan_D": FastD, "plain_D": plain_d}
DTYPES = [torch.float64, torch.float32]


def _data(dtype=torch.float64, n=8):
    real = torch.randn(n, 3, 8, 8, dtype=torch.float64)
    fake = torch.randn(n, 3, 8, 8, dtype=torch.float64) * 0.7 + 0.2
    return real, fake


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("target,one_sided", [(1.0, False), ("median", False), ("median", True)])
def test_wgan_gp_penalty(model, dtype, target, one_sided):
    D = MODELS[model]()
    real, fake = _data()
    alpha = torch.rand(8, dtype=torch.float64)
    if target == "median":  # half of the norms above the target, half below
        x = real + alpha.view(-1, 1, 1, 1) * (fake - real)
        target = _grad_of(D.double(), x).flatten(1).norm(dim=1).median().item() * 1.01
    _compare(D, lambda: losses.wgan_gp_penalty(D, real.to(dtype), fake.to(dtype), lam=10.0, target=target,
                                               one_sided=one_sided, alpha=alpha.to(dtype)),
             lambda: plain_wgan_gp(D, real, fake, alpha, 10.0, target, one_sided), dtype)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("which", ["r1", "r2"])
def test_r1_r2_penalty(model, dtype, which):
    D = MODELS[model]()
    real, fake = _data()
    x = real if which == "r1" else fake
    helper = losses.r1_penalty if which == "r1" else losses.r2_penalty
    _compare(D, lambda: helper(D, x.to(dtype), gamma=5.0), lambda: plain_r1(D, x, 5.0), dtype)


@pytest.mark.parametrize("model", list(MODELS))
def test_drift_penalty(model):
    D = MODELS[model]()
    real, _ = _data()
    _compare(D, lambda: losses.drift_penalty(D(real), eps=0.001),
             lambda: 0.001 * D(real).square().mean(), torch.float64)


@pytest.mark.parametrize("model", ["fastgan_G", "plain_G"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_path_length_penalty(model, dtype):
    G = FastSynthesis() if model == "fastgan_G" else plain_synthesis()
    ws = torch.randn(6, 3, 4, dtype=torch.float64)
    noise = torch.randn(6, 2, 4, 4, dtype=torch.float64)
    pl_mean = torch.tensor(0.3, dtype=torch.float64)
    box = {}

    def ours():
        pen, box["mean"] = losses.path_length_penalty(G, ws.to(dtype), pl_mean.to(dtype), decay=0.05,
                                                      noise=noise.to(dtype))
        return pen

    def plain():
        pen, box["ref_mean"] = plain_path_length(G, ws, pl_mean, 0.05, 2.0, noise)
        return pen

    _compare(G, ours, plain, dtype)
    torch.testing.assert_close(box["mean"].double(), box["ref_mean"], rtol=1e-5, atol=1e-7)
    assert not box["mean"].requires_grad


def test_path_length_mean_running_average():
    """With fixed inputs, k calls that feed back the returned mean give L * (1 - (1 - decay)^k)."""
    G = plain_synthesis().double()
    ws = torch.randn(16, 3, 4, dtype=torch.float64)
    noise = torch.randn(16, 2, 4, 4, dtype=torch.float64)
    mean, decay = 0.0, 0.2
    for _ in range(10):
        _, mean = losses.path_length_penalty(G, ws, mean, decay=decay, noise=noise)
    ws.requires_grad_(True)
    (g,) = torch.autograd.grad((G(ws) * noise).sum() / 4.0, ws)
    L = g.square().sum(2).mean(1).sqrt().mean()
    torch.testing.assert_close(mean, L * (1 - (1 - decay) ** 10))


def test_lazy_interval_and_gain_scale_the_loss():
    D = plain_d().double()
    real, fake = _data()
    base = losses.r1_penalty(D, real, gamma=2.0)
    torch.testing.assert_close(losses.r1_penalty(D, real, gamma=2.0, interval=16, gain=0.5), base * 8)
    torch.testing.assert_close(losses.drift_penalty(real, interval=4), losses.drift_penalty(real) * 4)
    alpha = torch.rand(8, dtype=torch.float64)
    torch.testing.assert_close(losses.wgan_gp_penalty(D, real, fake, interval=2, gain=3.0, alpha=alpha),
                               losses.wgan_gp_penalty(D, real, fake, alpha=alpha) * 6)
    with pytest.raises(ValueError, match="interval"):
        losses.r1_penalty(D, real, gamma=2.0, interval=0)


def test_wgan_gp_samples_alpha_and_detaches_inputs():
    D = plain_d()
    real, fake = _data(torch.float32)
    fake = fake.float().requires_grad_(True)
    loss = losses.wgan_gp_penalty(D, real.float(), fake)
    loss.backward()
    assert fake.grad is None  # the interpolates are detached from G
    assert all(p.grad is not None for p in list(D.parameters())[:-1])  # all but the last bias
