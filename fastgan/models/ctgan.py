"""CTGAN (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN"): networks, losses, sampling.

* G: ``z ++ cond`` through residual fully-connected blocks (Linear -> BatchNorm -> ReLU, the
  block's output concatenated to its input), 256-256, then a linear layer to the encoded
  row.  Scalar spans go through tanh, one-hot spans through Gumbel-softmax with tau = 0.2
  (hard one-hots when sampling).
* D: PacGAN (pac = 10 rows judged together) over ``row ++ cond``: 256-256 with LeakyReLU 0.2
  and dropout 0.5, one output per pack.
* Losses: WGAN-GP with lambda = 10 (per pack: the interpolation weight is shared by a pack's
  rows and the gradient norm runs over the pack) through ``fastgan.ops``' fused
  ``lerp_samples`` and ``grad_norm_penalty``; G adds the cross-entropy of its discrete
  outputs against the condition.  The critic is affine then piecewise linear, so the penalty
  starts from its first layer's output (``lerp`` of the real and fake packs' outputs) and
  gets dD/dx as (dD/dz1) W1: the same value and gradients as the double backward through the
  input, with 3 of the first layer's 6 penalty GEMMs fewer (see :func:`gradient_penalty`).
* :class:`TableSynthesizer` samples rows for users: ``sample(n, condition={"column": "value"})``
  and ``oversample(table, target, ratio)`` for minority classes.

The table encoding and the sampler live in ``fastgan.data.tabular_transform``.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.mixed_table import MixedTable
from ..data.tabular_transform import ConditionalSampler, TableTransformer
from ..ops import grad_penalty as gp

__all__ = ["CTGANConfig", "Residual", "CTGenerator", "CTDiscriminator", "gumbel_softmax", "activate",
           "cond_loss", "d_loss", "g_loss", "gradient_penalty", "TableSynthesizer", "make_optimizers"]


@dataclasses.dataclass
class CTGANConfig:
    """The paper's defaults."""

    z_dim: int = 128                          # embedding_dim
    g_dims: tuple[int, ...] = (256, 256)      # residual blocks of G
    d_dims: tuple[int, ...] = (256, 256)      # hidden layers of D
    pac: int = 10                             # rows per PacGAN pack
    tau: float = 0.2                          # Gumbel-softmax temperature
    gp_lambda: float = 10.0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-6
    batch: int = 500
    n_critic: int = 1


class Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, concatenated to the input: ``[N, i] -> [N, i + o]``."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, x):
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)


def _positive_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    return int(v)


class CTGenerator(nn.Module):
    """``G(z, cond) -> raw output [N, data_dim]`` (before the span activations; see :func:`activate`)."""

    def __init__(self, z_dim: int, cond_dim: int, data_dim: int, dims=(256, 256)):
        super().__init__()
        _positive_int(z_dim, "z_dim"), _positive_int(data_dim, "data_dim")
        if isinstance(cond_dim, bool) or not isinstance(cond_dim, int) or cond_dim < 0:
            raise ValueError(f"cond_dim must be an int >= 0, got {cond_dim!r}")
        self.z_dim, self.cond_dim, self.data_dim = z_dim, cond_dim, data_dim
        blocks, d = [], z_dim + cond_dim
        for o in dims:
            blocks.append(Residual(d, _positive_int(o, "dims")))
            d += o
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(d, data_dim)

    def forward(self, z, cond=None):
        if cond is not None and cond.shape[1]:
            z = torch.cat([z, cond], dim=1)
        if not torch.is_grad_enabled() or z.requires_grad or not all(isinstance(b, Residual) for b in self.blocks):
            return self.out(self.blocks(z))
        # training G: the input (z ++ cond) needs no gradient and is the last columns of every
        # layer's input (each block prepends its output), so the backward skips those columns of
        # dX (for 256-256 blocks and z_dim 128, ~1/3 of the second block's input-gradient GEMM)
        tail = z.shape[1]
        x = z
        for b in self.blocks:
            x = torch.cat([F.relu(b.bn(_head_linear(x, b.fc.weight, b.fc.bias, x.shape[1] - tail))), x], dim=1)
        return _head_linear(x, self.out.weight, self.out.bias, x.shape[1] - tail)


