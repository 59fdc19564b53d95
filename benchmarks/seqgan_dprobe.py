"""Does SeqGAN's discriminator rank G's sequences the way the optimal one would?

SeqGAN's reward is D's score of G's (rolled-out) sequences.  What REINFORCE needs from it is the
*ranking* of G's own samples: the optimal D's logit is log p_oracle(x) - log p_G(x), and with it
as the reward G learns (``seqgan_oracle.py --baselines mean:oracle:0.001``).  This probe holds
the pre-trained G of ``seqgan_oracle.py`` fixed, trains discriminators of several settings on real
training sequences against fresh G samples, and measures on data none of them trained on:

* ``acc_train``: accuracy on 2,000 of the 10,000 real training sequences (memorisation);
* ``auc``: real-vs-fake AUC on 2,000 held-out oracle sequences against 2,000 held-out G samples;
* ``rho``: Spearman correlation, over the held-out G samples, of D's logit with the optimal logit
  log p_oracle(x) - log p_G(x) (1 for a perfect critic; about 0 for a D whose reward is noise);
* ``rho_o``: the same with log p_oracle(x) alone (what NLL-oracle rewards).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/seqgan_dprobe.py --variants paper025,full
    (after ``seqgan_oracle.py --pretrain-only``: the oracle, its data and the pre-trained G in --work)

A variant is a preset name or NAME=key:value/key:value/... (variants separated by commas) over width,
lr, dropout, l2, wd (Adam weight decay on all of D), arch (cnn, the paper's, or lstm), hidden (the
LSTM's), pos (train: the 10,000 training sequences, the paper; fresh: new oracle samples every step,
a diagnostic of unlimited real data) and init (fresh or ckpt: the pre-trained D of the checkpoint).
Writes benchmarks/results/seqgan_dprobe_NAME.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastgan.metrics.sequence import sample_sequences  # noqa: E402
from fastgan.models import seqgan_networks as sn  # noqa: E402
from fastgan.train import Trainer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = {   # the oracle run's D, the paper's D, regularised, recurrent and unlimited-data variants
    "paper025": "width:0.25/lr:1e-3",
    "ckpt": "width:0.25/lr:1e-3/init:ckpt",
    "wd025": "width:0.25/lr:1e-3/wd:1e-3/dropout:0.5",
    "full": "width:1/lr:1e-4",
    "full3": "width:1/lr:1e-3",
    "lstm": "arch:lstm",
    "fresh025": "width:0.25/lr:1e-3/pos:fresh",
    "lstmfresh": "arch:lstm/pos:fresh",
}
DEFAULT = {"width": 0.25, "lr": 1e-3, "dropout": 0.25, "l2": 0.2, "wd": 0.0, "pos": "train", "init": "fresh",
           "arch": "cnn", "hidden": 64.0}


class LSTMDiscriminator(torch.nn.Module):
    """A recurrent D for the probe: embedding, LSTM, the last hidden state's logit."""

    def __init__(self, vocab, emb=64, hidden=64, dropout=0.25):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, emb)
        self.rnn = torch.nn.LSTM(emb, hidden, batch_first=True)
        self.drop = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        return self.out(self.drop(self.rnn(self.embed(x))[0][:, -1])).squeeze(1)


