"""Seed probe for the tabular utility gap (issue 22): TSTR and fidelity of fastgan's CTGAN and the
``ctgan`` package on one table, several training seeds, the same stratified split (seed 0).

fastgan's rows are sampled twice from the same generator: with BatchNorm in eval mode (running
statistics; what ``TableSynthesizer`` does) and in train mode (batch statistics; what the ``ctgan``
package's ``sample`` does, as it never calls ``eval()``).

    python benchmarks/tabular_seed_probe.py fastgan autompg 1000 0,1,2
    python benchmarks/tabular_seed_probe.py ctgan autompg 1000 0,1,2
"""
import os
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_tabular as bt  # noqa: E402
from fastgan.data.mixed_table import load_mixed_table  # noqa: E402
from fastgan.data.tabular_set import EncodedTable  # noqa: E402
from fastgan.metrics import tabular as tm  # noqa: E402


def report(name, seed, label, t0, fake, train, test, target):
    f1 = bt.mean_scores(tm.ml_efficacy(fake, test, target, seed=seed))
    fid = tm.fidelity(train, fake, seed=seed)
    print(name, seed, label, f"{time.time() - t0:.0f}s", "TSTR f1 %.3f bacc %.3f minrec %.3f" % tuple(f1.values()),
          " ".join(f"{k} {v:.3f}" for k, v in fid.items()), flush=True)


def main():
    impl, name, epochs, seeds = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4].split(",")]
    torch.set_num_threads(1)
    target = bt.TARGETS[name]
    train, test = load_mixed_table(name).split(0.25, seed=0, stratify=target)
    for seed in seeds:
        t0 = time.time()
        if impl == "ctgan":
            _, _, sample = bt.run_ctgan(train, epochs, seed)
            report(name, seed, "ctgan", t0, sample(len(train)), train, test, target)
            continue
        from fastgan.models import ctgan_family
        from fastgan.train.engine import Trainer
        steps = epochs * bt.steps_per_epoch(len(train))
        tr = Trainer(ctgan_family.CTGAN, EncodedTable(train, seed=seed), overrides={
            "kimg": steps * bt.BATCH / 1000, "batch": bt.BATCH, "out": tempfile.mkdtemp(), "overwrite": True,
            "seed": seed, "threads": 1, "snap_kimg": 0, "ckpt_kimg": 0, "fid": False, "progress": False,
            "tensorboard": False})
        for _ in range(steps):
            tr.train_step()
        G = tr.nets["G"]
        syn = tr.family.synthesizer(G)
        report(name, seed, "fastgan-bn-eval", t0, syn.sample(len(train), seed=seed + 1), train, test, target)
        G.eval = lambda: G            # keep train-mode BatchNorm while sampling, as the ctgan package does
        G.train(True)
        report(name, seed, "fastgan-bn-train", t0, syn.sample(len(train), seed=seed + 1), train, test, target)


if __name__ == "__main__":
    main()