class _HeadLinear(torch.autograd.Function):
    """``F.linear(x, W, b)`` whose backward returns dX only for x's first ``k`` columns (zeros after)."""

    @staticmethod
    def forward(ctx, x, weight, bias, k):
        ctx.save_for_backward(x, weight)
        ctx.k = k
        return F.linear(x, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = F.pad(dy @ weight[:, :ctx.k], (0, x.shape[1] - ctx.k))
        if ctx.needs_input_grad[1]:
            dw = dy.t() @ x
        if ctx.needs_input_grad[2]:
            db = dy.sum(0)
        return dx, dw, db, None


def _head_linear(x, weight, bias, k):
    return F.linear(x, weight, bias) if k == 0 else _HeadLinear.apply(x, weight, bias, k)


class UniformDropout(nn.Module):
    """Inverted dropout with the keep mask drawn as ``rand >= p``: the same distribution as
    ``nn.Dropout``, ~3x faster on the CPU, where torch's ``bernoulli_`` draws element by element."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return x * ((torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p)))


class CTDiscriminator(nn.Module):
    """PacGAN critic: ``[N, in_dim] -> [N / pac, 1]``, N a multiple of ``pac``."""

    def __init__(self, in_dim: int, dims=(256, 256), pac: int = 10, dropout: float = 0.5):
        super().__init__()
        self.pac, self.in_dim = _positive_int(pac, "pac"), _positive_int(in_dim, "in_dim")
        layers, d = [], in_dim * pac
        for o in dims:
            layers += [nn.Linear(d, _positive_int(o, "dims")), nn.LeakyReLU(0.2), UniformDropout(dropout)]
            d = o
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def pack(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape [N, {self.in_dim}], got {tuple(x.shape)}")
        if x.shape[0] % self.pac:
            raise ValueError(f"the batch ({x.shape[0]} rows) must be a multiple of pac = {self.pac}")
        return x.reshape(x.shape[0] // self.pac, self.pac * self.in_dim)

    def forward(self, x):
        return self.net(self.pack(x))


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False, u: torch.Tensor | None = None):
    """softmax((logits + g) / tau) with g = -log(-log(u)), u ~ U(0, 1) (drawn when None).

    ``hard`` returns exact one-hots of the argmax with the soft sample's gradient (straight-through).
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    if u is None:
        u = torch.rand_like(logits)
    g = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
    y = torch.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return y
    one = torch.zeros_like(y).scatter_(-1, y.argmax(-1, keepdim=True), 1.0)
    return one - y.detach() + y


@dataclasses.dataclass(frozen=True)
class _Layout:
    scalar: torch.Tensor     # [n_tanh] positions of the scalar spans
    soft: torch.Tensor       # [W * S] positions of the one-hot spans ([W, S]: span s in column s, padded with 0)
    valid: torch.Tensor      # [W, S] bool: which entries of ``soft`` are real
    valid_flat: torch.Tensor  # flat indices of the real entries
    inverse: torch.Tensor    # [dim] from (scalars, real one-hot entries) back to row order
    shape: tuple[int, int]   # (W, S)


@functools.lru_cache(maxsize=64)
def _layout(spans: tuple, device: str) -> _Layout:
    pos, scalar, soft = 0, [], []
    for start, end, act in spans:
        if start != pos or end <= start:
            raise ValueError(f"spans must tile the row in order, got {list(spans)}")
        if act == "tanh":
            scalar += range(start, end)
        elif act == "softmax":
            soft.append(list(range(start, end)))
        else:
            raise ValueError(f"spans: unknown activation {act!r}")
        pos = end
    width = max((len(r) for r in soft), default=0)
    # spans as [W, S] (widest x spans): the padded softmax runs over W
    valid = torch.tensor([[i < len(r) for i in range(width)] for r in soft], dtype=torch.bool)
    valid = valid.reshape(len(soft), width).T
    idx = torch.tensor([r + [0] * (width - len(r)) for r in soft], dtype=torch.long).reshape(len(soft), width).T
    valid, idx = valid.contiguous(), idx.contiguous()
    scalar_t = torch.tensor(scalar, dtype=torch.long)
    order = torch.cat([scalar_t, idx[valid]])
    return _Layout(scalar_t.to(device), idx.reshape(-1).to(device), valid.to(device),
                   torch.nonzero(valid.reshape(-1)).reshape(-1).to(device), torch.argsort(order).to(device),
                   (width, len(soft)))


def activate(raw: torch.Tensor, spans, tau: float = 0.2, hard: bool = False, u: torch.Tensor | None = None):
    """G's output layer: tanh on scalar spans, Gumbel-softmax on one-hot spans.

    The work runs on the transposed rows (``[dim, N]``, one copy): every span gather is then a
    copy of whole rows, and all one-hot spans go through one padded softmax over the outermost
    dimension of ``[widest, spans, N]`` (padding at -inf), a vectorised reduction across slabs,
    instead of one small softmax per span (torch's CPU softmax over a short last dimension is
    ~30x slower).  ~1.3x faster forward and backward than the same padded softmax on ``[N, ...]``.

    Args:
        spans: ``(start, end, activation)`` triples tiling the row (``TableTransformer.output_info()``).
        u: optional uniform noise of ``raw``'s shape for the Gumbel draws.
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    lay = _layout(tuple(tuple(s) for s in spans), str(raw.device))
    if raw.ndim != 2 or raw.shape[1] != len(lay.inverse):
        raise ValueError(f"raw must have shape [N, {len(lay.inverse)}] for these spans, got {tuple(raw.shape)}")
    if u is not None and u.shape != raw.shape:
        raise ValueError(f"u must have raw's shape {tuple(raw.shape)}, got {tuple(u.shape)}")
    n = raw.shape[0]
    rows = raw.t().contiguous()                                   # [dim, N]
    parts = [torch.tanh(rows.index_select(0, lay.scalar))]
    if lay.soft.numel():
        w, s = lay.shape
        x = rows.index_select(0, lay.soft).view(w, s, n)
        uu = (u.t().contiguous().index_select(0, lay.soft).view(w, s, n) if u is not None
              else torch.rand_like(x))
        g = uu.clamp(1e-20, 1.0 - 1e-7).log_().neg_().log_().neg_()    # -log(-log(u)), in place
        y = torch.softmax(((x + g) / tau).masked_fill(~lay.valid[:, :, None], float("-inf")), dim=0)
        if hard:
            one = torch.zeros_like(y).scatter_(0, y.argmax(0, keepdim=True), 1.0)
            y = one - y.detach() + y
        parts.append(y.reshape(w * s, n).index_select(0, lay.valid_flat))
    return torch.cat(parts, 0).index_select(0, lay.inverse).t().contiguous()


def cond_loss(raw: torch.Tensor, cond_spans, cond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of G's discrete logits against the condition, on the chosen column only.

    Args:
        raw: G's raw output [N, data_dim].
        cond_spans: ``(start, end)`` of each discrete column's one-hot in ``raw``, in condition order.
        cond: the conditional vector [N, sum of widths]; mask: [N, n_discrete].
    """
    if not cond_spans:
        return raw.new_zeros(())
    losses, off = [], 0
    for start, end in cond_spans:
        w = end - start
        target = cond[:, off:off + w].argmax(dim=1)
        losses.append(F.cross_entropy(raw[:, start:end], target, reduction="none"))
        off += w
    return (torch.stack(losses, dim=1) * mask).sum() / raw.shape[0]


def _piecewise_linear(layers) -> bool:
    """Whether ``layers`` are only linear layers, LeakyReLU/ReLU and dropout (inverted, a fixed mask):
    then the critic's input gradient depends on the first layer's output only through the slopes'
    piecewise-constant pattern."""
    return all(isinstance(m, (nn.Linear, nn.LeakyReLU, nn.ReLU, UniformDropout, nn.Dropout, nn.Identity))
               for m in layers)


def gradient_penalty(D: CTDiscriminator, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor,
                     lam: float = 10.0) -> torch.Tensor:
    """lam * mean over packs of (||dD/dx_hat||_pack - 1)^2, x_hat = real + alpha_pack (fake - real).

    ``alpha`` holds one weight per pack ([N / pac]); a pack's rows share it, as in the paper's code.

    With D = rest(W1 x + b1) and ``rest`` piecewise linear (LeakyReLU, dropout, linear layers),
    dD/dx = (dD/dz1) W1 and dD/dz1 is piecewise constant in z1 = W1 x + b1, so its derivative with
    respect to W1 and b1 through z1 is zero wherever it exists (autograd returns exact zeros there).
    The penalty is therefore computed from z1 without a graph to W1 (no gradient of x_hat, no
    zero-filled product with W1 in the backward): the same value and the same parameter gradients
    as differentiating D twice through x_hat, at 2 of the first layer's 6 GEMMs fewer.
    """
    alpha = alpha.reshape(-1)
    x_hat = gp.lerp_samples(D.pack(real.detach()), D.pack(fake.detach()), alpha)   # packed [N / pac, pac * dim]
    if not _first_layer_split(D):
        x_hat.requires_grad_(True)
        (g,) = torch.autograd.grad(D.net(x_hat).sum(), x_hat, create_graph=True)
        return lam * gp.grad_norm_penalty(g).mean()
    with torch.no_grad():
        z1 = D.net[0](x_hat)
    return _penalty_from_z1(D, z1, lam)


def _first_layer_split(D) -> bool:
    return isinstance(D.net[0], nn.Linear) and _piecewise_linear(D.net[1:])


def _penalty_from_z1(D, z1: torch.Tensor, lam: float) -> torch.Tensor:
    """The penalty at packed inputs whose first-layer output is ``z1`` (no graph): dD/dx = (dD/dz1) W1."""
    first, rest = D.net[0], D.net[1:]
    z1 = z1.detach().requires_grad_(True)
    (gz,) = torch.autograd.grad(rest(z1).sum(), z1, create_graph=True)
    return lam * gp.grad_norm_penalty(gz @ first.weight).mean()


def d_loss(G, D, spans, real, cond_real, cond_fake, z, *, tau=0.2, lam=10.0, alpha=None, u=None):
    """The critic's WGAN-GP loss; returns ``(loss, scalars)``.

    ``real`` rows are paired with ``cond_real`` and G's rows (from ``z``) with ``cond_fake``.
    """
    with torch.no_grad():
        fake = activate(G(z, cond_fake), spans, tau, u=u)
    real_in, fake_in = torch.cat([real, cond_real], 1), torch.cat([fake, cond_fake], 1)
    if alpha is None:
        alpha = torch.rand(real.shape[0] // D.pac, device=real.device, dtype=real.dtype)
    # one pass over both sets (packs never straddle them: N is a multiple of pac); its GEMMs run
    # ~1.5x faster than two half-size passes on one CPU thread
    x = D.pack(torch.cat([real_in, fake_in]))
    if _first_layer_split(D):
        z1 = D.net[0](x)
        y = D.net[1:](z1)
        # the first layer is affine, so at x_hat = lerp(real, fake, alpha) per pack its output is
        # lerp(z1_real, z1_fake, alpha) (the bias's weights sum to 1): no GEMM for the penalty's input
        p = len(z1) // 2
        with torch.no_grad():
            z_hat = gp.lerp_samples(z1[:p], z1[p:], alpha.reshape(-1).to(z1.dtype))
        pen = _penalty_from_z1(D, z_hat, lam)
    else:
        y = D.net(x)
        pen = gradient_penalty(D, real_in, fake_in, alpha, lam)
    y_real, y_fake = y[:len(y) // 2], y[len(y) // 2:]
    wdist = y_real.mean() - y_fake.mean()
    return pen - wdist, {"wdist": wdist.detach(), "gp": pen.detach()}


def g_loss(G, D, spans, cond_spans, cond, mask, z, *, tau=0.2, u=None):
    """G's loss: -D(fake) plus the condition's cross-entropy; returns ``(loss, scalars)``."""
    raw = G(z, cond)
    fake = activate(raw, spans, tau, u=u)
    adv = -D(torch.cat([fake, cond], 1)).mean()
    ce = cond_loss(raw, cond_spans, cond, mask)
    return adv + ce, {"adv": adv.detach(), "cond_ce": ce.detach()}


def _adam(params, lr, betas, weight_decay):
    params = list(params)
    # torch's fused Adam: the same update (L2 weight decay added to the gradient, bias-corrected
    # moments) in one pass per tensor instead of ~10 elementwise kernels; ~1.6x faster on one
    # CPU thread, where the for-each loop is ~10% of a CTGAN step
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in params)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=fused or None)


def make_optimizers(G, D, cfg: CTGANConfig) -> dict:
    """Adam 2e-4, betas (0.5, 0.9), weight decay 1e-6 for both networks."""
    return {"G": _adam(G.parameters(), cfg.lr_g, cfg.betas, cfg.weight_decay),
            "D": _adam(D.parameters(), cfg.lr_d, cfg.betas, cfg.weight_decay)}


def cond_spans_of(transformer: TableTransformer) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in transformer.spans if s.discrete]


