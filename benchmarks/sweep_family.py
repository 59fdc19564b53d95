"""Short runs of one family's ``cpu`` preset with overrides: FID and the digit-class histogram of the EMA
samples at fixed points, to compare settings before a full ``bench_families.py`` run.

    python benchmarks/sweep_family.py --model stylegan2 --kimg 30 --points 5 --set lr=0.005 --name lr5

Each point scores ``--samples`` EMA samples (digits features) against the 4,500 training digits at the
family's resolution, as ``bench_families.py`` does (fewer samples: a higher FID than its 2,000-sample
table). One JSON line per point goes to ``benchmarks/results/sweeps/<model>-<name>.jsonl`` (kimg, FID,
classes in >= 2% of the samples, the histogram, seconds since the start, evaluations included) and to
stdout; ``--grids`` also writes each point's first 64 samples beside it as a PNG.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
OUT = os.path.join(HERE, "results", "sweeps")


def parse_set(items):
    """``KEY=VALUE`` pairs; VALUE is read as JSON where it parses (numbers, true/false), else as a string."""
    out = {}
    for it in items:
        key, sep, value = it.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {it!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--kimg", type=float, required=True)
    p.add_argument("--points", type=int, default=5, help="evaluations, evenly spaced, the last at --kimg")
    p.add_argument("--samples", type=int, default=1000, help="EMA samples per evaluation (a multiple of 500)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a recipe override")
    p.add_argument("--name", default="", help="the run's name in the output file (default: the overrides)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--grids", action="store_true", help="write each point's first 64 samples as a PNG")
    a = p.parse_args(argv)
    if a.kimg <= 0 or a.points < 1 or a.threads < 1:
        raise ValueError("--kimg must be > 0, --points and --threads >= 1")
    if a.samples < 500 or a.samples % 500:
        raise ValueError(f"--samples must be a positive multiple of 500, got {a.samples}")
    overrides = parse_set(a.set)
    name = a.name or ("-".join(f"{k}={v}" for k, v in overrides.items()) or "preset").replace("/", "_")

    import torch

    import bench_families as bf
    from fastgan import models
    from fastgan.data import save_grid
    from fastgan.train import Trainer

    torch.set_num_threads(a.threads)
    os.makedirs(OUT, exist_ok=True)
    log = os.path.join(OUT, f"{a.model}-{name}.jsonl")
    open(log, "w").close()
    t0 = time.time()
    preset = models.get(a.model).preset(a.preset)   # recorded with each row: presets change over time

    def evaluate(trainer):
        images = bf.ema_samples(trainer, a.samples, torch.Generator().manual_seed(2024))
        fid, classes, hist = bf.fid_and_classes(images, bf._resolution(trainer), a.samples)
        row = {"model": a.model, "name": name, "preset": a.preset, "preset_values": preset, "overrides": overrides,
               "kimg": round(trainer.nimg / 1000, 3),
               "fid": round(fid, 1), "classes": classes, "histogram": hist, "seconds": round(time.time() - t0)}
        if a.grids:
            save_grid(images[:64], log.replace(".jsonl", f"-{row['kimg']:g}kimg.png"))
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        return {"fid_digits": row["fid"], "classes": row["classes"]}

    with tempfile.TemporaryDirectory(prefix="fastgan-sweep-") as out:
        tr = Trainer(a.model, "mnist", preset=a.preset, metric_fn=evaluate,
                     overrides={**bf.QUIET, "run.threads": a.threads, "out": out, "kimg": a.kimg,
                                "fid_kimg": a.kimg / a.points, **overrides})
        tr.fit()
    print(f"wrote {log}")


if __name__ == "__main__":
    main()
