"""SeqGAN's math against independent computations: exact enumeration of tiny vocabularies with a
hand-written recurrent cell, inverse-CDF sampling against quantiles, rollouts, the delayed policy,
and the oracle's NLL against its exact entropy."""
import itertools
import math

import numpy as np
import pytest
import torch

from fastgan.metrics.sequence import entropy_rate, nll_oracle, nll_test
from fastgan.models import seqgan_networks as sn


def cell_step(G, tok, state):
    """One step of G's LSTM/GRU written out from the gate equations (not nn.LSTM/nn.GRU)."""
    r = G.rnn
    x = G.embed.weight[tok]
    Wi, Wh, bi, bh = r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0
    H = r.hidden_size
    if G.cell == "lstm":
        h, c = state
        a = x @ Wi.T + bi + h @ Wh.T + bh
        i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)
    h = state[0]
    ax, ah = x @ Wi.T + bi, h @ Wh.T + bh
    rr = torch.sigmoid(ax[:, :H] + ah[:, :H])
    z = torch.sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = torch.tanh(ax[:, 2 * H:] + rr * ah[:, 2 * H:])
    h = (1 - z) * n + z * h
    return h, (h, h)


def exact_log_probs(G, X, temperature=1.0):
    """log p(x) of every row of X [N, T], from the hand-written cell and softmax (of the logits
    divided by ``temperature``)."""
    N, T = X.shape
    H = G.rnn.hidden_size
    state = (torch.zeros(N, H, dtype=torch.float64), torch.zeros(N, H, dtype=torch.float64))
    h, state = cell_step(G, torch.full((N,), G.start), state)
    total = torch.zeros(N, dtype=torch.float64)
    for t in range(T):
        logp = torch.log_softmax((h @ G.out.weight.T + G.out.bias) / temperature, -1)
        total = total + logp[torch.arange(N), X[:, t]]
        h, state = cell_step(G, X[:, t], state)
    return total


def all_sequences(V, T):
    return torch.tensor(list(itertools.product(range(V), repeat=T)), dtype=torch.long)


