"""fastgan's CTGAN against the reference ``ctgan`` package on imbalanced tables (CPU).

For each table: a stratified 75/25 split (seed 0); both implementations train for the same
number of epochs (an epoch is max(1, rows // batch) steps of 500 rows, the ``ctgan`` package's
definition) with the paper's settings, on one thread.  Measured:

* seconds per epoch of the training loop (the transformer's fit and the encoding are timed apart: ``prep_s``;
  fastgan runs the engine's ``train_step``, ctgan its ``fit`` less its transformer's fit);
* fidelity of as many unconditional rows as the training split has, against the training split
  (mean KS, mean TV, correlation differences, detection AUC) and DCR against the test split;
* utility on the real test split (macro-F1, balanced accuracy, minority recall; mean of logistic
  regression, random forest and gradient boosting) when training on: the real rows; real rows
  oversampled at random; real rows with SMOTE(-NC) (imbalanced-learn); real rows plus generated
  minority rows up to balance (fastgan: conditional sampling; ctgan: its ``condition_column``);
  the same with twice the generated rows, of which the adversarial filter (train vs test
  features) keeps the most test-like half; generated rows only (TSTR).

    python benchmarks/bench_tabular.py [--tables autompg,breast_cancer] [--epochs 300] [--no-ctgan]
    python benchmarks/bench_tabular.py --speed-rounds 5 --epochs 20     # timing only, alternating

Writes ``benchmarks/results/tabular.json`` and a markdown table on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fastgan.data.adversarial_filter import adversarial_filter  # noqa: E402
from fastgan.data.mixed_table import MixedTable, load_mixed_table  # noqa: E402
from fastgan.data.tabular_set import EncodedTable  # noqa: E402
from fastgan.metrics import tabular as tm  # noqa: E402

TARGETS = {"autompg": "origin", "breast_cancer": "diagnosis", "penguins": "species"}
BATCH = 500


def steps_per_epoch(n_rows: int) -> int:
    return max(1, n_rows // BATCH)


class _LoopClock:
    """Times the ``ctgan`` package's training loop alone: ``fit`` fits its transformer, encodes the
    table (a Python loop over rows), builds its ``DataSampler``, then the networks and the epochs; the
    clock starts when the sampler is built (the networks and optimisers, a few ms, stay inside) and
    stops when ``fit`` returns.  (Subtracting a separately timed transformer fit instead left the
    per-epoch figure at the mercy of that fit's variance: seconds against a loop of a few seconds.)"""

    def __enter__(self):
        import ctgan.synthesizers.ctgan as mod

        self.mod, self.orig, self.start = mod, mod.DataSampler, None

        def stamped(*a, **k):
            out = self.orig(*a, **k)
            self.start = time.perf_counter()
            return out
        mod.DataSampler = stamped
        return self

    def __exit__(self, *exc):
        self.mod.DataSampler = self.orig
        self.stop = time.perf_counter()

    @property
    def seconds(self):
        return self.stop - self.start


def run_fastgan(train: MixedTable, epochs: int, seed: int, out: str):
    from fastgan.models import ctgan_family
    from fastgan.train.engine import Trainer

    t0 = time.time()
    data = EncodedTable(train, seed=seed)
    prep = time.time() - t0
    steps = epochs * steps_per_epoch(len(train))
    trainer = Trainer(ctgan_family.CTGAN, data, overrides={
        "kimg": steps * BATCH / 1000, "batch": BATCH, "out": out, "overwrite": True, "seed": seed, "threads": 1,
        "snap_kimg": 0, "ckpt_kimg": 0, "fid": False, "progress": False, "tensorboard": False})
    t0 = time.time()
    for _ in range(steps):        # the engine's step; fit() would add its end-of-run snapshot and plots
        trainer.train_step()
    train_s = time.time() - t0
    syn = trainer.family.synthesizer(trainer.nets["G"])

    def sample(n, condition=None):
        return syn.sample_matching(n, condition, seed=seed + 1) if condition else syn.sample(n, seed=seed + 1)
    return prep, train_s, sample


def run_ctgan(train: MixedTable, epochs: int, seed: int):
    import pandas as pd
    from ctgan import CTGAN

    df = pd.DataFrame({c: train[c] for c in train.names})
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = CTGAN(epochs=epochs, batch_size=BATCH, pac=10, enable_gpu=False)
    t0 = time.perf_counter()
    with _LoopClock() as clock:
        model.fit(df, discrete_columns=list(train.discrete))
    prep, train_s = clock.start - t0, clock.seconds     # transformer fit + encoding; the loop

    def to_table(frame):
        return MixedTable({c: frame[c].to_numpy() for c in train.names}, train.discrete, name="ctgan")

    def sample(n, condition=None):
        if not condition:
            return to_table(model.sample(n))
        (col, val), = condition.items()
        got = []
        while sum(len(g) for g in got) < n:
            f = model.sample(2 * n, condition_column=col, condition_value=val)
            got.append(f[f[col].astype(str) == str(val)])
        return to_table(pd.concat(got).iloc[:n])
    return prep, train_s, sample


def speed(train: MixedTable, epochs: int, rounds: int, seed: int) -> dict:
    """Seconds per epoch, the two implementations taking turns round by round (so a drift in
    the shared machine's speed lands on both): fastgan continues one run, ctgan fits anew each
    round and only its training loop is timed (:class:`_LoopClock`)."""
    import pandas as pd
    from ctgan import CTGAN

    from fastgan.models import ctgan_family
    from fastgan.train.engine import Trainer

    trainer = Trainer(ctgan_family.CTGAN, EncodedTable(train, seed=seed), overrides={
        "kimg": 1e6, "batch": BATCH, "out": tempfile.mkdtemp(prefix="tab-"), "overwrite": True, "seed": seed,
        "threads": 1, "fid": False, "progress": False, "tensorboard": False})
    df = pd.DataFrame({c: train[c] for c in train.names})
    steps = epochs * steps_per_epoch(len(train))
    trainer.train_step()                               # warm-up
    fast, ref = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        fast.append((time.perf_counter() - t0) / epochs)
        with _LoopClock() as clock:
            CTGAN(epochs=epochs, batch_size=BATCH, pac=10, enable_gpu=False).fit(df, list(train.discrete))
        ref.append(clock.seconds / epochs)
    return {"fastgan_s_per_epoch": float(np.median(fast)), "ctgan_s_per_epoch": float(np.median(ref)),
            "speedup_per_round": [r / f for f, r in zip(fast, ref)], "rounds": rounds, "epochs": epochs}


def evaluate(train, test, target, sample, seed, filter_keep=0.0):
    fake = sample(len(train))
    fid = tm.fidelity(train, fake, seed=seed)
    fid.update(tm.dcr(fake, train, test))
    cats, counts = np.unique(train[target], return_counts=True)
    extra = None
    for c, n in zip(cats, counts):
        if n < counts.max():
            rows = sample(int(counts.max() - n), {target: str(c)})
            extra = rows if extra is None else extra.concat(rows)
    util = {"real+gan": tm.ml_efficacy(train.concat(extra), test, target, seed=seed),
            "gan": tm.ml_efficacy(fake, test, target, seed=seed)}
    if filter_keep:
        # twice the rows, of which the filter keeps the half most like the test rows (features only)
        feats = [c for c in train.names if c != target]
        strip = lambda t: MixedTable({c: t[c] for c in feats}, [c for c in t.discrete if c != target])  # noqa: E731
        kept = None
        for c, n in zip(cats, counts):
            if n < counts.max():
                need = int(counts.max() - n)
                rows = sample(int(np.ceil(need / filter_keep)), {target: str(c)})
                res = adversarial_filter(strip(train), strip(test), strip(rows), keep=need / len(rows), seed=seed)
                rows = rows.take(res.index)
                kept = rows if kept is None else kept.concat(rows)
        util["real+gan filtered"] = tm.ml_efficacy(train.concat(kept), test, target, seed=seed)
    return fid, util


def mean_scores(res):
    keys = ("macro_f1", "balanced_accuracy", "minority_recall")
    return {k: float(np.mean([r[k] for r in res.values()])) for k in keys}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", default="autompg,breast_cancer")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0, help="the split's seed (and the training seed without --seeds)")
    ap.add_argument("--seeds", default=None,
                    help="training seeds, e.g. 0,1,2: each implementation trains once per seed on the same split; "
                         "the tables give mean and sd over them (writes tabular_seeds.json)")
    ap.add_argument("--no-ctgan", action="store_true", help="skip the reference package")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "tabular.json"))
    ap.add_argument("--filter-keep", type=float, default=0.5,
                    help="also: real + generated minority rows kept by the adversarial filter (this fraction)")
    ap.add_argument("--speed-rounds", type=int, default=0,
                    help="only time the two, alternating this many rounds of --epochs epochs each")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.speed_rounds:
        res = {}
        for name in args.tables.split(","):
            t = load_mixed_table(name)
            train, _ = t.split(0.25, seed=args.seed, stratify=TARGETS[name])
            res[name] = speed(train, args.epochs, args.speed_rounds, args.seed)
            r = res[name]
            print(f"| {name} | {r['fastgan_s_per_epoch']:.4f} | {r['ctgan_s_per_epoch']:.4f} | "
                  f"{r['ctgan_s_per_epoch'] / r['fastgan_s_per_epoch']:.2f}x | "
                  + ", ".join(f"{x:.2f}" for x in r["speedup_per_round"]) + " |", flush=True)
        path = args.out.replace(".json", "_speed.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        return
    if args.seeds:
        return multi_seed(args)
    results = {}
    for name in args.tables.split(","):
        t = load_mixed_table(name)
        target = TARGETS[name]
        train, test = t.split(0.25, seed=args.seed, stratify=target)
        res = {"rows": [len(train), len(test)], "epochs": args.epochs,
               "minority_share": float(np.unique(train[target], return_counts=True)[1].min() / len(train))}
        base = tm.utility_comparison(train, test, target, seed=args.seed)
        res["utility"] = {k: mean_scores(v) for k, v in base.items()}
        impls = [("fastgan", lambda: run_fastgan(train, args.epochs, args.seed, tempfile.mkdtemp(prefix="tab-")))]
        if not args.no_ctgan:
            impls.append(("ctgan", lambda: run_ctgan(train, args.epochs, args.seed)))
        for impl, fn in impls:
            prep, train_s, sample = fn()
            fid, util = evaluate(train, test, target, sample, args.seed, args.filter_keep)
            res[impl] = {"prep_s": prep, "s_per_epoch": train_s / args.epochs, "fidelity": fid}
            for k, v in util.items():
                res["utility"][f"{k} ({impl})"] = mean_scores(v)
            print(f"{name} {impl}: {train_s / args.epochs:.4f} s/epoch", flush=True)
        results[name] = res
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    for name, res in results.items():
        print(f"\n### {name} (train/test rows {res['rows']}, minority {res['minority_share']:.0%}, "
              f"{res['epochs']} epochs)\n")
        impls = [k for k in ("fastgan", "ctgan") if k in res]
        print("| | " + " | ".join(impls) + " |\n|---|" + "---|" * len(impls))
        rows = [("s/epoch", "s_per_epoch")] + [(k, k) for k in res[impls[0]]["fidelity"]]
        for label, key in rows:
            vals = [res[i][key] if key == "s_per_epoch" else res[i]["fidelity"][key] for i in impls]
            print(f"| {label} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
        print("\n| training set | macro-F1 | balanced acc. | minority recall |\n|---|---|---|---|")
        for k, v in res["utility"].items():
            print(f"| {k} | {v['macro_f1']:.3f} | {v['balanced_accuracy']:.3f} | {v['minority_recall']:.3f} |")


def multi_seed(args):
    """Every implementation trained once per seed on one split; fidelity and utility figures as
    mean and sample sd over the seeds (the baselines' classifiers take the same seeds)."""
    seeds = [int(x) for x in args.seeds.split(",")]
    out = {}
    for name in args.tables.split(","):
        t = load_mixed_table(name)
        target = TARGETS[name]
        train, test = t.split(0.25, seed=args.seed, stratify=target)
        runs = {"real": [], "smote": [], "random_oversampling": []}
        per = {}
        for seed in seeds:
            base = tm.utility_comparison(train, test, target, seed=seed)
            for k in runs:
                if k in base:
                    runs[k].append({"utility": mean_scores(base[k])})
            impls = [("fastgan", lambda: run_fastgan(train, args.epochs, seed, tempfile.mkdtemp(prefix="tab-")))]
            if not args.no_ctgan:
                impls.append(("ctgan", lambda: run_ctgan(train, args.epochs, seed)))
            for impl, fn in impls:
                prep, train_s, sample = fn()
                fid, util = evaluate(train, test, target, sample, seed, 0.0)
                rec = {"s_per_epoch": train_s / args.epochs, "fidelity": fid,
                       "tstr": mean_scores(util["gan"]), "real+gan": mean_scores(util["real+gan"])}
                per.setdefault(impl, []).append(rec)
                print(f"{name} seed {seed} {impl}: {train_s / args.epochs:.4f} s/epoch, TSTR macro-F1 "
                      f"{rec['tstr']['macro_f1']:.3f}, KS {fid['ks_mean']:.3f}, TV {fid['tv_mean']:.3f}, "
                      f"detection AUC {fid['detection_auc']:.3f}", flush=True)
        out[name] = {"rows": [len(train), len(test)], "epochs": args.epochs, "seeds": seeds,
                     "baselines": runs, "runs": per, "summary": _summary(per, runs)}
    path = args.out.replace(".json", "_seeds.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    for name, res in out.items():
        print(f"\n### {name} (train/test rows {res['rows']}, {res['epochs']} epochs, seeds {res['seeds']}; "
              f"mean ± sd)\n")
        impls = list(res["runs"])
        print("| | " + " | ".join(impls) + " |\n|---|" + "---|" * len(impls))
        for key in res["summary"][impls[0]]:
            print(f"| {key} | " + " | ".join(_pm(res["summary"][i][key]) for i in impls) + " |")
        for k in res["baselines"]:
            if k in res["summary"]:
                print(f"| {k}: macro-F1 / balanced acc. / minority recall | "
                      + " / ".join(_pm(res["summary"][k][m]) for m in ("macro_f1", "balanced_accuracy",
                                                                        "minority_recall")) + " |")


def _stats(vals):
    v = np.asarray(vals, dtype=float)
    return [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0]


def _summary(per, baselines):
    out = {}
    for impl, recs in per.items():
        row = {"s_per_epoch": _stats([r["s_per_epoch"] for r in recs])}
        for k in recs[0]["fidelity"]:
            row[k] = _stats([r["fidelity"][k] for r in recs])
        for part in ("tstr", "real+gan"):
            for m in ("macro_f1", "balanced_accuracy", "minority_recall"):
                row[f"{part} {m}"] = _stats([r[part][m] for r in recs])
        out[impl] = row
    for k, recs in baselines.items():
        if recs:
            out[k] = {m: _stats([r["utility"][m] for r in recs])
                      for m in ("macro_f1", "balanced_accuracy", "minority_recall")}
    return out


def _pm(x):
    return f"{x[0]:.3f} ± {x[1]:.3f}"


if __name__ == "__main__":
    main()
