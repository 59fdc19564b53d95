"""Seconds per epoch of fastgan's CTGAN before and after a change, beside the ``ctgan`` package,
all three taking turns round by round in one process (so the shared machine's drifting load lands
on each alike).  "Before" is ``fastgan/models/ctgan.py`` and ``ctgan_family.py`` at a git ref,
loaded beside the working tree's; the rest of fastgan (data, engine) is the working tree's.

    python benchmarks/bench_tabular_before_after.py --ref cd6c704 --rounds 7 --epochs 30

Writes ``benchmarks/results/tabular_speed_before_after.json`` and a markdown table on stdout.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import bench_tabular as bt  # noqa: E402
from fastgan.data.mixed_table import load_mixed_table  # noqa: E402
from fastgan.data.tabular_set import EncodedTable  # noqa: E402


def load_ref_family(ref: str):
    """The family class of ``ref``'s ctgan modules, imported as fastgan.models._ref_ctgan*."""
    tmp = tempfile.mkdtemp(prefix="ctgan-ref-")
    mods = {}
    for name, src in (("_ref_ctgan", "fastgan/models/ctgan.py"), ("_ref_ctgan_family", "fastgan/models/ctgan_family.py")):
        text = subprocess.run(["git", "show", f"{ref}:{src}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout
        text = text.replace("from . import ctgan as ct", "from . import _ref_ctgan as ct")
        path = os.path.join(tmp, name + ".py")
        with open(path, "w") as f:
            f.write(text)
        spec = importlib.util.spec_from_file_location("fastgan.models." + name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["fastgan.models." + name] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods["_ref_ctgan_family"].CTGAN


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="cd6c704")
    ap.add_argument("--tables", default="autompg,breast_cancer,penguins")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "tabular_speed_before_after.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    import pandas as pd
    from ctgan import CTGAN

    from fastgan.models import ctgan_family
    from fastgan.train.engine import Trainer

    ref_family = load_ref_family(args.ref)
    res = {}
    print(f"| table | before ({args.ref}) s/epoch | after s/epoch | ctgan s/epoch | after vs before | "
          "ctgan / before | ctgan / after | ctgan / after per round |\n|---|---|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        train, _ = load_mixed_table(name).split(0.25, seed=0, stratify=bt.TARGETS[name])
        steps = args.epochs * bt.steps_per_epoch(len(train))
        trainers = {}
        for k, fam in (("before", ref_family), ("after", ctgan_family.CTGAN)):
            trainers[k] = Trainer(fam, EncodedTable(train, seed=0), overrides={
                "kimg": 1e6, "batch": bt.BATCH, "out": tempfile.mkdtemp(prefix="tab-"), "overwrite": True, "seed": 0,
                "threads": 1, "fid": False, "progress": False, "tensorboard": False})
            trainers[k].train_step()                       # warm-up
        df = pd.DataFrame({c: train[c] for c in train.names})
        times = {"before": [], "after": [], "ctgan": []}
        for _ in range(args.rounds):
            for k, tr in trainers.items():
                t0 = time.perf_counter()
                for _ in range(steps):
                    tr.train_step()
                times[k].append((time.perf_counter() - t0) / args.epochs)
            with bt._LoopClock() as clock:
                CTGAN(epochs=args.epochs, batch_size=bt.BATCH, pac=10, enable_gpu=False).fit(df, list(train.discrete))
            times["ctgan"].append(clock.seconds / args.epochs)
        med = {k: float(np.median(v)) for k, v in times.items()}
        per_round = [c / a for c, a in zip(times["ctgan"], times["after"])]
        res[name] = {"s_per_epoch_median": med, "s_per_epoch": times, "ctgan_over_after_per_round": per_round,
                     "rounds": args.rounds, "epochs": args.epochs, "ref": args.ref}
        print(f"| {name} | {med['before']:.4f} | {med['after']:.4f} | {med['ctgan']:.4f} | "
              f"{med['before'] / med['after']:.2f}x | {med['ctgan'] / med['before']:.2f}x | "
              f"{med['ctgan'] / med['after']:.2f}x | " + ", ".join(f"{x:.2f}" for x in per_round) + " |", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
