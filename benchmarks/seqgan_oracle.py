"""SeqGAN's synthetic-data experiment (Yu et al. 2017, Table 1 and Figure 2) on the training engine.

The oracle is an LSTM with N(0, 1) parameters (vocabulary 5,000, hidden 32, embedding 32); it
samples 10,000 training sequences of length 20 (and 10,000 held-out ones).  One run pre-trains
G by MLE and D on real against generated sequences; from that checkpoint two runs continue with
the same number of G steps: SeqGAN (REINFORCE with rollout rewards) and the MLE-only baseline.
Reported: NLL-oracle of 2,000 free-running samples (and NLL-test, the teacher-forced NLL of held-out
oracle data, next to it: the exposure-bias gap), the oracle's own entropy and a random G.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/seqgan_oracle.py            # reduced budget
    python benchmarks/seqgan_oracle.py --mle-steps 18840 --d-pre-steps 23440 --adv-steps 200 --d-steps 2344

Writes benchmarks/results/seqgan_oracle.{json,csv,md,png}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastgan.metrics.sequence import entropy_rate, nll_oracle, nll_test, sample_sequences  # noqa: E402
from fastgan.models import seqgan_networks as sn  # noqa: E402
from fastgan.train import Trainer  # noqa: E402

PUBLISHED = {"random": 10.310, "mle": 9.038, "seqgan": 8.736}   # Yu et al. 2017, Table 1
HERE = os.path.dirname(os.path.abspath(__file__))
TEMPERATURES = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1)


class Stats:
    """A monitor for Trainer.train_step: keeps the phases' scalars (reward, its spread, D's accuracy)."""

    def __init__(self):
        self.acc = {}

    def add(self, scalars):
        for k, v in scalars.items():
            self.acc.setdefault(k, []).append(float(v))

    def take(self):
        out = {k: float(np.mean(v)) for k, v in self.acc.items() if v}
        self.acc = {}
        return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/seqgan_oracle", help="oracle, data and runs")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--mle-steps", type=int, default=3000)
    p.add_argument("--d-pre-steps", type=int, default=1500)
    p.add_argument("--adv-steps", type=int, default=100)
    p.add_argument("--d-steps", type=int, default=15)
    p.add_argument("--d-width", type=float, default=0.25)
    p.add_argument("--lr-d", type=float, default=1e-3, help="D's Adam lr (paper 1e-4, with ~100x more D steps)")
    p.add_argument("--lr-g", type=float, default=0.01)
    p.add_argument("--lr-g-adv", type=float, default=0.0, help="G's lr after pre-training, both runs (0: --lr-g)")
    p.add_argument("--baselines", default="none,mean",
                   help="SeqGAN runs, comma separated, each BASELINE[:REWARD[:LR_G_ADV]]: baseline none (the paper) "
                        "or mean (Q minus its batch mean); reward prob (D's probability, the paper), logit "
                        "(D's logit) or oracle (a diagnostic, not a model option: the exact log ratio "
                        "log p_oracle(x) - log p_G(x) in place of D's logit, no D steps); LR_G_ADV overrides "
                        "--lr-g-adv for that run")
    p.add_argument("--rollouts", type=int, default=16)
    p.add_argument("--name", default="seqgan_oracle", help="results file name")
    p.add_argument("--eval-every-mle", type=int, default=300)
    p.add_argument("--eval-every-adv", type=int, default=10)
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--pretrain-only", action="store_true", help="stop after pre-training (it is cached in --work)")
    p.add_argument("--fresh", action="store_true",
                   help="pre-train again even when --work holds this pre-training")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    os.makedirs(a.results, exist_ok=True)
    torch.manual_seed(a.seed)
    t0 = time.time()

    # the oracle and its data
    oracle = sn.make_oracle(5000, 32, 32, seed=a.seed)
    opath = sn.save_oracle(oracle, os.path.join(a.work, "oracle.safetensors"))
    train_ids = sample_sequences(oracle, 10000, 20, seed=1)
    held = sample_sequences(oracle, 10000, 20, seed=2)
    np.save(os.path.join(a.work, "train.npy"), train_ids.numpy())
    np.save(os.path.join(a.work, "heldout.npy"), held[:a.n_eval].numpy())
    held_eval = held[:a.n_eval]
    stats = Stats()

    def evaluate(trainer, run, adv_step, extra=None):
        G = trainer.nets["G"]
        G.eval()
        row = {"run": run, "step": trainer.step, "adv_step": adv_step,
               "nll_oracle": nll_oracle(oracle, G, n=a.n_eval, length=20, seed=12345),
               "nll_test": nll_test(G, held_eval),
               "nll_train_tf": nll_test(G, train_ids[:a.n_eval]), **(extra or {})}
        if adv_step is not None:   # the continuations: G's entropy rate (1,000 of its samples)
            row["entropy"] = entropy_rate(G, n=1000, length=20, seed=3)[0]
        G.train()
        rows.append(row)
        print(json.dumps(row), flush=True)

    pre_budget = {k: getattr(a, k) for k in ("mle_steps", "d_pre_steps", "d_width", "lr_d", "lr_g", "n_eval",
                                             "eval_every_mle", "seed")}
    cache = os.path.join(a.work, "pretrain.json")
    cached = None
    if not a.fresh and os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
        if cached["budget"] != pre_budget or not os.path.exists(cached["checkpoint"]):
            cached = None
    if cached:   # the same pre-training (same seed and budget: bit-identical) from an earlier call
        rows, facts, start = cached["rows"], cached["facts"], cached["checkpoint"]
        print(f"pre-training reused from {cache}", flush=True)
    else:
        rows = []
        ent, ent_se = entropy_rate(oracle, n=a.n_eval, length=20, seed=3)
        facts = {"oracle_nll_own": nll_oracle(oracle, train_ids[:a.n_eval]), "oracle_entropy": ent,
                 "oracle_entropy_se": ent_se, "log_vocab": float(np.log(5000))}
        print(f"oracle ready in {time.time() - t0:.0f} s: {facts}", flush=True)
        ov = {"model.vocab_size": 5000, "model.oracle": opath, "model.eval_samples": a.n_eval,
              "model.mle_steps": a.mle_steps, "model.d_pre_steps": a.d_pre_steps, "model.d_width": a.d_width,
              "model.lr_d": a.lr_d, "model.lr_g": a.lr_g, "run.progress": False, "run.seed": a.seed,
              "run.overwrite": True, "run.out": os.path.join(a.work, "pretrain"), "run.fid": False}
        tr = Trainer("seqgan", os.path.join(a.work, "train.npy"), overrides=ov)
        facts["random_g_nll_oracle"] = nll_oracle(oracle, tr.nets["G"], n=a.n_eval, length=20, seed=12345)
        evaluate(tr, "pretrain", None)
        t = time.time()
        while tr.stage.name == "pretrain-G" and not tr.finished:
            tr.train_step()
            if tr.step % a.eval_every_mle == 0:
                evaluate(tr, "pretrain", None)
        facts["mle_pretrain_s"] = time.time() - t
        t = time.time()
        while tr.stage.name == "pretrain-D" and not tr.finished:
            tr.train_step(stats)
        facts["d_pretrain_s"] = time.time() - t
        facts["d_pretrain_accuracy_last"] = stats.take().get("D/accuracy")
        start = tr.save_checkpoint()
        G = tr.nets["G"].eval()   # MLE at lower temperatures: what lowering the entropy alone does
        facts["pretrained_temperature"] = {
            str(tau): nll_oracle(oracle, G, n=a.n_eval, length=20, seed=12345, temperature=tau)
            for tau in (0.9, 0.95, 1.0)}
        facts["pretrained_entropy"] = entropy_rate(G, n=a.n_eval, length=20, seed=3)[0]
        evaluate(tr, "pretrain", 0)
        with open(cache, "w") as f:
            json.dump({"budget": pre_budget, "rows": rows, "facts": facts, "checkpoint": start}, f)

    if a.pretrain_only:
        return 0

    # the continuations from the same pre-trained checkpoint
    rollout_s = [0.0]
    inner = sn.rollout_rewards

    def timed_rollouts(*args, **kw):
        t1 = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            rollout_s[0] += time.perf_counter() - t1
    runs = [run_spec(s, a.lr_g_adv) for s in a.baselines.split(",")]
    for run, mode, baseline, reward, lr_adv in runs + [("mle", "mle", "none", "prob", a.lr_g_adv)]:
        t = time.time()
        critic = reward == "oracle"
        cont = Trainer(resume=start, overrides={
            "model.mode": mode, "model.adv_steps": a.adv_steps, "model.d_steps": 1 if critic else a.d_steps,
            "model.lr_g_adv": lr_adv, "model.reward_baseline": baseline, "model.rollouts": a.rollouts,
            "model.reward": "logit" if critic else reward,
            "run.out": os.path.join(a.work, run), "run.progress": False})
        evaluate(cont, run, 0)
        step0 = cont.step
        sn.rollout_rewards = oracle_rollouts(timed_rollouts, oracle, cont.nets["G"]) if critic else timed_rollouts
        rollout_s[0], step_s = 0.0, 0.0
        stats.take()
        try:
            while not cont.finished:
                t1 = time.perf_counter()
                cont.train_step(stats)
                step_s += time.perf_counter() - t1
                k = cont.step - step0
                if k % a.eval_every_adv == 0 or cont.finished:
                    s = stats.take()
                    evaluate(cont, run, k, {n: s[key] for n, key in (
                        ("reward", "G_pg/reward"), ("reward_std", "G_pg/reward_std"),
                        ("d_accuracy", "D/accuracy")) if key in s})
        finally:
            sn.rollout_rewards = inner
        G = cont.nets["G"].eval()
        facts[f"{run}_entropy"] = entropy_rate(G, n=a.n_eval, length=20, seed=3)[0]
        if mode == "mle":   # the control: MLE sampled at lower temperatures (less entropy, nothing learnt)
            facts["mle_temperature"] = {str(tau): {
                "nll_oracle": nll_oracle(oracle, G, n=a.n_eval, length=20, seed=12345, temperature=tau),
                "entropy": entropy_rate(G, n=a.n_eval, length=20, seed=3, temperature=tau)[0]}
                for tau in TEMPERATURES}
        facts[f"{run}_s_per_adv_step"] = step_s / a.adv_steps
        facts[f"{run}_wall_s"] = time.time() - t
        if mode == "seqgan":
            facts[f"{run}_rollout_share"] = rollout_s[0] / step_s
            facts[f"{run}_rollout_s_per_adv_step"] = rollout_s[0] / a.adv_steps
    facts["total_s_this_call"] = time.time() - t0
    adv = ("adv_steps", "d_steps", "lr_g_adv", "baselines", "rollouts")
    facts["budget"] = {**pre_budget, **{k: getattr(a, k) for k in adv}}
    write(a.results, rows, facts, a.name, [r[0] for r in runs])
    return 0


def run_spec(spec: str, lr_g_adv: float):
    """``BASELINE[:REWARD[:LR]]`` -> (run name, mode, baseline, reward, lr_g_adv)."""
    parts = spec.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise SystemExit(f"--baselines: bad run {spec!r} (BASELINE[:REWARD[:LR_G_ADV]])")
    baseline, reward = parts[0], parts[1] if len(parts) > 1 else "prob"
    lr = float(parts[2]) if len(parts) > 2 else lr_g_adv
    if baseline not in ("none", "mean") or reward not in ("prob", "logit", "oracle"):
        raise SystemExit(f"--baselines: bad run {spec!r}: baseline none|mean, reward prob|logit|oracle")
    name = "-".join(["seqgan"] + [baseline] * (baseline != "none") + [reward] * (reward != "prob")
                    + ([f"lr{parts[2]}"] if len(parts) > 2 else []))
    return name, "seqgan", baseline, reward, lr


def oracle_rollouts(rollouts, oracle, G):
    """``rollouts`` with a perfect critic in place of D: the exact log p_oracle(x) - log p_G(x) of
    whole sequences, the logit of the optimal D (``G`` is the live generator)."""
    def critic(x):
        return oracle.log_probs(x).sum(1) - G.log_probs(x).sum(1)

    def call(R, D, x, n, uniforms, reward="logit"):
        return rollouts(R, critic, x, n, uniforms, reward)
    return call


def write(d, rows, facts, name, seq_runs=("seqgan",)):
    with open(os.path.join(d, f"{name}.json"), "w") as f:
        json.dump({"rows": rows, "facts": facts, "published": PUBLISHED}, f, indent=1)
    cols = ("nll_oracle", "nll_test", "nll_train_tf", "reward", "reward_std", "d_accuracy")
    with open(os.path.join(d, f"{name}.csv"), "w") as f:
        f.write("run,step,adv_step," + ",".join(cols) + "\n")
        for r in rows:
            f.write(f"{r['run']},{r['step']},{'' if r['adv_step'] is None else r['adv_step']},"
                    + ",".join("" if r.get(c) is None else f"{r[c]:.4f}" for c in cols) + "\n")
    runs = list(seq_runs) + ["mle"]
    last = {run: [r for r in rows if r["run"] == run][-1] for run in runs}
    b = facts["budget"]
    lr_adv = b["lr_g_adv"] or b["lr_g"]
    lines = [
        "# SeqGAN oracle experiment (reduced budget, 2 shared CPU cores)", "",
        f"Budget: MLE pre-training {b['mle_steps']} steps of batch 64 (paper: 18,840 = 120 epochs), D pre-training "
        f"{b['d_pre_steps']} steps (paper: ~23,440), then {b['adv_steps']} G steps (paper: 200) with "
        f"{b['d_steps']} D steps each (paper: ~2,344), D filters x{b['d_width']}, Adam lr G {b['lr_g']} (paper 0.01) "
        f"and {lr_adv} after pre-training (both runs), D {b['lr_d']} (paper 1e-4); {b['rollouts']} rollouts; "
        f"NLL-oracle of {b['n_eval']} samples.",
        "", "MLE at the same entropy: the final MLE model's NLL-oracle at the temperature that gives it the run's "
        "entropy rate (interpolated in the temperature sweep below); a run learnt something beyond a loss of "
        "entropy only where it is below that.", "",
        "| generator | NLL-oracle (here) | published | NLL-test (here) | entropy rate | MLE at the same entropy |",
        "|---|---:|---:|---:|---:|---:|",
        f"| random (untrained G) | {facts['random_g_nll_oracle']:.3f} | {PUBLISHED['random']:.3f} | | | |",
        f"| MLE pre-trained (start of both runs) | {rows_at(rows, 'mle', 0)['nll_oracle']:.3f} | | "
        f"{rows_at(rows, 'mle', 0)['nll_test']:.3f} | {facts['pretrained_entropy']:.3f} | |"]
    temps = facts.get("mle_temperature", {})
    for run in runs:
        pub = PUBLISHED["mle" if run == "mle" else "seqgan"] if run in ("mle", "seqgan") else None
        same = mle_at_entropy(temps, facts[f"{run}_entropy"]) if run != "mle" else None
        lines.append(f"| {run} after {b['adv_steps']} more G steps | {last[run]['nll_oracle']:.3f} | "
                     f"{'' if pub is None else f'{pub:.3f}'} | {last[run]['nll_test']:.3f} | "
                     f"{facts[f'{run}_entropy']:.3f} | {'' if same is None else f'{same:.3f}'} |")
    for tau in sorted(temps, key=float):
        if float(tau) != 1.0:
            lines.append(f"| mle after {b['adv_steps']} more G steps, sampled at temperature {tau} | "
                         f"{temps[tau]['nll_oracle']:.3f} | | | {temps[tau]['entropy']:.3f} | |")
    lines += [f"| oracle's own samples | {facts['oracle_nll_own']:.3f} | | | {facts['oracle_entropy']:.3f} "
              f"± {facts['oracle_entropy_se']:.3f} |", "",
              "## Curves from the same pre-trained start", "",
              "reward: mean D(x) of G's sequences; spread: std of Q over the batch (mean over timesteps); D acc: "
              "accuracy of D's last step (real against fresh negatives), averaged over the interval.", "",
              "| G steps | " + " | ".join(f"{r} NLL-oracle" for r in runs) + " | "
              + " | ".join(f"{r} NLL-test" for r in runs) + " | " + " | ".join(f"{r} entropy" for r in runs) + " | "
              + " | ".join(f"{r} reward / spread / D acc" for r in seq_runs) + " |",
              "|" + "---:|" * (1 + 3 * len(runs) + len(seq_runs))]
    for k in sorted({r["adv_step"] for r in rows if r["run"] in runs and r["adv_step"] is not None}):
        got = [rows_at(rows, r, k) for r in runs]
        if all(got):
            sq = [rows_at(rows, r, k) for r in seq_runs]
            lines.append(f"| {k} | " + " | ".join(f"{g['nll_oracle']:.3f}" for g in got) + " | "
                         + " | ".join(f"{g['nll_test']:.3f}" for g in got) + " | "
                         + " | ".join(f"{g['entropy']:.3f}" if "entropy" in g else "" for g in got) + " | "
                         + " | ".join(f"{g['reward']:.3f} / {g['reward_std']:.3f} / {g['d_accuracy']:.2f}"
                                      if "reward" in g else "" for g in sq) + " |")
    lines += ["", "## Exposure bias during MLE pre-training", "",
              "Teacher-forced per-token NLL (training data, held-out data) against the oracle's NLL of free-running "
              "samples.", "", "| step | teacher-forced train | teacher-forced held-out (NLL-test) | free-running "
              "NLL-oracle |", "|---:|---:|---:|---:|"]
    for r in rows:
        if r["run"] == "pretrain" and r["adv_step"] is None:
            lines.append(f"| {r['step']} | {r['nll_train_tf']:.3f} | {r['nll_test']:.3f} | {r['nll_oracle']:.3f} |")
    lines += ["", "## Time (1 thread, shared machine)", "",
              f"- MLE pre-training {facts['mle_pretrain_s']:.0f} s, D pre-training {facts['d_pretrain_s']:.0f} s"]
    for run in seq_runs:
        lines.append(f"- {run}: {facts[f'{run}_s_per_adv_step']:.1f} s per adversarial step (1 G step + "
                     f"{b['d_steps']} D steps), rollouts {facts[f'{run}_rollout_s_per_adv_step']:.1f} s of it "
                     f"({100 * facts[f'{run}_rollout_share']:.0f}%); run {facts[f'{run}_wall_s']:.0f} s "
                     "with evaluations")
    lines += [f"- MLE baseline: {facts['mle_s_per_adv_step']:.2f} s per G step",
              f"- total {facts['mle_pretrain_s'] + facts['d_pretrain_s'] + facts['total_s_this_call']:.0f} s "
              "(pre-training + this call's continuations)"]
    with open(os.path.join(d, f"{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(d, rows, facts, name, runs)


def mle_at_entropy(temps, entropy):
    """The MLE model's NLL-oracle at ``entropy``, linear between the two temperatures around it
    (None outside the sweep)."""
    pts = sorted((v["entropy"], v["nll_oracle"]) for v in temps.values())
    if not pts or not pts[0][0] <= entropy <= pts[-1][0]:
        return None
    return float(np.interp(entropy, [e for e, _ in pts], [n for _, n in pts]))


def rows_at(rows, run, k):
    got = [r for r in rows if r["run"] == run and r["adv_step"] == k]
    return got[-1] if got else None


def plot(d, rows, facts, name, runs=("seqgan", "mle")):
    import matplotlib   # optional heavy dependency, only for the figure
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt   # optional heavy dependency, only for the figure
    fig, ax = plt.subplots(1, 4, figsize=(21, 4))
    pre = [r for r in rows if r["run"] == "pretrain" and r["adv_step"] is None]
    ax[0].plot([r["step"] for r in pre], [r["nll_oracle"] for r in pre], "o-", label="NLL-oracle (free running)")
    ax[0].plot([r["step"] for r in pre], [r["nll_test"] for r in pre], "s-", label="NLL-test (teacher forced)")
    ax[0].plot([r["step"] for r in pre], [r["nll_train_tf"] for r in pre], "^-", label="train NLL (teacher forced)")
    ax[0].axhline(facts["oracle_entropy"], color="gray", ls=":", label="oracle entropy")
    ax[0].set(title="MLE pre-training: exposure bias", xlabel="G step", ylabel="per-token NLL")
    ax[0].legend(fontsize=8)
    for i, run in enumerate(runs):
        rr = [r for r in rows if r["run"] == run]
        ax[1].plot([r["adv_step"] for r in rr], [r["nll_oracle"] for r in rr], "o-", ms=3, color=f"C{i}", label=run)
        ax[2].plot([r["adv_step"] for r in rr], [r["nll_test"] for r in rr], "o-", ms=3, color=f"C{i}", label=run)
    for k, c in (("mle", "gray"), ("seqgan", "black")):
        ax[1].axhline(PUBLISHED[k], color=c, ls="--", lw=0.8, label=f"published {k} {PUBLISHED[k]}")
    ax[1].set(title="NLL-oracle from the same pre-trained start", xlabel="G steps after pre-training",
              ylabel="NLL-oracle")
    ax[2].set(title="NLL-test (held-out oracle data)", xlabel="G steps after pre-training", ylabel="NLL-test")
    temps = facts.get("mle_temperature", {})
    if temps:
        ts = sorted(temps, key=float)
        ax[3].plot([temps[t]["entropy"] for t in ts], [temps[t]["nll_oracle"] for t in ts], "s--", color="gray",
                   label="mle at temperatures " + ", ".join(ts))
    for i, run in enumerate(runs):
        rr = [r for r in rows if r["run"] == run and "entropy" in r]
        ax[3].plot([r["entropy"] for r in rr], [r["nll_oracle"] for r in rr], "o-", ms=3, color=f"C{i}",
                   alpha=0.7, label=f"{run} (its evaluations)")
    ax[3].set(title="quality vs diversity", xlabel="entropy rate of G (nats/token)", ylabel="NLL-oracle")
    for k in (1, 2, 3):
        ax[k].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, f"{name}.png"), dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
