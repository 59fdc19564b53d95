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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/seqgan_oracle", help="oracle, data and runs")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--mle-steps", type=int, default=3000)
    p.add_argument("--d-pre-steps", type=int, default=1500)
    p.add_argument("--adv-steps", type=int, default=40)
    p.add_argument("--d-steps", type=int, default=15)
    p.add_argument("--d-width", type=float, default=0.25)
    p.add_argument("--lr-d", type=float, default=1e-3, help="D's Adam lr (paper 1e-4, with ~100x more D steps)")
    p.add_argument("--lr-g", type=float, default=0.01)
    p.add_argument("--name", default="seqgan_oracle", help="results file name")
    p.add_argument("--eval-every-mle", type=int, default=300)
    p.add_argument("--eval-every-adv", type=int, default=5)
    p.add_argument("--n-eval", type=int, default=2000)
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
    ent, ent_se = entropy_rate(oracle, n=a.n_eval, length=20, seed=3)
    facts = {"oracle_nll_own": nll_oracle(oracle, train_ids[:a.n_eval]), "oracle_entropy": ent,
             "oracle_entropy_se": ent_se, "log_vocab": float(np.log(5000))}
    print(f"oracle ready in {time.time() - t0:.0f} s: {facts}", flush=True)

    ov = {"model.vocab_size": 5000, "model.oracle": opath, "model.eval_samples": a.n_eval,
          "model.mle_steps": a.mle_steps, "model.d_pre_steps": a.d_pre_steps, "model.adv_steps": a.adv_steps,
          "model.d_steps": a.d_steps, "model.d_width": a.d_width,
          "model.lr_d": a.lr_d, "model.lr_g": a.lr_g, "run.progress": False, "run.seed": a.seed,
          "run.overwrite": True, "run.out": os.path.join(a.work, "pretrain"), "run.fid": False}
    tr = Trainer("seqgan", os.path.join(a.work, "train.npy"), overrides=ov)
    rows = []

    def evaluate(trainer, run, adv_step):
        G = trainer.nets["G"]
        G.eval()
        row = {"run": run, "step": trainer.step, "adv_step": adv_step,
               "nll_oracle": nll_oracle(oracle, G, n=a.n_eval, length=20, seed=12345),
               "nll_test": nll_test(G, held_eval),
               "nll_train_tf": nll_test(G, train_ids[:a.n_eval])}
        G.train()
        rows.append(row)
        print(json.dumps(row), flush=True)

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
        tr.train_step()
    facts["d_pretrain_s"] = time.time() - t
    start = tr.save_checkpoint()
    evaluate(tr, "pretrain", 0)

    # both continuations from the same pre-trained checkpoint
    rollout_s = [0.0]
    inner = sn.rollout_rewards

    def timed_rollouts(*args, **kw):
        t1 = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            rollout_s[0] += time.perf_counter() - t1
    for run, mode in (("seqgan", "seqgan"), ("mle", "mle")):
        cont = Trainer(resume=start, overrides={"model.mode": mode, "run.out": os.path.join(a.work, run),
                                                "run.progress": False})
        evaluate(cont, run, 0)
        step0 = cont.step
        sn.rollout_rewards = timed_rollouts
        rollout_s[0], step_s = 0.0, 0.0
        try:
            while not cont.finished:
                t1 = time.perf_counter()
                cont.train_step()
                step_s += time.perf_counter() - t1
                k = cont.step - step0
                if k % a.eval_every_adv == 0 or cont.finished:
                    evaluate(cont, run, k)
        finally:
            sn.rollout_rewards = inner
        facts[f"{run}_s_per_adv_step"] = step_s / a.adv_steps
        if run == "seqgan":
            facts["rollout_share"] = rollout_s[0] / step_s
            facts["rollout_s_per_adv_step"] = rollout_s[0] / a.adv_steps
    facts["total_s"] = time.time() - t0
    facts["budget"] = {k: getattr(a, k) for k in ("mle_steps", "d_pre_steps", "adv_steps", "d_steps", "d_width",
                                                  "n_eval", "lr_d", "lr_g")}
    write(a.results, rows, facts, a.name)
    return 0


