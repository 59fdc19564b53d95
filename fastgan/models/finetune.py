"""Fine-tuning a pretrained GAN on little data: the methods FreezeD (Mo et al., 2020) compares.

A recipe option set of the families that mix in :class:`FineTune` (``dcgan`` and its
``wgan`` variants, ``stylegan2``).  ``init`` (``fastgan train --init-from CKPT``) names the
source checkpoint; ``finetune`` (``--finetune METHOD``) the method:

* ``full``: every parameter trains (from the source when ``init`` is given);
* ``freezed``: the first ``freeze_d`` blocks of D (from its input) are frozen: in a DCGAN D a
  block is a convolution with the normalisation after it; in StyleGAN2 one resolution block,
  the epilogue (minibatch-std, conv, fc, out) being the last;
* ``scale-shift``: in the networks ``scale_shift_nets`` only the normalisation parameters
  (BatchNorm/GroupNorm/LayerNorm/InstanceNorm affine) and style ``affine`` layers train;
* ``l2sp``: every parameter trains, with the penalty Σ_groups λ_g ||θ_g − θ_g^source||² added to
  the loss of the phase that trains it; ``l2sp`` lists ``PATTERN=LAMBDA`` groups over
  ``net.param`` names (the first matching pattern gives a parameter its λ; unmatched: 0);
* ``distill``: the frozen source G (a helper network) sees the same latent as the target G,
  and ``distill_weight`` · mean_l mean (f_l − f_l^source)² over the taps ``distill_layers``
  (fnmatch patterns of module names; default: G's ReLU outputs) joins G's loss;
* ``minegan`` (Wang et al., 2020): a miner MLP ``z + M(z)`` (last layer zero-initialised, so it
  starts as the identity) is attached in front of G (of StyleGAN2's mapping network); for
  ``mine_kimg`` only the miner trains on G's side (G's parameters stay those of the source),
  then G and miner are fine-tuned together.

Every method but ``full`` needs ``init``.  Frozen parameters are appended to ``recipe.freeze``
when the networks are built, so the engine's per-parameter freezing applies them.  BatchNorm
running statistics of frozen layers still follow the data (they are buffers, not parameters).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fnmatch

import torch
from torch import nn

from .. import checkpoint as ckpt
from ..family import Phase, Recipe, Stage

__all__ = ["METHODS", "FinetuneRecipe", "FineTune", "Miner", "d_blocks", "scale_shift_names", "l2sp_penalty",
           "parse_groups"]

METHODS = ("full", "freezed", "scale-shift", "l2sp", "distill", "minegan")
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


@dataclasses.dataclass
class FinetuneRecipe(Recipe):
    """Fine-tuning options (see :mod:`fastgan.models.finetune`)."""

    finetune: str = "full"                       # full | freezed | scale-shift | l2sp | distill | minegan
    freeze_d: int = 2                            # freezed: D blocks frozen from the input side
    scale_shift_nets: tuple[str, ...] = ("G", "D")   # scale-shift: networks restricted to norm/affine params
    l2sp: tuple[str, ...] = ("G.*=0.01", "D.*=0.01")   # l2sp: PATTERN=LAMBDA groups of net.param names
    distill_weight: float = 1.0                  # distill: weight of the feature loss
    distill_layers: tuple[str, ...] = ()         # distill: module-name patterns of G tapped (default: ReLUs)
    mine_kimg: float = 1.0                       # minegan: kimg of the miner-only stage
    miner_hidden: int = 64                       # minegan: hidden width of the miner MLP


class Miner(nn.Module):
    """z -> z + MLP(z), the MLP's last layer zero-initialised (the identity at the start)."""

    def __init__(self, z_dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, z_dim))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, z):
        return z + self.net(z)


def _mine(module, args):
    return (module.miner(args[0]),) + tuple(args[1:])


def d_blocks(D: nn.Module) -> list[list[str]]:
    """D's parameter names grouped in blocks from the input side: ``D.blocks`` elements then the
    rest (StyleGAN2), else one block per Conv/Linear layer with the layers after it up to the next."""
    names = [n for n, _ in D.named_parameters()]
    if isinstance(getattr(D, "blocks", None), nn.ModuleList):
        out = [[n for n in names if n.startswith(f"blocks.{i}.")] for i in range(len(D.blocks))]
        rest = [n for n in names if not n.startswith("blocks.")]
        return [b for b in out + [rest] if b]
    out: list[list[str]] = []
    for mname, mod in D.named_modules():
        own = [f"{mname}.{p}" if mname else p for p, _ in mod.named_parameters(recurse=False)]
        if not own:
            continue
        if isinstance(mod, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)) or not out:
            out.append(own)
        else:
            out[-1].extend(own)
    return out


