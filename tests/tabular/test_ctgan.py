"""CTGAN networks, activations, losses and conditional sampling."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from fastgan.data.mixed_table import MixedTable
from fastgan.data.tabular_set import ConditionalLoader, EncodedTable
from fastgan.models import ctgan as ct


def test_gumbel_softmax_draws_follow_the_softmax():
    logits = torch.tensor([[1.0, -0.5, 0.3, 2.0]]).repeat(40000, 1)
    y = ct.gumbel_softmax(logits, 0.2, hard=True)
    counts = np.bincount(y.argmax(1).numpy(), minlength=4)
    p = torch.softmax(logits[0].double(), 0).numpy()
    assert stats.chisquare(counts, p / p.sum() * counts.sum()).pvalue > 1e-3


@pytest.mark.parametrize("tau", [0.2, 1.0])
def test_gumbel_softmax_formula_and_straight_through(tau):
    logits = torch.randn(9, 5, dtype=torch.float64, requires_grad=True)
    u = torch.rand(9, 5, dtype=torch.float64)
    soft = ct.gumbel_softmax(logits, tau, u=u)
    ref = np.exp((logits.detach().numpy() - np.log(-np.log(u.numpy()))) / tau)
    np.testing.assert_allclose(soft.detach().numpy(), ref / ref.sum(1, keepdims=True), rtol=1e-10)
    hard = ct.gumbel_softmax(logits, tau, hard=True, u=u)
    assert set(hard.detach().unique().tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.detach().sum(1).numpy(), 1.0)
    (ga,) = torch.autograd.grad((hard * torch.arange(5.0, dtype=torch.float64)).sum(), logits)
    (gb,) = torch.autograd.grad((soft * torch.arange(5.0, dtype=torch.float64)).sum(), logits)
    torch.testing.assert_close(ga, gb)
    with pytest.raises(ValueError, match="tau"):
        ct.gumbel_softmax(logits, 0.0)


def _activate_per_span(raw, spans, tau, hard, u):
    parts = []
    for start, end, act in spans:
        x = raw[:, start:end]
        parts.append(torch.tanh(x) if act == "tanh" else ct.gumbel_softmax(x, tau, hard, u[:, start:end]))
    return torch.cat(parts, dim=1)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("spans", [
    [(0, 1, "tanh"), (1, 4, "softmax"), (4, 6, "softmax"), (6, 7, "tanh")],
    [(0, 5, "softmax")],
    [(0, 1, "tanh"), (1, 2, "tanh")],
    [(0, 2, "softmax"), (2, 3, "tanh"), (3, 9, "softmax"), (9, 10, "softmax")],
])
def test_activate_matches_one_gumbel_softmax_per_span(spans, hard):
    dim = spans[-1][1]
    raw = (torch.randn(13, dim, dtype=torch.float64) * 3).requires_grad_(True)
    u = torch.rand(13, dim, dtype=torch.float64)
    out = ct.activate(raw, spans, 0.2, hard=hard, u=u)
    ref = _activate_per_span(raw, spans, 0.2, hard, u)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(13, dim, dtype=torch.float64)
    (ga,) = torch.autograd.grad((out * w).sum(), raw)
    (gb,) = torch.autograd.grad((ref * w).sum(), raw)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-12)
    if hard:
        for a, b, act in spans:
            if act == "softmax":
                assert ((out[:, a:b] == 0) | (out[:, a:b] == 1)).all() and (out[:, a:b].sum(1) == 1).all()


def test_activate_bad_input():
    raw = torch.randn(4, 7)
    with pytest.raises(ValueError, match="activation"):
        ct.activate(raw, [(0, 7, "relu")])
    with pytest.raises(ValueError, match="tile the row"):
        ct.activate(raw, [(0, 3, "softmax"), (4, 7, "softmax")])
    with pytest.raises(ValueError, match=r"shape \[N, 5\]"):
        ct.activate(raw, [(0, 5, "softmax")])
    with pytest.raises(ValueError, match="u must"):
        ct.activate(raw, [(0, 7, "softmax")], u=torch.rand(4, 6))


@pytest.mark.parametrize("n, pac", [(20, 10), (21, 7), (5, 1)])
def test_pacgan_shapes(n, pac):
    D = ct.CTDiscriminator(11, dims=(16, 8), pac=pac)
    assert D(torch.randn(n, 11)).shape == (n // pac, 1)
    assert D.net[0].in_features == 11 * pac
    # one pack's rows are judged together: changing a row changes only its pack's output
    D.eval()
    x = torch.randn(n, 11)
    y0 = D(x)
    x[pac] += 1.0
    y1 = D(x)
    changed = (y0 != y1).reshape(-1)
    assert changed.tolist() == [i == 1 for i in range(n // pac)] if n // pac > 1 else changed.all()


def test_pacgan_bad_input():
    D = ct.CTDiscriminator(4, pac=10)
    with pytest.raises(ValueError, match="multiple of pac"):
        D(torch.randn(15, 4))
    with pytest.raises(ValueError, match=r"shape \[N, 4\]"):
        D(torch.randn(20, 5))
    with pytest.raises(ValueError, match="pac"):
        ct.CTDiscriminator(4, pac=0)


def test_generator_is_residual_and_shapes():
    G = ct.CTGenerator(z_dim=5, cond_dim=3, data_dim=17, dims=(8, 6))
    assert [b.fc.in_features for b in G.blocks] == [8, 16] and G.out.in_features == 22
    assert G(torch.randn(7, 5), torch.randn(7, 3)).shape == (7, 17)
    G0 = ct.CTGenerator(z_dim=5, cond_dim=0, data_dim=4)
    assert G0(torch.randn(3, 5)).shape == (3, 4)
    with pytest.raises(ValueError, match="cond_dim"):
        ct.CTGenerator(5, -1, 4)


def _reference_penalty(D, real, fake, alpha, lam):
    pac = D.pac
    a = alpha.repeat_interleave(pac)[:, None]
    x = (real + a * (fake - real)).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return lam * ((g.reshape(len(x) // pac, -1).norm(dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("n, pac, dim", [(30, 10, 7), (12, 3, 5)])
def test_gradient_penalty_matches_plain_autograd(n, pac, dim):
    D = ct.CTDiscriminator(dim, dims=(16, 16), pac=pac, dropout=0.0).double()
    real, fake = torch.randn(n, dim, dtype=torch.float64), torch.randn(n, dim, dtype=torch.float64) * 2
    alpha = torch.rand(n // pac, dtype=torch.float64)
    got = ct.gradient_penalty(D, real, fake, alpha, 10.0)
    ref = _reference_penalty(D, real, fake, alpha, 10.0)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    params = list(D.parameters())[:-1]     # the last bias does not move the input gradient
    g_got = torch.autograd.grad(got, params, allow_unused=True)
    g_ref = torch.autograd.grad(ref, params)
    # the hidden biases move the input gradient only through LeakyReLU's slope pattern: zero gradient,
    # which the penalty may leave out of its graph (None)
    assert float(g_ref[1].abs().max()) == 0.0
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(torch.zeros_like(b) if a is None else a, b, rtol=1e-9, atol=1e-12)


def test_cond_loss_is_the_masked_cross_entropy():
    raw = torch.randn(6, 9, dtype=torch.float64)
    spans = [(1, 4), (5, 9)]
    col = torch.tensor([0, 1, 1, 0, 1, 0])
    cat = torch.tensor([2, 0, 3, 1, 1, 0])
    cond = torch.zeros(6, 7, dtype=torch.float64)
    cond[torch.arange(6), torch.tensor([0, 3])[col] + cat] = 1
    mask = F.one_hot(col, 2).double()
    r = raw.numpy()
    ref = 0.0
    for i, (c, k) in enumerate(zip(col.tolist(), cat.tolist())):
        logits = r[i, spans[c][0]:spans[c][1]]
        ref -= logits[k] - np.log(np.exp(logits).sum())
    ref /= len(r)
    torch.testing.assert_close(ct.cond_loss(raw, spans, cond, mask), torch.tensor(ref, dtype=torch.float64))


def _tiny_table(n=250, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.15, "rare", "common")
    x = np.where(y == "rare", rng.normal(4, 0.5, n), rng.normal(0, 1, n))
    k = rng.choice(["p", "q", "r"], n)
    return MixedTable({"x": x, "k": k, "y": y}, ["k", "y"], name="tiny")


def _train(data, steps, seed=0, lr=2e-4):
    torch.manual_seed(seed)
    cfg = ct.CTGANConfig(lr_g=lr, lr_d=lr)
    tr, s = data.transformer, data.sampler
    G = ct.CTGenerator(cfg.z_dim, s.dim, tr.dim, (64, 64))
    D = ct.CTDiscriminator(tr.dim + s.dim, (64, 64), pac=10)
    opt = ct.make_optimizers(G, D, cfg)
    spans, cspans = tr.output_info(), ct.cond_spans_of(tr)
    loader = ConditionalLoader(data, 200, seed=seed)
    for _ in range(steps):
        b = next(loader)
        loss, _ = ct.d_loss(G, D, spans, b["real"], b["cond_real"], b["cond"], torch.randn(200, cfg.z_dim))
        opt["D"].zero_grad()
        loss.backward()
        opt["D"].step()
        loss, _ = ct.g_loss(G, D, spans, cspans, b["cond"], b["mask"], torch.randn(200, cfg.z_dim))
        opt["G"].zero_grad()
        loss.backward()
        opt["G"].step()
    return ct.TableSynthesizer(G, tr, s)


@pytest.mark.slow
def test_tiny_run_honours_conditions():
    t = _tiny_table()
    syn = _train(EncodedTable(t), 400, lr=1e-3)   # the paper's lr needs ~1000 steps to get there
    for col, val in [("y", "rare"), ("y", "common"), ("k", "q")]:
        rows = syn.sample(400, {col: val}, seed=3)
        assert (rows[col] == val).mean() >= 0.95, (col, val)
    extra = syn.oversample(t, "y")
    counts = {c: (t["y"] == c).sum() + (extra["y"] == c).sum() for c in ("rare", "common")}
    assert counts["rare"] == counts["common"] and (extra["y"] == "rare").all()
    half = syn.oversample(t, "y", ratio=0.5)
    assert len(half) == int(np.ceil(0.5 * (t["y"] == "common").sum())) - (t["y"] == "rare").sum()


def test_synthesizer_sampling_and_errors():
    t = _tiny_table(80)
    syn = _train(EncodedTable(t), 2)
    enc = syn.sample_encoded(37, seed=1, batch=10)
    assert enc.shape == (37, syn.transformer.dim)
    for s in syn.transformer.spans:          # hard one-hots at generation
        if s.activation == "softmax":
            np.testing.assert_array_equal(enc[:, s.start:s.end].sum(1), 1.0)
            assert set(np.unique(enc[:, s.start:s.end])) <= {0.0, 1.0}
    np.testing.assert_array_equal(enc, syn.sample_encoded(37, seed=1, batch=10))
    rows = syn.sample(11)
    assert rows.names == t.names and len(rows) == 11
    with pytest.raises(ValueError, match="'colour'"):
        syn.sample(5, {"colour": "red"})
    with pytest.raises(ValueError, match="no category 'never'"):
        syn.sample(5, {"y": "never"})
    with pytest.raises(ValueError, match="ratio"):
        syn.oversample(t, "y", ratio=2.0)
    with pytest.raises(ValueError, match="target 'x'"):
        syn.oversample(t, "x")
    with pytest.raises(ValueError, match="n must be"):
        syn.sample(0)


@pytest.mark.parametrize("act", ["leaky", "tanh"])
def test_losses_match_a_plain_computation(act):
    spans = [(0, 1, "tanh"), (1, 4, "softmax"), (4, 6, "softmax")]
    cond_spans, n, z_dim = [(4, 6)], 20, 5
    G = ct.CTGenerator(z_dim, 2, 6, dims=(8, 8)).double().eval()
    D = ct.CTDiscriminator(8, dims=(16, 12), pac=5, dropout=0.0).double()
    if act == "tanh":     # not piecewise linear: the penalty differentiates D twice through its input
        D.net[1] = torch.nn.Tanh()
    real = torch.rand(n, 6, dtype=torch.float64)
    cond = F.one_hot(torch.randint(0, 2, (n,)), 2).double()
    cond_real = cond[torch.randperm(n)]
    z, u = torch.randn(n, z_dim, dtype=torch.float64), torch.rand(n, 6, dtype=torch.float64)
    alpha = torch.rand(4, dtype=torch.float64)
    got, scal = ct.d_loss(G, D, spans, real, cond_real, cond, z, lam=10.0, alpha=alpha, u=u)
    fake = _activate_per_span(G(z, cond), spans, 0.2, False, u).detach()
    ri, fi = torch.cat([real, cond_real], 1), torch.cat([fake, cond], 1)
    pen = _reference_penalty(D, ri, fi, alpha, 10.0)
    ref = pen - (D(ri).mean() - D(fi).mean())
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close(scal["gp"], pen.detach())
    # the critic's parameter gradients (the step the optimiser takes) match the plain double backward
    for a, b in zip(torch.autograd.grad(got, list(D.parameters())), torch.autograd.grad(ref, list(D.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    mask = torch.ones(n, 1, dtype=torch.float64)
    got_g, _ = ct.g_loss(G, D, spans, cond_spans, cond, mask, z, u=u)
    raw = G(z, cond)
    ref_g = -D(torch.cat([_activate_per_span(raw, spans, 0.2, False, u), cond], 1)).mean() \
        + F.cross_entropy(raw[:, 4:6], cond.argmax(1))
    torch.testing.assert_close(got_g, ref_g)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_uniform_dropout_is_inverted_dropout(p):
    drop = ct.UniformDropout(p)
    x = torch.rand(400, 301) + 0.5
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    # the kept fraction per row follows Binomial(301, 1 - p)
    counts = kept.sum(1).numpy()
    assert stats.kstest(counts, stats.binom(301, 1 - p).cdf).statistic < 0.1
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match="dropout"):
        ct.UniformDropout(1.0)


@pytest.mark.parametrize("dims, cond_dim", [((16, 12), 3), ((9,), 0), ((7, 5, 6), 4)])
def test_generator_training_path_matches_its_modules(dims, cond_dim):
    # the training forward skips the input columns' dX; output and parameter gradients must equal
    # plain autograd through the Residual blocks and the output layer
    torch.manual_seed(0)
    G = ct.CTGenerator(5, cond_dim, 11, dims=dims).double()
    z = torch.randn(37, 5, dtype=torch.float64)
    cond = F.one_hot(torch.randint(0, max(cond_dim, 1), (37,)), max(cond_dim, 1)).double()[:, :cond_dim]
    w = torch.randn(37, 11, dtype=torch.float64)
    got = G(z, cond)
    ref = G.out(G.blocks(torch.cat([z, cond], 1)))
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    params = list(G.parameters())
    for a, b in zip(torch.autograd.grad((got * w).sum(), params), torch.autograd.grad((ref * w).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