def tiny_generator(V=3, cell="lstm", seed=0):
    torch.manual_seed(seed)
    G = sn.SeqGenerator(V, emb=2, hidden=3, cell=cell).double()
    with torch.no_grad():
        for p in G.parameters():
            p.normal_(0, 0.8)
    return G


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_policy_gradient_surrogate_equals_exact_reinforce(cell):
    """With exact Q values, the surrogate's gradient over all V^T sequences weighted by p(x) is
    -grad sum_x p(x) R(x), computed by enumeration with the hand-written cell."""
    V, T = 3, 3
    G = tiny_generator(V, cell, seed=3)
    X = all_sequences(V, T)
    R = torch.rand(len(X), dtype=torch.float64)          # any reward of whole sequences (D's probability)
    logp = exact_log_probs(G, X)
    J = (logp.exp() * R).sum()
    exact = torch.autograd.grad(J, list(G.parameters()))
    with torch.no_grad():   # Q(y_1..t) = E[R | prefix]: sum over completions of p(x)/p(prefix) R
        p = logp.exp()
        Q = torch.empty(len(X), T, dtype=torch.float64)
        for t in range(1, T + 1):
            keys = [tuple(r) for r in X[:, :t].tolist()]
            num, den = {}, {}
            for k, pi, ri in zip(keys, p.tolist(), R.tolist()):
                num[k] = num.get(k, 0.0) + pi * ri
                den[k] = den.get(k, 0.0) + pi
            Q[:, t - 1] = torch.tensor([num[k] / den[k] for k in keys], dtype=torch.float64)
        weights = p * len(X)      # the surrogate averages over rows: weight row x by p(x)
    loss = sn.reinforce_loss(G.log_probs(X), Q * weights[:, None])
    got = torch.autograd.grad(loss, list(G.parameters()))
    for g, e in zip(got, exact):
        torch.testing.assert_close(g, -e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_log_probs_and_nll_against_hand_written_cell(cell):
    V, T = 4, 5
    G = tiny_generator(V, cell, seed=1)
    X = torch.randint(0, V, (7, T))
    torch.testing.assert_close(G.log_probs(X).sum(1), exact_log_probs(G, X), rtol=1e-10, atol=1e-10)
    want = -exact_log_probs(G, X).sum().item() / X.numel()
    assert nll_test(G, X) == pytest.approx(want, rel=1e-10)
    # the probabilities of all sequences sum to one
    assert exact_log_probs(G, all_sequences(V, 3)).exp().sum().item() == pytest.approx(1.0, abs=1e-10)


def test_draw_follows_quantiles_and_temperature():
    logits = torch.randn(1, 7, dtype=torch.float64) * 2
    n = 10000
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n     # evenly spaced quantiles
    for temp in (1.0, 0.5, 2.0):
        got = sn.draw(logits.expand(n, 7), u, temp)
        p = torch.softmax(logits[0] / temp, 0)
        counts = torch.bincount(got, minlength=7).double()
        assert torch.all((counts - p * n).abs() <= 1.5), (counts, p * n)
    with pytest.raises(ValueError, match="temperature"):
        sn.draw(logits, u[:1], 0.0)


def test_sample_matches_exact_distribution():
    V, T = 3, 3
    G = tiny_generator(V, seed=5).float()
    n = 30000
    x = G.sample(torch.rand(n, T, generator=torch.Generator().manual_seed(0)))
    X = all_sequences(V, T)
    p = exact_log_probs(G.double(), X).exp()
    idx = (x * torch.tensor([V * V, V, 1])).sum(1)
    freq = torch.bincount(idx, minlength=len(X)).double() / n
    se = (p * (1 - p) / n).sqrt()
    assert torch.all((freq - p).abs() <= 5 * se + 1e-4)


class Table(torch.nn.Module):
    """A discriminator whose logit is a fixed table over all sequences, recording what it sees."""

    def __init__(self, V, T):
        super().__init__()
        self.V, self.T = V, T
        self.logit = torch.randn(V ** T, dtype=torch.float64) * 2
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return self.logit[(x * (self.V ** torch.arange(self.T - 1, -1, -1))).sum(1)]


@pytest.mark.parametrize("reward", ["prob", "logit"])
def test_rollouts_keep_prefix_and_estimate_q(reward):
    V, T, B, N = 3, 4, 5, 3000
    G = tiny_generator(V, seed=7)
    D = Table(V, T)
    x = G.sample(torch.rand(B, T, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    rewards = sn.rollout_rewards(G, D, x, N, lambda r, c: torch.rand(r, c, generator=g, dtype=torch.float64),
                                 reward)
    # D saw N*B rollouts per prefix length 1..T-1, each keeping its row's prefix, then x itself
    assert [len(s) for s in D.seen] == [N * B] * (T - 1) + [B]
    for t, y in enumerate(D.seen[:-1], start=1):
        assert torch.equal(y[:, :t], x[:, :t].repeat(N, 1))
        assert not torch.equal(y[:, t:], x[:, t:].repeat(N, 1))   # the rest is sampled
    assert torch.equal(D.seen[-1], x)
    # the reward of a whole sequence: D's probability (the paper) or D's logit
    r_all = torch.sigmoid(D.logit) if reward == "prob" else D.logit
    torch.testing.assert_close(rewards[:, -1], r_all[_codes(x, V)].float())
    # Q(prefix) exactly: sum over completions of p(completion | prefix) times the reward
    X = all_sequences(V, T)
    with torch.no_grad():
        p = exact_log_probs(G, X).exp()
    for t in range(1, T):
        for b in range(B):
            match = (X[:, :t] == x[b, :t]).all(1)
            q = (p[match] * r_all[match]).sum() / p[match].sum()
            sd = torch.sqrt((p[match] * (r_all[match] - q) ** 2).sum() / p[match].sum())   # of one rollout
            assert rewards[b, t - 1].item() == pytest.approx(q.item(), abs=4 * sd.item() / math.sqrt(N) + 1e-5)


def test_reward_kind_is_checked():
    G, D = tiny_generator(3, seed=1), Table(3, 4)
    x = G.sample(torch.rand(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="reward"):
        sn.rollout_rewards(G, D, x, 2, lambda r, c: torch.rand(r, c, dtype=torch.float64), "log")


def _codes(x, V):
    T = x.shape[1]
    return (x * (V ** torch.arange(T - 1, -1, -1))).sum(1)


def test_sample_with_prefix_keeps_it_and_continues_like_a_fresh_state():
    G = tiny_generator(5, seed=2)
    u = torch.rand(6, 7, dtype=torch.float64)
    prefix = torch.randint(0, 5, (6, 3))
    y = G.sample(u, prefix=prefix)
    assert torch.equal(y[:, :3], prefix)
    states = G.prefix_states(torch.cat([prefix, torch.zeros(6, 4, dtype=torch.long)], 1))
    assert torch.equal(G.sample(u, prefix=prefix, state=states[3]), y)
    with pytest.raises(ValueError, match="prefix"):
        G.sample(u[:, :2], prefix=prefix)


def test_delayed_rollout_policy_rate():
    G, R = tiny_generator(6, seed=1), tiny_generator(6, seed=2)
    before = {k: v.clone() for k, v in R.state_dict().items()}
    sn.update_rollout(R, G, 0.8)
    g = G.state_dict()
    for k, v in R.state_dict().items():
        want = g[k] if k.startswith("embed.") else 0.8 * before[k] + 0.2 * g[k]
        torch.testing.assert_close(v, want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="rate"):
        sn.update_rollout(R, G, 1.5)


def tiny_oracle(V=4, seed=0):
    return sn.make_oracle(V, emb=3, hidden=3, seed=seed, std=1.0).double()


def test_oracle_nll_of_own_samples_is_its_entropy():
    V, T = 4, 4
    O = tiny_oracle(V)
    X = all_sequences(V, T)
    with torch.no_grad():
        lp = exact_log_probs(O, X)
    H = -(lp.exp() * lp).sum().item() / T                   # the exact per-token entropy
    nll = nll_oracle(O, O, n=20000, length=T, seed=3)
    assert nll == pytest.approx(H, abs=0.03)
    est, se = entropy_rate(O, n=4000, length=T, seed=4)
    assert abs(est - H) < 5 * se + 1e-3


@pytest.mark.parametrize("temperature", [0.7, 1.5])
def test_entropy_rate_at_a_temperature_is_the_exact_entropy(temperature):
    """The sequences drawn at a temperature follow the product of softmax(logits / temperature);
    entropy_rate(temperature=...) estimates its exact per-token entropy, enumerated."""
    V, T = 4, 4
    O = tiny_oracle(V, seed=2)
    with torch.no_grad():
        lp = exact_log_probs(O, all_sequences(V, T), temperature)
    assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)
    H = -(lp.exp() * lp).sum().item() / T
    est, se = entropy_rate(O, n=4000, length=T, seed=5, temperature=temperature)
    assert abs(est - H) < 5 * se + 1e-3


def test_oracle_below_log_vocab_and_uniform_above():
    V, T = 4, 4
    O = tiny_oracle(V, seed=1)
    X = all_sequences(V, T)
    with torch.no_grad():
        lp = exact_log_probs(O, X)
    assert nll_oracle(O, O, n=5000, length=T, seed=0) < math.log(V) - 0.05
    # a uniform generator: NLL under itself is log V; under the oracle at least log V (Gibbs)
    cross = -lp.mean().item() / T
    assert cross >= math.log(V)
    uniform = torch.randint(0, V, (20000, T), generator=torch.Generator().manual_seed(0))
    assert nll_oracle(O, uniform) == pytest.approx(cross, abs=0.05)
    assert sn.uniform_nll(V) == pytest.approx(math.log(V))


def test_paper_oracle_parameters_and_round_trip(tmp_path):
    O = sn.make_oracle(5000, 32, 32, seed=0)
    w = torch.cat([p.flatten() for n, p in O.named_parameters() if not n.startswith("rnn.bias_hh")])
    assert abs(w.mean().item()) < 0.01 and w.std().item() == pytest.approx(1.0, abs=0.01)
    assert not O.rnn.bias_hh_l0.any()
    path = sn.save_oracle(O, str(tmp_path / "o.safetensors"))
    back = sn.load_oracle(path)
    x = torch.randint(0, 5000, (3, 20))
    assert torch.equal(back.log_probs(x), O.log_probs(x))
    with pytest.raises(ValueError, match="vocabulary"):
        nll_oracle(O, sn.SeqGenerator(10), n=4, length=3)
    with pytest.raises(ValueError, match="outside"):
        nll_test(sn.SeqGenerator(10), torch.tensor([[3, 10]]))


def test_discriminator_shapes_and_filters():
    D = sn.SeqDiscriminator(11, length=6, emb=5, width=0.05)
    assert [c.kernel_size[0] for c in D.convs] == [1, 2, 3, 4, 5, 6]       # 7-10, 15, 20 do not fit
    assert [c.out_channels for c in D.convs] == [5, 10, 10, 10, 10, 5]
    out = D(torch.randint(0, 11, (3, 6)))
    assert out.shape == (3,)
    full = sn.SeqDiscriminator(11, length=20)
    assert sum(c.out_channels for c in full.convs) == 1720
    with pytest.raises(ValueError, match="filter"):
        sn.SeqDiscriminator(11, length=3, filters=((5, 10),))


def test_bleu4_against_hand_counts():
    from fastgan.metrics import bleu     # the README's import (fastgan.metrics has the sequence metrics)
    ref = "the cat is on the mat".split()
    # clipped precisions 5/6, 3/5, 1/4 and no 4-gram (smoothed to 0.1/3); equal length: no penalty
    hyp = "the cat sat on the mat".split()
    assert bleu([hyp], [ref]) == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 0.1 / 3) ** 0.25, rel=1e-12)
    # shorter than the reference: brevity penalty exp(1 - 6/4); precisions 1, 2/3, 0.1/2, 0.1/1
    short = "the cat on the".split()
    want_short = math.exp(1 - 6 / 4) * (1 * 2 / 3 * 0.05 * 0.1) ** 0.25
    assert bleu([short], [ref]) == pytest.approx(want_short, rel=1e-12)
    # several references: counts clip at the largest count in any one reference; the mean over hypotheses
    refs = [ref, "a cat sat on a mat".split()]
    assert bleu([hyp, short], refs) > bleu([hyp, short], [ref])
    assert bleu([ref], refs) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="hypothesis"):
        bleu([], refs)


