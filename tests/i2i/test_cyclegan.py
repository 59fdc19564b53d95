"""CycleGAN's networks against the paper's layer lists, its losses against hand formulas,
the history pool's statistics and the schedule against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.family.schedules import linear_decay
from fastgan.models.cyclegan import (
    ImagePool, PatchDiscriminator, ResnetGenerator, discriminator_loss, generator_loss,
)


def conv_params(layers):
    """Parameters of convolutions with biases: sum of k*k*cin*cout + cout."""
    return sum(k * k * ci * co + co for k, ci, co in layers)


def generator_layers(c, ngf, n_blocks, depth):
    """(kernel, in, out) of c7s1-ngf, d.., R.. (two convs each), u.., c7s1-c, from the paper's list."""
    layers, ch = [(7, c, ngf)], ngf
    for _ in range(depth):
        layers.append((3, ch, 2 * ch))
        ch *= 2
    layers += [(3, ch, ch)] * (2 * n_blocks)
    for _ in range(depth):
        layers.append((3, ch, ch // 2))
        ch //= 2
    return layers + [(7, ch, c)]


@pytest.mark.parametrize("n_blocks", [9, 6])
def test_generator_parameter_count_full_size(n_blocks):
    G = ResnetGenerator(3, 3, ngf=64, n_blocks=n_blocks, depth=2)
    expected = conv_params(generator_layers(3, 64, n_blocks, 2))
    assert sum(p.numel() for p in G.parameters()) == expected
    if n_blocks == 9:   # the count the authors' code prints for resnet_9blocks: 11.378 M
        assert round(expected / 1e6, 3) == 11.378


def test_discriminator_parameter_count_full_size():
    D = PatchDiscriminator(3, ndf=64, depth=3)
    expected = conv_params([(4, 3, 64), (4, 64, 128), (4, 128, 256), (4, 256, 512), (4, 512, 1)])
    assert sum(p.numel() for p in D.parameters()) == expected
    assert round(expected / 1e6, 3) == 2.765   # the authors' code prints 2.765 M for the basic D


def expected_rf(depth):
    """Receptive field of the PatchGAN from its layer list, walking back from one output."""
    strides = [2] * depth + [1, 1]        # depth stride-2 convs, one stride-1 C, the output conv; all 4x4
    rf = 1
    for s in reversed(strides):
        rf = (rf - 1) * s + 4
    return rf


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_patchgan_receptive_field_by_gradient(depth):
    assert expected_rf(3) == 70
    torch.manual_seed(0)
    D = PatchDiscriminator(2, ndf=3, depth=depth, norm="none").double()
    with torch.no_grad():   # positive weights: no cancellation can hide a pixel that is seen
        for p in D.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    x = torch.randn(1, 2, 151, 143, dtype=torch.float64, requires_grad=True)
    out = D(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    (g,) = torch.autograd.grad(out[0, 0, i, j], x)
    support = (g[0].abs().sum(0) > 0).nonzero()
    rows = support[:, 0].max() - support[:, 0].min() + 1
    cols = support[:, 1].max() - support[:, 1].min() + 1
    assert (rows.item(), cols.item()) == (expected_rf(depth),) * 2
    assert len(support) == expected_rf(depth) ** 2     # the whole square, no holes


# -- an independent functional forward in float64 -------------------------------------------

def _convs(module):
    return [m for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


def generator_reference(G, x, depth, n_blocks):
    convs = iter(_convs(G))

    def conv(h, pad=0, stride=1, reflect=0):
        m = next(convs)
        if reflect:
            h = F.pad(h, (reflect,) * 4, mode="reflect")
        return F.conv2d(h, m.weight, m.bias, stride=stride, padding=pad)

    def inorm(h):
        mu = h.mean((2, 3), keepdim=True)
        var = h.var((2, 3), keepdim=True, unbiased=False)
        return (h - mu) / torch.sqrt(var + 1e-5)

    h = torch.relu(inorm(conv(x, reflect=3)))
    for _ in range(depth):
        h = torch.relu(inorm(conv(h, pad=1, stride=2)))
    for _ in range(n_blocks):
        r = torch.relu(inorm(conv(h, reflect=1)))
        h = h + inorm(conv(r, reflect=1))
    for _ in range(depth):
        m = next(convs)
        h = torch.relu(inorm(F.conv_transpose2d(h, m.weight, m.bias, stride=2, padding=1, output_padding=1)))
    return torch.tanh(conv(h, reflect=3))


def discriminator_reference(D, x, depth):
    convs = _convs(D)
    h = F.leaky_relu(F.conv2d(x, convs[0].weight, convs[0].bias, stride=2, padding=1), 0.2)
    for i in range(1, depth + 1):
        h = F.conv2d(h, convs[i].weight, convs[i].bias, stride=2 if i < depth else 1, padding=1)
        h = (h - h.mean((2, 3), keepdim=True)) / torch.sqrt(h.var((2, 3), keepdim=True, unbiased=False) + 1e-5)
        h = F.leaky_relu(h, 0.2)
    return F.conv2d(h, convs[-1].weight, convs[-1].bias, padding=1)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("depth,n_blocks", [(2, 2), (1, 0), (3, 1)])
def test_generator_matches_functional_reference(depth, n_blocks, layout):
    G = ResnetGenerator(3, 2, ngf=4, n_blocks=n_blocks, depth=depth).double()
    with torch.no_grad():
        for p in G.parameters():
            p.normal_(0, 0.3)
    h, w = 3 * 2 ** depth, 5 * 2 ** depth
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":
        x = torch.randn(2, 3, h, 2 * w, dtype=torch.float64)[..., ::2]
    y = G(x)
    assert y.shape == (2, 2, h, w)
    torch.testing.assert_close(y, generator_reference(G, x.contiguous(), depth, n_blocks), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("depth", [1, 3])
def test_discriminator_matches_functional_reference(depth):
    D = PatchDiscriminator(3, ndf=4, depth=depth).double()
    x = torch.randn(3, 3, 37, 45, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(D(x), discriminator_reference(D, x, depth), rtol=1e-10, atol=1e-10)


def test_generator_bad_input():
    G = ResnetGenerator(3, 3, ngf=4, n_blocks=1, depth=2)
    with pytest.raises(ValueError, match="multiples of 4"):
        G(torch.randn(1, 3, 10, 12))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        G(torch.randn(1, 1, 12, 12))
    with pytest.raises(ValueError, match="n_blocks"):
        ResnetGenerator(n_blocks=-1)
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(norm="layer")


# -- losses -------------------------------------------------------------------------------

def test_generator_loss_against_hand_formula():
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    w_ab, w_ba, w_da, w_db = rng.normal(size=4)
    g_ab, g_ba = (lambda x: np.tanh(w_ab * x + 0.1)), (lambda x: np.tanh(w_ba * x - 0.2))
    d_a, d_b = (lambda x: w_da * x.mean(1)), (lambda x: w_db * x.mean(1) ** 2)
    mse1 = lambda d: np.mean((d - 1) ** 2)   # noqa: E731
    l1 = lambda a, b: np.mean(np.abs(a - b))  # noqa: E731
    lam, idt = 7.0, 0.3
    expected = (mse1(d_b(g_ab(A))) + mse1(d_a(g_ba(B))) + lam * (l1(g_ba(g_ab(A)), A) + l1(g_ab(g_ba(B)), B))
                + lam * idt * (l1(g_ab(B), B) + l1(g_ba(A), A)))

    def t(f):
        return lambda x: torch.from_numpy(f(x.detach().numpy())) + 0 * x.sum()

    loss, (fake_B, fake_A), terms = generator_loss(
        lambda x: torch.tanh(w_ab * x + 0.1), lambda x: torch.tanh(w_ba * x - 0.2),
        lambda x: w_da * x.mean(1), lambda x: w_db * x.mean(1) ** 2,
        torch.from_numpy(A), torch.from_numpy(B), cycle_weight=lam, identity_weight=idt)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(fake_B.numpy(), g_ab(A), rtol=1e-12)
    np.testing.assert_allclose(fake_A.numpy(), g_ba(B), rtol=1e-12)
    assert terms["cycle_A"].item() == pytest.approx(l1(g_ba(g_ab(A)), A), rel=1e-12)
    loss0, _, terms0 = generator_loss(lambda x: torch.tanh(w_ab * x + 0.1), lambda x: torch.tanh(w_ba * x - 0.2),
                                      lambda x: w_da * x.mean(1), lambda x: w_db * x.mean(1) ** 2,
                                      torch.from_numpy(A), torch.from_numpy(B), cycle_weight=lam, identity_weight=0)
    assert "idt_A" not in terms0
    assert loss0.item() == pytest.approx(expected - lam * idt * (l1(g_ab(B), B) + l1(g_ba(A), A)), rel=1e-12)


def test_identity_loss_needs_matching_channels():
    G = ResnetGenerator(1, 3, ngf=2, n_blocks=0, depth=1)
    G2 = ResnetGenerator(3, 1, ngf=2, n_blocks=0, depth=1)
    D1, D3 = PatchDiscriminator(1, 2, 1), PatchDiscriminator(3, 2, 1)
    A, B = torch.randn(1, 1, 16, 16), torch.randn(1, 3, 16, 16)
    with pytest.raises(ValueError, match="same channel count"):
        generator_loss(G, G2, D1, D3, A, B)
    loss, _, _ = generator_loss(G, G2, D1, D3, A, B, identity_weight=0)
    assert torch.isfinite(loss)


def test_discriminator_loss_is_halved_lsgan():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(3, 2, 6, 7)), rng.normal(size=(3, 2, 6, 7))
    w = rng.normal(size=2)
    D = lambda x: torch.einsum("nchw,c->nhw", x, torch.from_numpy(w))  # noqa: E731
    d_real, d_fake = np.einsum("nchw,c->nhw", real, w), np.einsum("nchw,c->nhw", fake, w)
    expected = 0.5 * (np.mean((d_real - 1) ** 2) + np.mean(d_fake ** 2))
    fake_t = torch.from_numpy(fake).requires_grad_()
    loss = discriminator_loss(D, torch.from_numpy(real), fake_t)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert not loss.requires_grad      # the fakes are detached: no gradient reaches G


# -- the history pool ---------------------------------------------------------------------

def tagged(ids):
    """Images [n, 1, 2, 3] whose every pixel holds the image's id."""
    return torch.tensor(ids, dtype=torch.float64)[:, None, None, None].expand(-1, 1, 2, 3).clone()


def ids_of(images):
    assert (images == images[:, :1, :1, :1]).all()
    return [int(v) for v in images[:, 0, 0, 0]]


def test_pool_fills_then_returns_new_with_half_probability():
    pool, size = ImagePool(50, seed=7), 50
    first = ids_of(pool.query(tagged(range(30)))) + ids_of(pool.query(tagged(range(30, 50))))
    assert first == list(range(50)) and len(pool) == 50         # while filling: the image itself
    stored = set(range(50))
    new_count, slot_hits, n = 0, np.zeros(size), 4000
    next_id = 50
    for _ in range(n // 8):
        batch_ids = list(range(next_id, next_id + 8))
        next_id += 8
        before = [ids_of(t[None])[0] for t in pool.images]
        out = ids_of(pool.query(tagged(batch_ids)))
        after = [ids_of(t[None])[0] for t in pool.images]
        for new, got in zip(batch_ids, out):
            if got == new:
                new_count += 1
            else:
                assert got in stored                                 # an image stored at that time
                slot = before.index(got) if got in before else None
                if slot is not None:
                    slot_hits[slot] += 1
                stored.discard(got)
                stored.add(new)                                      # replaced by the new one
        assert set(after) == stored and len(after) == 50
    p, sd = new_count / n, math.sqrt(0.25 / n)
    assert abs(p - 0.5) < 4 * sd, p                                  # Binomial(n, 1/2)
    # the replaced slot is uniform over the 50: chi-square with 49 dof, far below the 0.1% critical value (85.4)
    expected = slot_hits.sum() / size
    assert ((slot_hits - expected) ** 2 / expected).sum() < 85.4


def test_pool_size_zero_and_state_round_trip():
    x = torch.randn(4, 3, 5, 5)
    assert torch.equal(ImagePool(0).query(x), x)
    a = ImagePool(6, seed=1)
    for _ in range(3):
        a.query(torch.randn(4, 3, 5, 5))
    b = ImagePool(6, seed=99)
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        x = torch.randn(4, 3, 5, 5)
        assert torch.equal(a.query(x), b.query(x))
    with pytest.raises(ValueError, match="size"):
        ImagePool(5).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="shape"):
        a.query(torch.randn(4, 3, 6, 5))


# -- the learning-rate schedule -----------------------------------------------------------

def _lrs(opt, sched, steps):
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return out


def test_linear_decay_schedule_by_hand():
    p, q = torch.nn.Parameter(torch.randn(2)), torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.Adam([{"params": [p]}, {"params": [q], "lr": 1e-3}], lr=2e-4, betas=(0.5, 0.999))
    sched = linear_decay(opt, constant=3, decay=4)
    factors = [1, 1, 1, 1, 3 / 4, 2 / 4, 1 / 4, 0, 0]
    got = _lrs(opt, sched, len(factors))
    np.testing.assert_allclose(got, [[2e-4 * f, 1e-3 * f] for f in factors], rtol=1e-12, atol=0)


def test_linear_decay_state_dict_round_trip():
    def make():
        p = torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.Adam([p], lr=2e-4)
        return opt, linear_decay(opt, constant=5, decay=7)

    opt, sched = make()
    _lrs(opt, sched, 6)
    state = sched.state_dict()
    opt2, sched2 = make()
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]    # the optimiser's own state carries the lr
    assert _lrs(opt2, sched2, 8) == _lrs(opt, sched, 8)


def test_full_size_shapes_on_meta_tensors():
    with torch.device("meta"):
        G, D = ResnetGenerator(3, 3, 64, 9), PatchDiscriminator(3, 64, 3)
        x = torch.empty(1, 3, 256, 256)
        assert G(x).shape == (1, 3, 256, 256)
        assert D(x).shape == (1, 1, 30, 30)          # the 30x30 grid of 70x70 patches at 256 px
