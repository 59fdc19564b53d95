"""SeqGAN (Yu et al. 2017) on the training engine: ``fastgan train --model seqgan --data lines.txt``.

Three stages: ``pretrain-G`` (MLE, teacher forcing), ``pretrain-D`` (real against generated
sequences) and ``adversarial`` (one REINFORCE step of G with Monte Carlo rollout rewards, then
``d_steps`` D steps on fresh negatives, then the delayed rollout policy moves towards G).
``mode=mle`` makes the MLE-only baseline with the same budget: the third stage continues MLE.
The family ``seqgan-mle`` is that baseline under its own name.

The family owns its data (:mod:`fastgan.data.tokens`: a text file with a char/word vocabulary
or an id array), keeps the vocabulary in ``family.state["vocab"]`` (so ``fastgan generate``
decodes without the data, and a resume on data of another vocabulary is refused), writes text
snapshots and reports NLL-oracle (``--set oracle=ORACLE.safetensors``, see
``seqgan_networks.save_oracle``) and NLL-test (``--set heldout=IDS.npy``) in ``evaluate``.
"""
from __future__ import annotations

import dataclasses
import os

import torch
from torch.nn import functional as F

from ..data.tokens import TokenDataset, Vocab, load_tokens, read_text
from ..family import Family, Phase, Recipe, Stage
from . import seqgan_networks as sn

__all__ = ["SeqGANRecipe", "SeqGAN", "SeqGANMLE", "FAMILIES"]

MODES = ("seqgan", "mle")
BASELINES = ("none", "mean")


@dataclasses.dataclass
class SeqGANRecipe(Recipe):
    """The paper's synthetic-data settings and its code's defaults (10,000 sequences, batch 64)."""

    batch: int = 64
    kimg: float = 0.0                 # unused: the stages are counted in steps
    grad_clip: float = 5.0            # global norm clip of every phase (the paper's G clip)
    mode: str = "seqgan"              # seqgan | mle (the MLE-only baseline: stage 3 continues MLE)
    cell: str = "lstm"                # lstm | gru
    emb: int = 32                     # G's embedding
    hidden: int = 32                  # G's hidden units
    d_emb: int = 64                   # D's embedding
    d_filters: tuple[tuple[int, int], ...] = sn.PAPER_FILTERS   # (size, filters) pairs
    d_width: float = 1.0              # scale of the filters per size (cpu preset: smaller)
    d_dropout: float = 0.25           # the paper's keep probability 0.75
    d_l2: float = 0.2                 # L2 on D's output layer (the code's l2_reg_lambda)
    lr_g: float = 0.01
    lr_d: float = 1e-4
    lr_g_adv: float = 0.0             # G's lr in the third stage (both modes; 0: lr_g, the paper)
    reward_baseline: str = "none"     # none (the paper) | mean: subtract each timestep's batch mean of Q
    reward: str = "prob"              # prob: D's probability (the paper) | logit: log D/(1-D), G descends KL(G||data)
    mle_steps: int = 18840            # 120 epochs of 157 batches
    d_pre_steps: int = 23440          # 50 x 3 epochs of 20,000 sequences, 128 per step
    adv_steps: int = 200              # adversarial G steps (the code's total batches)
    d_steps: int = 2344               # D steps per adversarial step (5 x 3 epochs of 20,000 / 128)
    rollouts: int = 16                # Monte Carlo rollouts N per prefix
    rollout_rate: float = 0.8         # the delayed rollout policy's update rate
    temperature: float = 1.0          # sampling temperature of ``generate`` and snapshots
    tokenizer: str = "char"           # text files: char | word
    vocab_file: str = ""              # a vocabulary written by Vocab.save (else built from the data)
    vocab_size: int = 0               # id arrays: the vocabulary size (0: the largest id + 1)
    max_len: int = 0                  # sequence length with <eos> (0: the longest line + 1)
    truncate: bool = False            # cut sequences longer than max_len instead of failing
    oracle: str = ""                  # oracle file: evaluate reports nll_oracle
    heldout: str = ""                 # held-out ids (.npy/.csv/.txt): evaluate reports nll_test
    eval_samples: int = 10000         # generated sequences of nll_oracle