def float64_inverse_cdf(logits, u):
    """The token of each row by the definition, in float64: the first id whose cumulative softmax
    probability exceeds u (written with numpy, not torch.searchsorted)."""
    p = np.exp(logits.double().numpy() - logits.double().numpy().max(-1, keepdims=True))
    cdf = np.cumsum(p / p.sum(-1, keepdims=True), -1)
    return torch.tensor([min(int((row <= ui).sum()), row.size - 1) for row, ui in zip(cdf, u.double().numpy())])


@pytest.mark.parametrize("V", [300, 5000])
def test_two_level_draw_frequencies_match_softmax(V):
    """Many tokens of one row (two-level search, V not a multiple of the block): chi-square of the
    counts against softmax(logits) with scipy."""
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(V)
    logits = torch.randn(1, V, generator=g) * 1.5
    n = 400 * V if V <= 300 else 100000
    u = torch.rand(n, generator=g)
    got = torch.cat([sn.draw(logits.expand(len(uc), V), uc) for uc in u.split(5000)])
    counts = torch.bincount(got, minlength=V).double().numpy()
    p = torch.softmax(logits[0].double(), 0).numpy()
    if V > 300:   # pool the rare tokens so every expected count is >= 5
        order = p.argsort()
        cut = (p[order].cumsum() * n >= 5).argmax() + 1
        counts = np.concatenate([[counts[order[:cut]].sum()], counts[order[cut:]]])
        p = np.concatenate([[p[order[:cut]].sum()], p[order[cut:]]])
    assert stats.chisquare(counts, p * n).pvalue > 1e-4