def write(d, rows, facts, name):
    with open(os.path.join(d, f"{name}.json"), "w") as f:
        json.dump({"rows": rows, "facts": facts, "published": PUBLISHED}, f, indent=1)
    with open(os.path.join(d, f"{name}.csv"), "w") as f:
        f.write("run,step,adv_step,nll_oracle,nll_test,nll_train_tf\n")
        for r in rows:
            f.write(f"{r['run']},{r['step']},{'' if r['adv_step'] is None else r['adv_step']},"
                    f"{r['nll_oracle']:.4f},{r['nll_test']:.4f},{r['nll_train_tf']:.4f}\n")
    last = {run: [r for r in rows if r["run"] == run][-1] for run in ("seqgan", "mle")}
    b = facts["budget"]
    lines = [
        "# SeqGAN oracle experiment (reduced budget, 2 shared CPU cores)", "",
        f"Budget: MLE pre-training {b['mle_steps']} steps of batch 64 (paper: 18,840 = 120 epochs), D pre-training "
        f"{b['d_pre_steps']} steps (paper: ~23,440), then {b['adv_steps']} G steps (paper: 200) with "
        f"{b['d_steps']} D steps each (paper: ~2,344), D filters x{b['d_width']}, Adam lr G {b['lr_g']} (paper 0.01) "
        f"D {b['lr_d']} (paper 1e-4); NLL-oracle of {b['n_eval']} samples.",
        "", "| generator | NLL-oracle (here) | published | NLL-test (here) |", "|---|---:|---:|---:|",
        f"| random (untrained G) | {facts['random_g_nll_oracle']:.3f} | {PUBLISHED['random']:.3f} | |",
        f"| MLE | {last['mle']['nll_oracle']:.3f} | {PUBLISHED['mle']:.3f} | {last['mle']['nll_test']:.3f} |",
        f"| SeqGAN | {last['seqgan']['nll_oracle']:.3f} | {PUBLISHED['seqgan']:.3f} | "
        f"{last['seqgan']['nll_test']:.3f} |",
        f"| oracle's own samples | {facts['oracle_nll_own']:.3f} | | entropy {facts['oracle_entropy']:.3f} "
        f"± {facts['oracle_entropy_se']:.3f} |", "",
        "## Curves from the same pre-trained start", "",
        "| G steps after pre-training | MLE NLL-oracle | SeqGAN NLL-oracle | MLE NLL-test | SeqGAN NLL-test |",
        "|---:|---:|---:|---:|---:|"]
    by = {(r["run"], r["adv_step"]): r for r in rows if r["run"] in ("mle", "seqgan")}
    for k in sorted({r["adv_step"] for r in rows if r["run"] == "seqgan"}):
        m, s = by.get(("mle", k)), by.get(("seqgan", k))
        if m and s:
            lines.append(f"| {k} | {m['nll_oracle']:.3f} | {s['nll_oracle']:.3f} | {m['nll_test']:.3f} | "
                         f"{s['nll_test']:.3f} |")
    lines += ["", "## Exposure bias during MLE pre-training", "",
              "Teacher-forced per-token NLL (training data, held-out data) against the oracle's NLL of free-running "
              "samples.", "", "| step | teacher-forced train | teacher-forced held-out (NLL-test) | free-running "
              "NLL-oracle |", "|---:|---:|---:|---:|"]
    for r in rows:
        if r["run"] == "pretrain":
            lines.append(f"| {r['step']} | {r['nll_train_tf']:.3f} | {r['nll_test']:.3f} | {r['nll_oracle']:.3f} |")
    lines += ["", "## Time", "",
              f"- MLE pre-training {facts['mle_pretrain_s']:.0f} s, D pre-training {facts['d_pretrain_s']:.0f} s",
              f"- SeqGAN: {facts['seqgan_s_per_adv_step']:.1f} s per adversarial step (1 G step + {b['d_steps']} D "
              f"steps), rollouts {facts['rollout_s_per_adv_step']:.1f} s of it ({100 * facts['rollout_share']:.0f}%)",
              f"- MLE baseline: {facts['mle_s_per_adv_step']:.2f} s per G step", f"- total {facts['total_s']:.0f} s"]
    with open(os.path.join(d, f"{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(d, rows, facts, name)


def plot(d, rows, facts, name):
    import matplotlib   # optional heavy dependency, only for the figure
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt   # optional heavy dependency, only for the figure
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    pre = [r for r in rows if r["run"] == "pretrain" and r["adv_step"] is None]
    ax[0].plot([r["step"] for r in pre], [r["nll_oracle"] for r in pre], "o-", label="NLL-oracle (free running)")
    ax[0].plot([r["step"] for r in pre], [r["nll_test"] for r in pre], "s-", label="NLL-test (teacher forced)")
    ax[0].plot([r["step"] for r in pre], [r["nll_train_tf"] for r in pre], "^-", label="train NLL (teacher forced)")
    ax[0].axhline(facts["oracle_entropy"], color="gray", ls=":", label="oracle entropy")
    ax[0].set(title="MLE pre-training: exposure bias", xlabel="G step", ylabel="per-token NLL")
    ax[0].legend(fontsize=8)
    for run, style in (("mle", "s-"), ("seqgan", "o-")):
        rr = [r for r in rows if r["run"] == run]
        ax[1].plot([r["adv_step"] for r in rr], [r["nll_oracle"] for r in rr], style, label=run)
    for k, c in (("mle", "C0"), ("seqgan", "C1")):
        ax[1].axhline(PUBLISHED[k], color=c, ls="--", lw=0.8, label=f"published {k} {PUBLISHED[k]}")
    ax[1].set(title="from the same pre-trained start", xlabel="G steps after pre-training", ylabel="NLL-oracle")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, f"{name}.png"), dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
