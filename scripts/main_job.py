"""The main job: train the default model on the embedded MNIST digits on the CPU.

    python scripts/main_job.py [--out runs/main_job] [--kimg K] [--threads N] [--seed S]

Trains ``fastgan.models.DEFAULT`` (dcgan28) on MNIST-5k's 4,500 training digits
with the recipe's defaults, writes into ``--out``:

    samples/latest.png     8x8 grid from fixed noise (EMA generator), also every 5 kimg
    checkpoints/ckpt-*.safetensors   full-state checkpoint (resume with fastgan train --resume)
    scalars.csv, tensorboard/        losses and speed
    losses.png             loss curves
    metrics.png            FID (and digit classes covered) against kimg, every 10 kimg

and prints the final FID with the digits features (against the 500 held-out digits) and the
number of digit classes the shipped classifier finds among the samples.
Same as ``fastgan train --out runs/main_job --overwrite`` plus a
wall-time report and a thread count chosen for the machine's current load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

BUDGET_S = 600  # the main job promises to finish in under 10 minutes on 2 CPU cores
FID_KIMG = 10.0  # FID (and class coverage) every 10 kimg: the FID curve in metrics.png


def pick_threads() -> int:
    """All cores when the machine is idle; fewer when other processes keep cores busy
    (oversubscribed OpenMP threads spin and slow small convolutions down several-fold)."""
    cores = os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, min(cores, cores - busy))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/main_job")
    p.add_argument("--kimg", type=float, default=None, help="default: the recipe's (fastgan train --list-models)")
    p.add_argument("--threads", type=int, default=None, help="default: free cores by load average")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    # must be set before torch loads OpenMP: idle threads sleep instead of spinning on a busy machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from fastgan import models
    from fastgan.train import Trainer
    from fastgan.train.cli import _print_summary

    threads = args.threads or pick_threads()
    overrides = {"run.out": args.out, "run.overwrite": True, "run.seed": args.seed, "run.threads": threads,
                 "run.progress": not args.no_progress, "run.fid_kimg": FID_KIMG}
    if args.kimg is not None:
        overrides["model.kimg"] = args.kimg
    t0 = time.time()
    trainer = Trainer(models.DEFAULT, "mnist", overrides=overrides)
    print(f"main job: {models.DEFAULT} on embedded MNIST-5k, {trainer.recipe.kimg:g} kimg, "
          f"batch {trainer.recipe.batch}, {threads} CPU thread(s), seed {args.seed}", flush=True)
    summary = trainer.fit()
    _print_summary(summary)
    wall = time.time() - t0
    m = summary["metrics"]
    if "fid_digits" in m:
        print(f"FID_digits {m['fid_digits']:.1f} (5,000 samples vs the 500 held-out digits; real digits score 3.6)")
    if "classes_digits" in m:
        print(f"classes    {int(m['classes_digits'])}/10 digit classes generated (each >= 2% of the samples)")
    print(f"wall time  {wall / 60:.1f} min ({wall:.0f} s; budget {BUDGET_S // 60} min)")
    return 0 if summary["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