def test_two_level_draw_equals_float64_inverse_cdf():
    g = torch.Generator().manual_seed(1)
    for V, temp in ((5000, 1.0), (1000, 0.5), (130, 2.0)):
        logits = torch.randn(400, V, generator=g) * 2
        u = torch.rand(400, generator=g)
        got = sn.draw(logits, u, temp)
        want = float64_inverse_cdf(logits / temp, u)
        assert (got == want).float().mean() >= 0.995, (V, (got != want).sum())   # float32 rounding at ties


def test_two_level_draw_quantiles_and_zero_weights():
    """Evenly spaced quantiles give counts within 1.5 of p * n (the draw is the inverse CDF), and a
    token of zero probability (a whole block, the padded tail) never comes out, even at u -> 1."""
    V, n = 1000, 20000
    logits = torch.randn(1, V, dtype=torch.float64) * 2
    logits[0, 64:128] = -float("inf")                      # one whole block
    logits[0, 990:] = -float("inf")                        # the tail before the padding
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    counts = torch.bincount(sn.draw(logits.expand(n, V), u), minlength=V).double()
    p = torch.softmax(logits[0], 0)
    assert torch.all((counts - p * n).abs() <= 1.5)
    edge = sn.draw(logits.expand(3, V), torch.tensor([0.0, 1 - 1e-7, 0.9999999999]))
    assert torch.all(p[edge] > 0), edge


def test_chunked_draw_next_equals_one_pass():
    """draw_next in chunks of ROWS rows gives the tokens of one draw over all rows, and those are the
    float64 inverse CDF's (up to float32 rounding at ties)."""
    torch.manual_seed(0)
    G = sn.SeqGenerator(700, 4, 6)
    h, u = torch.randn(3 * sn.ROWS + 5, 6) * 3, torch.rand(3 * sn.ROWS + 5)
    with torch.no_grad():
        got = G.draw_next(h, u)
        assert torch.equal(got, sn.draw(G.out(h), u))
        assert (got == float64_inverse_cdf(G.out(h), u)).float().mean() >= 0.99


def test_mean_baseline_gradient_by_hand():
    """With the mean baseline the surrogate's gradient wrt log G(y_t | y_<t) is -(Q_bt - mean_b Q_bt) / B,
    written out with loops."""
    torch.manual_seed(0)
    B, T = 5, 4
    logp = torch.randn(B, T, dtype=torch.float64, requires_grad=True)
    Q = torch.rand(B, T, dtype=torch.float64)
    sn.reinforce_loss(logp, sn.subtract_baseline(Q)).backward()
    for t in range(T):
        mean = sum(Q[b, t].item() for b in range(B)) / B
        for b in range(B):
            assert logp.grad[b, t].item() == pytest.approx(-(Q[b, t].item() - mean) / B, abs=1e-12)