class SeqGAN(Family):
    """Sequence GAN: an LSTM policy trained by REINFORCE against a CNN discriminator."""

    name = "seqgan"
    Recipe = SeqGANRecipe
    ema_nets = ()
    metrics = ()
    description = "SeqGAN (Yu et al. 2017): LSTM policy, CNN discriminator, MC rollouts, REINFORCE"
    # steady: not the paper's; G's lr 1e-3 after pre-training and the rewards' batch mean subtracted.
    # The paper's settings wreck a pre-trained G in 20 steps on real text (BLEU-4 0.68 -> 0.06);
    # these keep it close (0.61; MLE 0.68) and are neutral on the oracle (benchmarks/seqgan_text.py,
    # seqgan_oracle.py). SeqGAN does not beat MLE at the same entropy with either (see the README).
    STEADY = {"reward_baseline": "mean", "lr_g_adv": 1e-3}
    presets = {
        "cpu": {"d_width": 0.25, "mle_steps": 300, "d_pre_steps": 100, "adv_steps": 20, "d_steps": 5,
                "eval_samples": 1000, **STEADY},
        "paper": {},
        "steady": dict(STEADY),
        "smoke": {"d_width": 0.05, "mle_steps": 20, "d_pre_steps": 5, "adv_steps": 2, "d_steps": 1,
                  "rollouts": 2, "eval_samples": 64},
    }
    generate_modes = ("text",)

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        r = recipe
        if r.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {r.mode!r}")
        if r.reward_baseline not in BASELINES:
            raise ValueError(f"reward_baseline must be one of {', '.join(BASELINES)}, got {r.reward_baseline!r}")
        if r.reward not in sn.REWARDS:
            raise ValueError(f"reward must be one of {', '.join(sn.REWARDS)}, got {r.reward!r}")
        if r.lr_g_adv < 0:
            raise ValueError(f"lr_g_adv must be >= 0 (0: lr_g), got {r.lr_g_adv}")
        if r.rollouts < 1 or r.d_steps < 1:
            raise ValueError(f"rollouts and d_steps must be >= 1, got {r.rollouts}, {r.d_steps}")
        if not 0 <= r.rollout_rate <= 1:
            raise ValueError(f"rollout_rate must be in [0, 1], got {r.rollout_rate}")
        if r.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {r.temperature}")
        self.vocab: Vocab | None = None
        self._oracle = self._heldout = None
        self._g_sched = None

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def make_dataset(cls, spec, recipe, **options):
        return load_tokens(os.fspath(spec), level=recipe.tokenizer, vocab_file=recipe.vocab_file,
                           vocab_size=recipe.vocab_size, max_len=recipe.max_len, truncate=recipe.truncate)

    def check_data(self, data):
        if len(data.shape) != 1 or data.shape[0] < 1:
            raise ValueError(f"seqgan needs token sequences (shape (T,)), got shape {data.shape}")

    @property
    def length(self) -> int:
        return int(self.data.shape[0])

    def make_loader(self, dataset, batch, *, seed, rank, world):
        if not isinstance(dataset, TokenDataset):
            raise ValueError("seqgan trains on token sequences: give a .txt file (one sequence per line) "
                             "or a .npy/.csv array of token ids")
        self._attach(dataset.vocab)
        return None   # the default BatchLoader; batches are {"tokens": int64 [B, T]}

    def _attach(self, vocab: Vocab):
        saved = self.state.get("vocab")
        if saved is not None and (saved["tokens"], saved["level"]) != (vocab.tokens, vocab.level):
            raise ValueError(_mismatch(vocab, saved))
        self.vocab = vocab
        self.state["vocab"] = {"tokens": list(vocab.tokens), "level": vocab.level}

    def load_state_dict(self, state):
        saved = state.get("vocab")
        if saved is not None and self.vocab is not None and \
                (saved["tokens"], saved["level"]) != (self.vocab.tokens, self.vocab.level):
            raise ValueError(_mismatch(self.vocab, saved))
        super().load_state_dict(state)
        if saved is not None:
            self.vocab = Vocab(saved["tokens"], saved["level"])

    def prepare(self, batch, labels, device):
        if not isinstance(batch, dict) or "tokens" not in batch:
            raise TypeError(f"seqgan expects dict batches {{'tokens': ...}}, got {type(batch).__name__}")
        return batch, labels

    # -- networks -----------------------------------------------------------------------------------
    def build(self):
        if self.vocab is None:
            raise RuntimeError("seqgan: the vocabulary is unknown; build the family from its data set "
                               "(make_loader) or load a checkpoint's family state first")
        r, V = self.recipe, len(self.vocab)
        G = sn.SeqGenerator(V, r.emb, r.hidden, r.cell)
        R = sn.SeqGenerator(V, r.emb, r.hidden, r.cell)
        R.load_state_dict(G.state_dict())
        D = sn.SeqDiscriminator(V, self.length, r.d_emb, tuple(tuple(f) for f in r.d_filters), r.d_width,
                                r.d_dropout)
        return {"G": G, "D": D, "R": R}

    def optimizers(self, nets):
        r = self.recipe
        return {"G": torch.optim.Adam(nets["G"].parameters(), lr=r.lr_g),
                "D": torch.optim.Adam(nets["D"].parameters(), lr=r.lr_d)}

    def schedulers(self, opts):
        """G's lr: ``lr_g`` for the ``mle_steps`` pre-training steps, then ``lr_g_adv`` (when set)."""
        r = self.recipe
        ratio = r.lr_g_adv / r.lr_g if r.lr_g_adv > 0 else 1.0
        self._g_sched = torch.optim.lr_scheduler.LambdaLR(opts["G"], _stage_factor(r.mle_steps, ratio))
        return {"G": self._g_sched}

    def _sync_lr(self):
        """G's lr from the schedule's count, before a G step: a run resumed with another
        ``lr_g_adv`` gets it at once (the optimiser's saved lr is the old one until a schedule step)."""
        sched = getattr(self, "_g_sched", None)
        if sched is not None:
            for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
                group["lr"] = base * fn(sched.last_epoch)

    def stages(self):
        r = self.recipe
        mle = Phase("G_mle", opt="G", loss="mle_loss", nets=("G",))
        d = Phase("D", opt="D", loss="d_loss", nets=("D",))
        if r.mode == "mle":
            adv = Stage("mle", (mle,), steps=r.adv_steps)
        else:
            adv = Stage("adversarial", (Phase("G_pg", opt="G", loss="pg_loss", nets=("G",)),
                                        dataclasses.replace(d, repeat=r.d_steps)), steps=r.adv_steps)
        return [Stage("pretrain-G", (mle,), steps=r.mle_steps), Stage("pretrain-D", (d,), steps=r.d_pre_steps), adv]

    # -- losses ---------------------------------------------------------------------------------
    def mle_loss(self, ctx):
        self._sync_lr()
        x = ctx.batch["tokens"]
        logits = ctx.nets["G"](x)
        return F.cross_entropy(logits.flatten(0, 1).float(), x.flatten())

    def _fake(self, ctx, n):
        return ctx.nets["G"].sample(ctx.rand(n, self.length))

    def d_loss(self, ctx):
        D, real = ctx.nets["D"], ctx.batch["tokens"]
        fake = self._fake(ctx, len(real))
        logits = D(torch.cat([real, fake])).float()
        target = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        l2 = 0.5 * (D.out.weight.square().sum() + D.out.bias.square().sum())
        with torch.no_grad():
            acc = ((logits > 0).float() == target).float().mean()
        return loss + self.recipe.d_l2 * l2, {"accuracy": acc}

    def pg_loss(self, ctx):
        G, D, R = ctx.nets["G"], ctx.nets["D"], ctx.nets["R"]
        self._sync_lr()
        if not self.state.get("rollout_synced"):   # the rollout policy starts as the pre-trained G
            R.load_state_dict(G.state_dict())
            self.state["rollout_synced"] = True
        n = ctx.batch_size
        x = self._fake(ctx, n)
        was = D.training
        D.eval()   # rewards without dropout, as in the paper's code
        try:
            rewards = sn.rollout_rewards(R, D, x, self.recipe.rollouts, ctx.rand, self.recipe.reward)
        finally:
            D.train(was)
        stats = {"reward": rewards[:, -1].mean(), "reward_std": rewards.std(0).mean()}
        if self.recipe.reward_baseline == "mean":
            rewards = sn.subtract_baseline(rewards)
        return sn.reinforce_loss(G.log_probs(x), rewards), stats

    def after_phase(self, phase, ctx):
        if phase.loss == "pg_loss":
            sn.update_rollout(ctx.nets["R"], ctx.nets["G"], self.recipe.rollout_rate)

    # -- sampling -------------------------------------------------------------------------------
    def latent(self, n, ctx_or_gen):
        """The uniforms that draw a sequence: [n, T]."""
        if isinstance(ctx_or_gen, torch.Generator):
            return torch.rand(n, self.length, generator=ctx_or_gen)
        return ctx_or_gen.rand(n, self.length)

    def generate(self, G, z, labels=None, trunc=None):
        """Token ids [n, T] drawn with the uniforms ``z`` at the recipe's temperature (``trunc``,
        when given, is the temperature)."""
        return G.sample(z, self.recipe.temperature if trunc is None else max(float(trunc), 1e-3))

    def decode(self, tokens) -> list[str]:
        if self.vocab is None:
            raise RuntimeError("seqgan: no vocabulary to decode with")
        return [self.vocab.decode(row) for row in tokens.tolist()]

    def render(self, G, mode, out, *, seeds=(), temperature=None, **_):
        """``text``: one decoded sample per seed, to ``out`` (``-``: standard output), at ``temperature``
        (None: the recipe's)."""
        if mode != "text":
            return super().render(G, mode, out)
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        dev = next(G.parameters()).device
        z = torch.cat([self.latent(1, torch.Generator().manual_seed(int(s))) for s in seeds]).to(dev)
        lines = self.decode(self.generate(G, z, trunc=temperature))
        if out == "-":
            print("\n".join(lines))
        else:
            with open(out, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        return f"{len(lines)} sequences"

    @torch.no_grad()
    def snapshot(self, G, inputs, snap):
        z, _ = inputs
        os.makedirs(os.path.dirname(snap.base), exist_ok=True)
        path = snap.base + ".txt"
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.decode(self.generate(G, z))) + "\n")
        return {"samples": path}

    # -- metrics --------------------------------------------------------------------------------
    def evaluate(self, G, dataset, device):
        r, out = self.recipe, {}
        if r.oracle:
            if self._oracle is None:
                self._oracle = sn.load_oracle(r.oracle, device)
            if self._oracle.vocab != G.vocab:
                raise ValueError(f"oracle: vocabulary {self._oracle.vocab} differs from the model's {G.vocab}")
            u = torch.rand(r.eval_samples, self.length, generator=torch.Generator().manual_seed(2**31 - 1))
            x = torch.cat([G.sample(ui.to(device)) for ui in u.split(1000)])
            out["nll_oracle"] = sn.sequence_nll(self._oracle, x)
        if r.heldout:
            if self._heldout is None:
                if self.vocab.level == "ids":
                    held = load_tokens(r.heldout, vocab_size=len(self.vocab), max_len=self.length, truncate=r.truncate)
                else:
                    held = read_text(r.heldout, vocab=self.vocab, max_len=self.length, truncate=r.truncate)
                if held.shape[0] != self.length:
                    raise ValueError(f"heldout: sequences of length {held.shape[0]}, the model's are {self.length}")
                self._heldout = held.ids
            out["nll_test"] = sn.sequence_nll(G, self._heldout)
        return out


class SeqGANMLE(SeqGAN):
    """The MLE-only baseline of SeqGAN's experiments: the same stages' budget, MLE throughout."""

    name = "seqgan-mle"
    description = "MLE-only baseline of SeqGAN (teacher forcing, same budget)"

    @dataclasses.dataclass
    class Recipe(SeqGANRecipe):
        mode: str = "mle"
        d_pre_steps: int = 0          # no discriminator to pre-train


def _stage_factor(steps: int, ratio: float):
    """LambdaLR's factor: 1 for the first ``steps`` steps of the optimiser, then ``ratio`` (a plain
    function: LambdaLR saves none of it, so a run resumed with another lr_g_adv uses the new one)."""
    def factor(k: int) -> float:
        return 1.0 if k < steps else ratio
    return factor


def _mismatch(vocab: Vocab, saved: dict) -> str:
    return (f"the data's vocabulary ({len(vocab)} {vocab.level} tokens) differs from the checkpoint's "
            f"({len(saved['tokens'])} {saved['level']} tokens); use the checkpoint's vocabulary "
            "(--set vocab_file=...) or start a new run")


FAMILIES = (SeqGAN, SeqGANMLE)