def parse_variant(spec: str) -> tuple[str, dict]:
    name, _, body = spec.partition("=")
    body = body or PRESETS.get(name)
    if body is None:
        raise SystemExit(f"--variants: {name!r} is not a preset ({', '.join(PRESETS)}); give NAME=key:value/key:value")
    cfg = dict(DEFAULT)
    for kv in body.split("/"):
        k, _, v = kv.partition(":")
        if k not in DEFAULT:
            raise SystemExit(f"--variants: unknown key {k!r} in {spec!r} (keys: {', '.join(DEFAULT)})")
        cfg[k] = v if isinstance(DEFAULT[k], str) else float(v)
    if cfg["pos"] not in ("train", "fresh") or cfg["init"] not in ("fresh", "ckpt") or \
            cfg["arch"] not in ("cnn", "lstm"):
        raise SystemExit(f"--variants: pos is train|fresh, init fresh|ckpt, arch cnn|lstm in {spec!r}")
    return name, cfg


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a real sequence > score of a fake one)."""
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@torch.no_grad()
def seq_logp(model, x) -> np.ndarray:
    """log p(x) of whole sequences under ``model`` (float64), 500 at a time."""
    return torch.cat([model.log_probs(c).sum(1) for c in x.split(500)]).double().numpy()


@torch.no_grad()
def scores(D, x):
    was = D.training
    D.eval()
    try:
        return torch.cat([D(c) for c in x.split(1000)]).float().numpy()
    finally:
        D.train(was)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/seqgan_oracle")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--variants", default="paper025,full")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generator", choices=("pretrained", "random"), default="pretrained",
                   help="random: an untrained G (near uniform; NLL-oracle 11.3), a control where D has much to find")
    p.add_argument("--tag", default="", help="appended to the variants' names (e.g. another --work's G)")
    p.add_argument("--summary", action="store_true",
                   help="only write seqgan_dprobe.md: the last row of every seqgan_dprobe_*.json in --results")
    a = p.parse_args(argv)
    if a.summary:
        return summarise(a.results)
    with open(os.path.join(a.work, "pretrain.json")) as f:
        pre = json.load(f)
    tr = Trainer(resume=pre["checkpoint"], overrides={"run.out": os.path.join(a.work, "dprobe"),
                                                      "run.progress": False})
    G = tr.nets["G"].eval()
    a.g_mle_steps = pre["budget"]["mle_steps"] if a.generator == "pretrained" else 0
    if a.generator == "random":
        torch.manual_seed(a.seed)
        G = sn.SeqGenerator(G.vocab, G.embed.embedding_dim, G.rnn.hidden_size, G.cell).eval()
    oracle = sn.load_oracle(os.path.join(a.work, "oracle.safetensors"))
    train_ids = torch.from_numpy(np.load(os.path.join(a.work, "train.npy")))
    held = torch.from_numpy(np.load(os.path.join(a.work, "heldout.npy")))[:a.n_eval]
    fake = sample_sequences(G, a.n_eval, 20, seed=777)          # held-out G samples (training uses other seeds)
    lp_o = seq_logp(oracle, fake)
    opt_logit = lp_o - seq_logp(G, fake)
    # the optimal D's AUC on the same held-out pairs: the ceiling of ``auc``
    auc_opt = auc(seq_logp(oracle, held) - seq_logp(G, held), opt_logit)
    print(f"optimal D: held-out AUC {auc_opt:.4f}; optimal logit over G's samples: mean {opt_logit.mean():.2f}, "
          f"sd {opt_logit.std():.2f}", flush=True)
    mem = train_ids[:a.n_eval]
    V, T = G.vocab, train_ids.shape[1]
    recipe = tr.family.recipe
    for spec in a.variants.split(","):
        name, cfg = parse_variant(spec)
        name = (name if a.generator == "pretrained" else f"{name}-vs-random-G") + a.tag
        torch.manual_seed(a.seed)
        gen = torch.Generator().manual_seed(a.seed + 1)
        if cfg["arch"] == "lstm":
            D = LSTMDiscriminator(V, recipe.d_emb, int(cfg["hidden"]), cfg["dropout"])
        else:
            D = sn.SeqDiscriminator(V, T, recipe.d_emb, tuple(tuple(f) for f in recipe.d_filters), cfg["width"],
                                    cfg["dropout"])
        if cfg["init"] == "ckpt":
            D.load_state_dict(tr.nets["D"].state_dict())
        opt = torch.optim.Adam(D.parameters(), lr=cfg["lr"], weight_decay=cfg["wd"])
        rows, t0 = [], time.time()

        def evaluate(step):
            s_mem, s_held, s_fake = scores(D, mem), scores(D, held), scores(D, fake)
            row = {"step": step, "acc_train": float((s_mem > 0).mean()), "acc_fake": float((s_fake < 0).mean()),
                   "auc": auc(s_held, s_fake), "rho": float(spearmanr(s_fake, opt_logit)[0]),
                   "rho_o": float(spearmanr(s_fake, lp_o)[0]), "s": time.time() - t0}
            rows.append(row)
            print(name, json.dumps(row), flush=True)
        evaluate(0)
        for step in range(1, a.steps + 1):
            if cfg["pos"] == "train":
                real = train_ids[torch.randint(len(train_ids), (a.batch,), generator=gen)]
            else:
                real = oracle.sample(torch.rand(a.batch, T, generator=gen))
            neg = G.sample(torch.rand(a.batch, T, generator=gen))
            logits = D(torch.cat([real, neg])).float()
            target = torch.cat([torch.ones(a.batch), torch.zeros(a.batch)])
            loss = F.binary_cross_entropy_with_logits(logits, target)
            loss = loss + cfg["l2"] * 0.5 * (D.out.weight.square().sum() + D.out.bias.square().sum())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(D.parameters(), recipe.grad_clip)
            opt.step()
            if step % a.eval_every == 0:
                evaluate(step)
        write(a.results, name, cfg, rows, a, auc_opt)
    return 0


def write(d, name, cfg, rows, a, auc_opt):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"seqgan_dprobe_{name}.json"), "w") as f:
        json.dump({"config": cfg, "generator": a.generator, "g_mle_steps": a.g_mle_steps, "rows": rows,
                   "auc_optimal_d": auc_opt, "steps": a.steps, "batch": a.batch, "n_eval": a.n_eval}, f, indent=1)
    lines = [f"# SeqGAN D probe: {name}", "",
             f"D {cfg} trained {a.steps} steps of {a.batch} real + {a.batch} fresh G samples against the fixed "
             f"{a.generator} G of seqgan_oracle.py ({a.g_mle_steps} MLE steps); evaluated on held-out data "
             f"({a.n_eval} each). The optimal D "
             f"(log p_oracle - log p_G) has AUC {auc_opt:.3f} on the same pairs.", "",
             "| D step | acc. on training reals | acc. on held-out fakes | AUC held-out real vs fake | "
             "Spearman with log p_o - log p_G | Spearman with log p_o | s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['acc_train']:.3f} | {r['acc_fake']:.3f} | {r['auc']:.3f} | {r['rho']:.3f} | "
                     f"{r['rho_o']:.3f} | {r['s']:.0f} |")
    with open(os.path.join(d, f"seqgan_dprobe_{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def summarise(d) -> int:
    import glob
    got = []
    for path in sorted(glob.glob(os.path.join(d, "seqgan_dprobe_*.json"))):
        with open(path) as f:
            r = json.load(f)
        got.append((os.path.basename(path)[len("seqgan_dprobe_"):-5], r))
    if not got:
        raise SystemExit(f"no seqgan_dprobe_*.json in {d}")
    order = list(PRESETS)
    got.sort(key=lambda nr: (nr[1].get("generator", "pretrained") != "pretrained", -nr[1].get("g_mle_steps", 3000),
                             order.index(nr[0]) if nr[0] in order else len(order), nr[0]))
    lines = ["# SeqGAN D probe: every variant after its last step", "",
             "Each D trained on real sequences against fresh samples of the fixed pre-trained G of "
             "seqgan_oracle.py, then scored on sequences it never saw (see seqgan_dprobe.py). The optimal D "
             f"(log p_oracle - log p_G) has held-out AUC {got[0][1]['auc_optimal_d']:.3f} and Spearman 1 by "
             "definition; "
             "the Spearman of a D without signal is 0 +- 0.022 (2,000 samples).",
             "", "| variant | D | real data | D steps | acc. on training reals | AUC held-out real vs fake | "
             "Spearman with log p_o - log p_G | its best on the way (D step) | Spearman with log p_o | rows |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in got:
        c, last = r["config"], r["rows"][-1]
        best = max(r["rows"], key=lambda row: row["rho"])
        arch = (f"LSTM {int(c['hidden'])}" if c.get("arch") == "lstm" else f"CNN x{c['width']:g}") + \
            f", lr {c['lr']:g}, dropout {c['dropout']:g}" + (f", wd {c['wd']:g}" if c["wd"] else "") + \
            (", from the pre-trained D" if c["init"] == "ckpt" else "")
        data = "10,000 training sequences" if c["pos"] == "train" else "fresh oracle samples every step"
        if r.get("generator", "pretrained") != "pretrained":
            data += f", against the {r['generator']} G"
        elif r.get("g_mle_steps", 3000) != 3000:
            data += f", against G after {r['g_mle_steps']} MLE steps"
        lines.append(f"| {name} | {arch} | {data} | {last['step']} | {last['acc_train']:.3f} | {last['auc']:.3f} | "
                     f"{last['rho']:.3f} | {best['rho']:.3f} ({best['step']}) | {last['rho_o']:.3f} | "
                     f"[md](seqgan_dprobe_{name}.md) |")
    lines += ["", "![curves](seqgan_dprobe.png)"]
    with open(os.path.join(d, "seqgan_dprobe.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(d, got)
    print("\n".join(lines))
    return 0


def plot(d, got):
    import matplotlib   # optional heavy dependency, only for the figure
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt   # optional heavy dependency, only for the figure
    fig, ax = plt.subplots(1, 3, figsize=(18, 4.5))
    for i, (name, r) in enumerate(got):
        steps = [row["step"] for row in r["rows"]]
        style = "--" if r["config"]["pos"] == "fresh" else (":" if r.get("generator") == "random" else "-")
        for k, key in enumerate(("acc_train", "auc", "rho")):
            ax[k].plot(steps, [row[key] for row in r["rows"]], style, marker="o", ms=2, color=f"C{i % 10}",
                       label=name)
    ax[0].set(title="accuracy on the training reals (memorisation)", xlabel="D step")
    ax[1].set(title="held-out AUC, real vs G (optimal D: 1.000)", xlabel="D step")
    ax[2].axhspan(-0.044, 0.044, color="gray", alpha=0.2, label="no signal, 2 sd")
    ax[2].set(title="Spearman of D's logit with log p_o - log p_G on G's samples", xlabel="D step")
    for k in range(3):
        ax[k].set_xscale("symlog", linthresh=500)
    ax[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "seqgan_dprobe.png"), dpi=90)


if __name__ == "__main__":
    raise SystemExit(main())