def scale_shift_names(net: nn.Module) -> list[str]:
    """Parameter names of normalisation layers and of modules named ``affine``."""
    out = []
    for mname, mod in net.named_modules():
        if isinstance(mod, _NORMS) or mname.split(".")[-1] == "affine":
            out += [f"{mname}.{p}" for p, _ in mod.named_parameters(recurse=False)]
    return out


def parse_groups(specs) -> list[tuple[str, float]]:
    """``["G.*=0.01", ...]`` -> ``[("G.*", 0.01), ...]``."""
    out = []
    for s in specs:
        pat, sep, lam = str(s).rpartition("=")
        try:
            value = float(lam)
        except ValueError:
            value = float("nan")
        if not sep or not pat or not value >= 0:
            raise ValueError(f"l2sp: each group must be PATTERN=LAMBDA with LAMBDA >= 0, got {s!r}")
        out.append((pat, value))
    return out


def l2sp_penalty(net: nn.Module, source: nn.Module, prefix: str, groups) -> torch.Tensor:
    """Σ λ(name) ||θ − θ_source||² over ``net``'s parameters named ``prefix.param``, λ from the
    first group pattern matching the name (0 when none does)."""
    src = dict(source.named_parameters())
    total = None
    for n, p in net.named_parameters():
        lam = next((v for pat, v in groups if fnmatch.fnmatchcase(f"{prefix}.{n}", pat)), 0.0)
        if lam == 0 or n not in src:
            continue
        term = lam * (p - src[n].detach()).square().sum()
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


@contextlib.contextmanager
def _capture(net: nn.Module, names):
    feats: dict[str, torch.Tensor] = {}
    mods = dict(net.named_modules())
    handles = [mods[n].register_forward_hook(lambda m, a, out, n=n: feats.__setitem__(n, out)) for n in names]
    try:
        yield feats
    finally:
        for h in handles:
            h.remove()