class TableSynthesizer:
    """Rows from a trained generator: ``sample(n, condition=...)`` and ``oversample``.

    Args:
        G: a :class:`CTGenerator` (put in eval mode while sampling).
        transformer: the fitted :class:`TableTransformer`; sampler: its :class:`ConditionalSampler`.
        tau: Gumbel-softmax temperature; samples are hard one-hots.
    """

    def __init__(self, G: CTGenerator, transformer: TableTransformer, sampler: ConditionalSampler,
                 tau: float = 0.2):
        self.G, self.transformer, self.sampler, self.tau = G, transformer, sampler, tau
        self.spans = transformer.output_info()

    @torch.no_grad()
    def sample_encoded(self, n: int, condition: dict | None = None, seed: int = 0, batch: int = 500,
                       conditions=None):
        """Encoded rows [n, dim] (float32 numpy, hard one-hots) generated under ``condition``, under
        given ``conditions`` (a ``CondBatch`` of n rows) or under conditions drawn by the data's
        frequencies."""
        n = _positive_int(n, "n")
        rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(int(seed))
        dev = next(self.G.parameters()).device
        if conditions is not None:
            if condition is not None or len(conditions.cond) != n:
                raise ValueError(f"conditions must hold n = {n} rows and exclude condition")
            cb = conditions
        else:
            cb = (self.sampler.condition(condition, n) if condition is not None
                  else self.sampler.sample_original(n, rng))
        was = self.G.training
        self.G.eval()
        try:
            out = []
            for i in range(0, n, batch):
                m = min(batch, n - i)
                z = torch.randn(m, self.G.z_dim, generator=gen).to(dev)
                u = torch.rand(m, self.transformer.dim, generator=gen).to(dev)
                c = torch.from_numpy(cb.cond[i:i + m]).to(dev)
                out.append(activate(self.G(z, c), self.spans, self.tau, hard=True, u=u).float().cpu())
        finally:
            self.G.train(was)
        return torch.cat(out).numpy()

    def sample(self, n: int, condition: dict | None = None, seed: int = 0, batch: int = 500) -> MixedTable:
        """``n`` rows; ``condition={"column": "value"}`` asks for rows of that category."""
        return self.transformer.decode(self.sample_encoded(n, condition, seed, batch))

    def sample_matching(self, n: int, condition: dict, seed: int = 0, max_rounds: int = 20) -> MixedTable:
        """``n`` rows that honour ``condition`` exactly (rows that miss it are drawn again)."""
        n = _positive_int(n, "n")
        (col, val), = condition.items()
        out, need = None, n
        for r in range(max_rounds):
            t = self.sample(max(2 * need, 10), condition, seed=seed + 7919 * r)
            t = t.take(np.flatnonzero(t[col] == str(val))[:need])
            out = t if out is None else out.concat(t)
            need = n - len(out)
            if need == 0:
                return out
        raise RuntimeError(f"the generator honoured {col}={val!r} too rarely to collect {n} rows "
                           f"in {max_rounds} rounds (got {len(out)})")

    def oversample(self, table: MixedTable, target: str, ratio="balance", seed: int = 0) -> MixedTable:
        """Generated rows of the minority classes of ``target`` to add to ``table``.

        Args:
            ratio: ``"balance"`` brings every class up to the majority count; a number r in (0, 1]
                brings each class up to r x the majority count.
        Returns only the new rows (``table.concat(result)`` is the augmented table).
        """
        self.transformer.check_table(table)
        if target not in self.sampler.columns:
            raise ValueError(f"target {target!r} is not a discrete column of the training data "
                             f"(discrete columns: {list(self.sampler.columns)})")
        if ratio == "balance":
            ratio = 1.0
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
            raise ValueError(f"ratio must be 'balance' or a number in (0, 1], got {ratio!r}")
        cats, counts = np.unique(table[target].astype(str), return_counts=True)
        goal = int(np.ceil(ratio * counts.max()))
        out = table.take(np.zeros(0, dtype=np.int64))
        for i, (k, c) in enumerate(zip(cats, counts)):
            if goal > c:
                out = out.concat(self.sample_matching(int(goal - c), {target: k}, seed=seed + i))
        return out
