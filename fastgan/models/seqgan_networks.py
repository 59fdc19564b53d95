"""SeqGAN's networks (Yu et al. 2017): the recurrent generator (the policy), its Monte Carlo
rollouts, the delayed rollout policy, the CNN discriminator and the oracle LSTM.

Sampling is by inverse CDF from given uniforms ``u`` (one per sampled token), so a sample is a
function of its uniforms: a seed names a sequence, and a resumed run draws the same tokens.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .. import checkpoint as ckpt

__all__ = ["SeqGenerator", "SeqDiscriminator", "draw", "BLOCK", "ROWS", "rollout_rewards",
           "REWARDS", "reward_of",
           "subtract_baseline", "reinforce_loss", "update_rollout", "sequence_nll",
           "make_oracle", "save_oracle", "load_oracle", "PAPER_FILTERS"]

# the paper's discriminator: filter sizes and filters per size (Yu et al. 2017, appendix; their code)
PAPER_FILTERS = ((1, 100), (2, 200), (3, 200), (4, 200), (5, 200), (6, 100), (7, 100), (8, 100), (9, 100),
                 (10, 100), (15, 160), (20, 160))
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


BLOCK = 64   # tokens per block of draw's two-level search
ROWS = 64    # rows per chunk of SeqGenerator.draw_next


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """One token per row of ``logits`` [n, V] by inverse CDF of softmax(logits / temperature) at
    ``u`` [n] in [0, 1): the first id whose cumulative probability exceeds ``u``.

    The search runs on unnormalised weights ``exp(logit - max)`` in two levels: the block of
    ``BLOCK`` tokens whose cumulative weight first exceeds ``u`` times the total, then the token
    inside that block; a cumulative sum over all V tokens (a sequential pass) is never formed.
    A token of zero weight is never returned, whatever the rounding."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n, V = logits.shape
    z = logits.float()
    if temperature != 1.0:
        z = z / temperature
    w = torch.softmax(z, -1)                             # (its vectorised exp beats exp_ of z - max)
    target = u.float().reshape(n, 1)
    if V <= 2 * BLOCK:                                   # one level
        return _search(w.cumsum(-1), target).squeeze(-1)
    nb = -(-V // BLOCK)
    if nb * BLOCK != V:
        w = F.pad(w, (0, nb * BLOCK - V))
    wb = w.view(n, nb, BLOCK)
    c = wb.sum(-1).cumsum(-1)                            # cumulative weight at each block's end [n, nb]
    target = target * c[:, -1:]
    b = _search(c, target, scaled=True)                  # the block [n, 1]
    before = torch.where(b > 0, c.gather(1, (b - 1).clamp(min=0)), torch.zeros_like(target))
    inner = wb.gather(1, b.unsqueeze(-1).expand(n, 1, BLOCK)).squeeze(1).cumsum(-1)   # [n, BLOCK]
    j = _search(inner, (target - before).clamp(min=0), scaled=True)
    return (b * BLOCK + j).squeeze(-1)


def _search(cdf: torch.Tensor, target: torch.Tensor, scaled: bool = False) -> torch.Tensor:
    """The first index whose ``cdf`` [n, K] (non-decreasing) exceeds ``target`` [n, 1] (times the
    total unless ``scaled``), never past the last index of positive weight: [n, 1]."""
    total = cdf[:, -1:]
    idx = torch.searchsorted(cdf, (target if scaled else target * total).contiguous(), right=True)
    last = (cdf < total).sum(-1, keepdim=True)           # the first index that reaches the total
    return torch.minimum(idx, last)


class SeqGenerator(nn.Module):
    """Embedding -> LSTM (or GRU) -> linear -> softmax over the vocabulary; the policy of SeqGAN.

    Every sequence starts from the token ``start`` (id 0, as in the paper's code)."""

    def __init__(self, vocab: int, emb: int = 32, hidden: int = 32, cell: str = "lstm", start: int = 0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if vocab < 2 or emb < 1 or hidden < 1:
            raise ValueError(f"need vocab >= 2, emb >= 1, hidden >= 1; got {vocab}, {emb}, {hidden}")
        self.vocab, self.cell, self.start = vocab, cell, start
        self.embed = nn.Embedding(vocab, emb)
        self.rnn = CELLS[cell](emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    # -- one step ------------------------------------------------------------------------
    def advance(self, tokens: torch.Tensor, state=None):
        """Consume ``tokens`` [n]; returns (h [n, H], new state)."""
        h, state = self.rnn(self.embed(tokens).unsqueeze(1), state)
        return h.squeeze(1), state

    def begin(self, n: int, device=None):
        """State and next-token logits after the start token, for ``n`` rows."""
        h, state = self.advance(torch.full((n,), self.start, dtype=torch.long, device=device))
        return state, self.out(h)

    # -- whole sequences ----------------------------------------------------------------
    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced hidden states [B, T, H] of ``x`` [B, T]: position t predicts x[:, t]."""
        inp = torch.cat([torch.full_like(x[:, :1], self.start), x[:, :-1]], dim=1)
        return self.rnn(self.embed(inp))[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, T, V] of ``x`` [B, T]: position t predicts x[:, t]."""
        return self.out(self._hidden(x))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_t | x_<t) [B, T].  On the CPU the output layer runs on ``4 * ROWS`` positions at a
        time, so the [positions, V] logits stay in cache (2.5x faster at [1024, 20] x 5,000)."""
        h, xs = self._hidden(x).flatten(0, 1), x.flatten()
        rows = 4 * ROWS if h.device.type == "cpu" else len(h)
        out = []
        for hc, xc in zip(h.split(rows), xs.split(rows)):
            z = self.out(hc)
            z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
            out.append(z.gather(1, xc[:, None]).squeeze(1) - torch.logsumexp(z, 1))
        return torch.cat(out).view(x.shape)

    def prefix_states(self, x: torch.Tensor) -> list:
        """The states after the start token and x[:, :t], for t = 0 .. T-1 (``states[t]``)."""
        states = [self.begin(len(x), x.device)[0]]
        for t in range(x.shape[1] - 1):
            states.append(self.advance(x[:, t], states[-1])[1])
        return states

    @torch.no_grad()
    def sample(self, u: torch.Tensor, temperature: float = 1.0, prefix: torch.Tensor | None = None,
               state=None) -> torch.Tensor:
        """Sequences [n, T] from uniforms ``u`` [n, T]: ``prefix`` [n, t] is kept and positions
        t .. T-1 are drawn with ``u[:, t:]`` (``state``: the state after the prefix, if known)."""
        n, T = u.shape
        t0 = 0 if prefix is None else prefix.shape[1]
        if t0 > T:
            raise ValueError(f"prefix of length {t0} is longer than the sequence ({T})")
        out = torch.empty(n, T, dtype=torch.long, device=u.device)
        if t0:
            out[:, :t0] = prefix
        if t0 == T:
            return out
        if state is None:
            h, state = self.advance(torch.full((n,), self.start, dtype=torch.long, device=u.device))
            for t in range(t0):
                h, state = self.advance(out[:, t], state)
        else:
            h = _top(state)
        for t in range(t0, T):
            out[:, t] = self.draw_next(h, u[:, t], temperature)
            if t + 1 < T:
                h, state = self.advance(out[:, t], state)
        return out

    def draw_next(self, h: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Next tokens [n] from hidden states ``h`` [n, H] and uniforms ``u`` [n]: the output layer
        and :func:`draw` run on ``ROWS`` rows at a time, so the [rows, V] temporaries stay in the
        cache (on the CPU, one [1024, 5000] pass costs ~3x sixteen [64, 5000] ones)."""
        if len(h) <= ROWS or h.device.type != "cpu":   # (GPUs: one launch is better)
            return draw(self.out(h), u, temperature)
        return torch.cat([draw(self.out(hc), uc, temperature) for hc, uc in zip(h.split(ROWS), u.split(ROWS))])


def _top(state):
    """h of the (last layer of the) state, [n, H]."""
    h = state[0] if isinstance(state, tuple) else state
    return h[-1]


def _repeat(state, n: int):
    """Each row of a state repeated ``n`` times as blocks: rows [k * B + b] = row b."""
    if isinstance(state, tuple):
        return tuple(s.repeat(1, n, 1) for s in state)
    return state.repeat(1, n, 1)


REWARDS = ("prob", "logit")


def reward_of(logits: torch.Tensor, kind: str = "prob") -> torch.Tensor:
    """A sequence's reward from D's logit: ``prob`` is D's probability sigmoid(logit) (the paper);
    ``logit`` is the logit itself, log D / (1 - D), which for the optimal D is the log density
    ratio log p_data(x) - log p_G(x): its expectation under G is -KL(G || data)."""
    if kind == "prob":
        return torch.sigmoid(logits.float())
    if kind == "logit":
        return logits.float()
    raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {kind!r}")


@torch.no_grad()
def rollout_rewards(R: SeqGenerator, D: nn.Module, x: torch.Tensor, n: int, uniforms,
                    reward: str = "prob") -> torch.Tensor:
    """SeqGAN's rewards [B, T] of sequences ``x`` [B, T]: at t < T the mean of the reward over
    ``n`` Monte Carlo completions of x[:, :t] by the rollout policy ``R``; at T, the reward of
    ``x`` itself.  The reward is D's probability (``reward="prob"``, the paper) or D's logit
    (``"logit"``, see :func:`reward_of`).  ``uniforms(rows, cols)`` gives the rollouts' uniforms;
    all ``n`` rollouts of a prefix run as one batch of ``n * B`` rows, continuing from R's state
    after the prefix.
    """
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")
    B, T = x.shape
    states = R.prefix_states(x)   # states[t]: after the start token and x[:, :t]
    rewards = torch.empty(B, T, device=x.device)
    for t in range(1, T):
        prefix = x[:, :t].repeat(n, 1)
        y = R.sample(_pad_u(uniforms(n * B, T - t), T), prefix=prefix, state=_repeat(states[t], n))
        rewards[:, t - 1] = reward_of(D(y), reward).view(n, B).mean(0)
    rewards[:, T - 1] = reward_of(D(x), reward)
    return rewards


def _pad_u(u: torch.Tensor, T: int) -> torch.Tensor:
    """Uniforms [r, k] for the last k positions -> [r, T] (the first T - k are unused)."""
    return torch.cat([u.new_zeros(u.shape[0], T - u.shape[1]), u], dim=1)


def subtract_baseline(rewards: torch.Tensor) -> torch.Tensor:
    """Q minus its batch mean at each timestep (a baseline that depends on no action: REINFORCE
    stays unbiased up to the 1/B of the batch's own term; the variance drops)."""
    return rewards - rewards.mean(0, keepdim=True)


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """The policy-gradient surrogate: -mean over sequences of sum_t log G(y_t | y_<t) * Q_t, whose
    gradient is the REINFORCE estimate of -grad E[R] (``rewards`` are constants)."""
    return -(log_probs * rewards.detach()).sum(1).mean()


@torch.no_grad()
def update_rollout(R: SeqGenerator, G: SeqGenerator, rate: float) -> None:
    """The delayed rollout policy: R <- rate * R + (1 - rate) * G for the recurrent and output
    weights; the embedding is copied, as in the paper's code (``update_params``)."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rollout rate must be in [0, 1], got {rate}")
    for (name, pr), pg in zip(R.named_parameters(), G.parameters()):
        if name.startswith("embed."):
            pr.copy_(pg)
        else:
            pr.mul_(rate).add_(pg, alpha=1 - rate)


@torch.no_grad()
def sequence_nll(model: SeqGenerator, x: torch.Tensor, batch: int = 1000) -> float:
    """The average per-token negative log-likelihood of sequences ``x`` [N, T] under ``model``."""
    if x.ndim != 2 or x.dtype != torch.long or len(x) == 0:
        raise ValueError(f"x must be a non-empty int64 [N, T] tensor, got {x.dtype} {tuple(x.shape)}")
    if int(x.min()) < 0 or int(x.max()) >= model.vocab:
        raise ValueError(f"x holds token ids outside the model's vocabulary [0, {model.vocab})")
    dev = next(model.parameters()).device
    total = 0.0
    for i in range(0, len(x), batch):
        total += -model.log_probs(x[i:i + batch].to(dev)).double().sum().item()
    return total / x.numel()


class Highway(nn.Module):
    """y = t * relu(W_h x) + (1 - t) * x with the gate t = sigmoid(W_t x)."""

    def __init__(self, dim: int):
        super().__init__()
        self.h, self.t = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x):
        t = torch.sigmoid(self.t(x))
        return t * F.relu(self.h(x)) + (1 - t) * x


class SeqDiscriminator(nn.Module):
    """The paper's CNN: embeddings, one convolution per filter size with max-over-time pooling,
    a highway layer, dropout and one logit (D's probability is its sigmoid).  Filter sizes larger
    than the sequence length are left out; ``width`` scales the number of filters."""

    def __init__(self, vocab: int, length: int, emb: int = 64, filters=PAPER_FILTERS, width: float = 1.0,
                 dropout: float = 0.25):
        super().__init__()
        use = [(k, max(1, int(round(m * width)))) for k, m in filters if k <= length]
        if not use:
            raise ValueError(f"no filter size fits sequences of length {length} (sizes {[k for k, _ in filters]})")
        self.embed = nn.Embedding(vocab, emb)
        self.convs = nn.ModuleList(nn.Conv1d(emb, m, k) for k, m in use)
        dim = sum(m for _, m in use)
        self.highway = Highway(dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x).transpose(1, 2)                                    # [B, emb, T]
        feats = torch.cat([F.relu(c(e)).amax(-1) for c in self.convs], 1)   # max over time
        return self.out(self.drop(self.highway(feats))).squeeze(1)


# -- the oracle ----------------------------------------------------------------------------------
def make_oracle(vocab: int = 5000, emb: int = 32, hidden: int = 32, *, seed: int = 0, std: float = 1.0,
                cell: str = "lstm") -> SeqGenerator:
    """The synthetic experiment's true distribution: a generator whose parameters are N(0, std^2)
    (one bias per gate: the recurrent bias is zero), frozen."""
    g = torch.Generator().manual_seed(seed)
    oracle = SeqGenerator(vocab, emb, hidden, cell)
    with torch.no_grad():
        for name, p in oracle.named_parameters():
            p.copy_(torch.zeros_like(p) if name.startswith("rnn.bias_hh") else torch.randn(p.shape, generator=g) * std)
    return oracle.eval().requires_grad_(False)


def save_oracle(oracle: SeqGenerator, path: str) -> str:
    cfg = {"vocab": oracle.vocab, "emb": oracle.embed.embedding_dim, "hidden": oracle.rnn.hidden_size,
           "cell": oracle.cell}
    return ckpt.save(path, {"oracle": cfg, "weights": oracle.state_dict()})


def load_oracle(path: str, device="cpu") -> SeqGenerator:
    state = ckpt.load(path)
    if "oracle" not in state:
        raise ValueError(f"oracle: {path} is a fastgan checkpoint but not an oracle (save_oracle writes those)")
    cfg = state["oracle"]
    oracle = SeqGenerator(int(cfg["vocab"]), int(cfg["emb"]), int(cfg["hidden"]), cfg["cell"])
    oracle.load_state_dict(state["weights"])
    return oracle.to(device).eval().requires_grad_(False)


def uniform_nll(vocab: int) -> float:
    """The per-token NLL of a uniform generator under itself: log(vocab)."""
    return math.log(vocab)