class FineTune:
    """Mixin of a family (before its base class): ``networks()`` builds the plain networks;
    ``build``, ``helpers``, ``optimizers``, ``stages`` and the loss methods add the method's parts."""

    finetune_methods: tuple[str, ...] = METHODS   # the methods this family supports

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        r = recipe
        if r.finetune not in self.finetune_methods:
            raise ValueError(f"finetune for {self.name} must be one of {', '.join(self.finetune_methods)}, "
                             f"got {r.finetune!r}")
        if r.finetune != "full" and not r.init:
            raise ValueError(f"finetune={r.finetune} starts from a source model: give init (--init-from CKPT)")
        self._groups = parse_groups(r.l2sp) if r.finetune == "l2sp" else []
        if r.freeze_d < 0:
            raise ValueError(f"freeze_d must be >= 0, got {r.freeze_d}")
        if not r.distill_weight >= 0 or not r.mine_kimg >= 0 or r.miner_hidden < 1:
            raise ValueError("distill_weight and mine_kimg must be >= 0 and miner_hidden >= 1")
        self._distill = None

    def networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    # -- networks --------------------------------------------------------------------------
    def build(self):
        nets, r = self.networks(), self.recipe
        frozen: list[str] = []
        if r.finetune == "freezed":
            blocks = d_blocks(nets["D"])
            if r.freeze_d > len(blocks):
                raise ValueError(f"freeze_d={r.freeze_d}: D has only {len(blocks)} blocks")
            frozen = [f"D.{n}" for b in blocks[:r.freeze_d] for n in b]
        elif r.finetune == "scale-shift":
            for k in r.scale_shift_nets:
                if k not in nets:
                    raise ValueError(f"scale_shift_nets: no network {k!r} (have {sorted(nets)})")
                keep = set(scale_shift_names(nets[k]))
                if not keep:
                    raise ValueError(f"scale-shift: network {k} has no normalisation or affine parameters; "
                                     f"leave it out of scale_shift_nets")
                frozen += [f"{k}.{n}" for n, _ in nets[k].named_parameters() if n not in keep]
        elif r.finetune == "minegan":
            entry = getattr(nets["G"], "mapping", nets["G"])
            entry.miner = Miner(self._z_dim(), r.miner_hidden)
            entry.register_forward_pre_hook(_mine)
        if frozen:
            r.freeze = tuple(dict.fromkeys(tuple(r.freeze) + tuple(frozen)))
        return nets

    def _z_dim(self) -> int:
        cfg = getattr(self, "cfg", None)
        return int(cfg.z_dim if cfg is not None else self.recipe.z_dim)

    def helpers(self):
        r, out = self.recipe, dict(super().helpers())
        want = {"l2sp": ("G", "D"), "distill": ("G",)}.get(r.finetune, ())
        if not want:
            return out
        source = ckpt.load(ckpt.find(r.init))["nets"]
        with torch.random.fork_rng():
            plain = self.networks()
        for k in want:
            if k not in source:
                raise ValueError(f"init: checkpoint {r.init} has no network {k}")
            try:
                plain[k].load_state_dict(source[k])
            except RuntimeError as e:
                raise ValueError(f"init: network {k} of {r.init} does not fit this model: {e}") from None
            out[f"{k}_source"] = plain[k]
        return out

    def optimizers(self, nets):
        opts = super().optimizers(nets)
        if self.recipe.finetune == "minegan":
            g = opts["G"].param_groups[0]
            miner = getattr(nets["G"], "mapping", nets["G"]).miner
            opts["M"] = torch.optim.Adam(miner.parameters(), lr=g["lr"], betas=g["betas"])
        return opts

    def stages(self):
        r = self.recipe
        if r.finetune != "minegan":
            return super().stages()
        mine = [Phase(p.name, opt="M", loss=p.loss, nets=("G",), repeat=p.repeat, fresh_batch=p.fresh_batch)
                if p.opt == "G" and p.interval == 1 else p
                for p in self.phases() if p.opt != "G" or p.interval == 1]
        rest = max(0.0, r.kimg - r.mine_kimg)
        return [Stage("mine", tuple(mine), kimg=min(r.mine_kimg, r.kimg)), Stage("finetune", tuple(self.phases()),
                                                                                 kimg=rest)]

    # -- losses ----------------------------------------------------------------------------
    def _with_penalty(self, out, ctx, net: str):
        if self.recipe.finetune != "l2sp":
            return out
        loss, logs = out if isinstance(out, tuple) else (out, {})
        pen = l2sp_penalty(ctx.nets[net], ctx.helpers[f"{net}_source"], net, self._groups).to(loss.device)
        return loss + pen, {**logs, "l2sp": pen.detach()}

    def _distill_taps(self, G):
        pats = self.recipe.distill_layers
        mods = list(G.named_modules())
        names = ([n for n, m in mods if n and any(fnmatch.fnmatchcase(n, p) for p in pats)] if pats
                 else [n for n, m in mods if isinstance(m, (nn.ReLU, nn.LeakyReLU))])
        if not names:
            raise ValueError("distill: no module of G matches distill_layers "
                             + (f"{list(pats)}" if pats else "(G has no ReLU; name the layers)"))
        return names

    def _fake(self, ctx, labels):
        if self.recipe.finetune != "distill" or not torch.is_grad_enabled():
            return super()._fake(ctx, labels)
        G, S = ctx.nets["G"], ctx.helpers["G_source"]
        z = ctx.latent(ctx.batch.shape[0])
        args = (z,) if labels is None else (z, labels)
        taps = self._distill_taps(G)
        with _capture(G, taps) as feats:
            fake = G(*args)
        with torch.no_grad(), _capture(S, taps) as ref:
            S(*args)
        self._distill = sum((feats[n] - ref[n]).square().mean() for n in taps) / len(taps)
        return fake

    def d_loss(self, ctx):
        return self._with_penalty(super().d_loss(ctx), ctx, "D")

    def g_loss(self, ctx):
        out = self._with_penalty(super().g_loss(ctx), ctx, "G")
        if self._distill is None:
            return out
        loss, logs = out if isinstance(out, tuple) else (out, {})
        d, self._distill = self._distill, None
        return loss + self.recipe.distill_weight * d, {**logs, "distill": d.detach()}
