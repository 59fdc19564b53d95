"""The classic families on embedded data: steps, wall time on this CPU, FID or a toy metric, samples.

    python benchmarks/bench_families.py [--only mlp,cgan] [--scale 1.0] [--threads 1]

Each image family trains from scratch on the embedded MNIST-5k training split (4,500
digits) for a short, fixed number of images (``kimg`` below; ``--scale`` multiplies it),
then the engine's FID hook measures FID with the digits features (fastgan.metrics, the
shipped MNIST classifier) of 2,000 samples against the training images.  The toy rows
run the examples' 2-D and 1-D demos.  Writes ``benchmarks/RESULTS_families.md`` and the
sample grids under ``benchmarks/families/``.

These runs are minutes, not the source's day of training: the numbers show that every
family trains end to end and how fast, not what it converges to.  The reference row is
the FID of 500 held-out real digits (a floor at n = 500; FID grows as n shrinks).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, HERE)

GRIDS = os.path.join(HERE, "families")
RESULTS = os.path.join(HERE, "RESULTS_families.md")

# row label, model, grid file name, overrides (kimg = thousands of real images shown to D, n_critic included)
IMAGE_RUNS = [
    ("mlp", "mlp", "mlp", {"kimg": 100.0}),
    ("mlp, digits 1 and 2", "mlp", "mlp-digits12", {"kimg": 100.0, "digits": [1, 2]}),
    ("dcgan-mnist", "dcgan-mnist", "dcgan-mnist", {"kimg": 1.0, "batch": 32}),
    ("dcgan (32 px, width 32)", "dcgan", "dcgan32", {"kimg": 15.0, "resolution": 32, "width": 32, "batch": 64}),
    ("cgan (concat)", "cgan", "cgan-concat", {"kimg": 25.0, "width": 32}),
    ("cgan (projection)", "cgan", "cgan-projection", {"kimg": 25.0, "width": 32, "cond": "projection"}),
    ("wgan (32 px, width 32)", "wgan", "wgan", {"kimg": 20.0, "width": 32}),
    ("wgan-gp (32 px, width 32)", "wgan-gp", "wgan-gp", {"kimg": 20.0, "width": 32}),
    ("gmmn", "gmmn", "gmmn", {"kimg": 60.0, "batch": 256}),
]
FID_SAMPLES = 2000
QUIET = {"run.progress": False, "run.tensorboard": False, "snap_kimg": 0.0, "ckpt_kimg": 0.0, "overwrite": True}


_REAL_STATS: dict = {}


def real_stats(digits=()):
    """FID statistics (digits features) of the training images, optionally of some classes only."""
    from fastgan import metrics
    from fastgan.data import ArrayImages, load_mnist_5k

    key = tuple(digits)
    if key not in _REAL_STATS:
        x, y = load_mnist_5k("train")
        keep = [i for i, c in enumerate(y) if not key or c in key]
        _REAL_STATS[key] = metrics.compute_stats(ArrayImages(x[keep], y[keep]), features="digits")
    return _REAL_STATS[key]


def sample_metrics(trainer, n=FID_SAMPLES):
    """FID against the training images of the classes trained on, and the digit classes covered."""
    import torch

    from fastgan import metrics

    t0 = time.time()
    fam, g, count = trainer.family, torch.Generator().manual_seed(2024), [0]

    def fake(b):
        labels = (torch.arange(count[0], count[0] + b) % fam.data.num_classes) if fam.conditional else None
        count[0] += b
        return trainer.sample(fam.latent(b, g), labels)
    res = metrics.compute_metrics(real_stats(getattr(trainer.recipe, "digits", ())), fake, ["fid", "modes"],
                                  features="digits", n=n)
    hist = res["modes"].values["histogram"]          # classifier's predicted classes of the samples
    out = {"fid_digits": float(res["fid"]), "classes": float(sum(h >= 0.02 * n for h in hist))}
    if fam.conditional:   # does the label control the class? the digits classifier's agreement
        net = metrics.get_extractor("digits")
        labels = torch.arange(1000) % fam.data.num_classes
        with torch.no_grad():
            _, logits = net(trainer.sample(fam.latent(1000, g), labels))
        out["label_acc"] = float((logits.argmax(1) == labels).float().mean())
    return {**out, "eval_s": time.time() - t0}


def run_image(label, model, grid_name, overrides, threads, scale):
    from fastgan.train import Trainer

    ov = dict(overrides, kimg=overrides["kimg"] * scale)
    with tempfile.TemporaryDirectory(prefix="fastgan-bench-") as out:
        tr = Trainer(model, "mnist", overrides={**QUIET, "run.threads": threads, "out": out, **ov},
                     metric_fn=sample_metrics)
        t0 = time.time()
        s = tr.fit()
        wall = time.time() - t0 - s["metrics"].get("eval_s", 0.0)     # training only
        grid = os.path.join(GRIDS, grid_name + ".png")
        shutil.copyfile(s["grid"], grid)
    m = s["metrics"]
    digits = ov.get("digits")
    data = "MNIST-5k" + (f", digits {list(digits)}" if digits else "")
    k = int(m.get("classes", 0))
    metric = (f"FID {m['fid_digits']:.1f}, {k} class{'es' if k != 1 else ''}" if "fid_digits" in m else "FID n/a")
    if "label_acc" in m:
        metric += f", label accuracy {100 * m['label_acc']:.0f}%"
    return {"family": label, "data": data, "steps": s["step"], "kimg": s["kimg"], "seconds": wall,
            "metric": metric, "grid": os.path.relpath(grid, HERE)}


def reference_row():
    from fastgan import metrics
    from fastgan.data import make_dataset

    t0 = time.time()
    fid = metrics.compute_fid(make_dataset("mnist", split="heldout"), real_stats(), features="digits")
    return {"family": "(real held-out digits)", "data": "MNIST-5k held-out, n = 500", "steps": 0, "kimg": 0.0,
            "seconds": time.time() - t0, "metric": f"FID {float(fid):.1f}", "grid": ""}


def toy_rows(scale):
    import adversarial_1d
    import mixture_8_gaussians

    rows = []
    with tempfile.TemporaryDirectory() as out:
        t0 = time.time()
        res = mixture_8_gaussians.main(["--out", out, "--steps", str(int(1200 * scale))])
        wall = time.time() - t0
        shutil.copyfile(os.path.join(out, "mixture_8_gaussians.png"), os.path.join(GRIDS, "toy-8gaussians.png"))
        for name, r in res.items():
            rows.append({"family": f"toy, {name}", "data": "8 Gaussians (std 0.05, radius 2)", "steps": r["steps"],
                         "kimg": float("nan"), "seconds": wall / len(res),
                         "metric": f"{r['modes']}/8 modes, {100 * r['hq']:.0f}% high quality",
                         "grid": "families/toy-8gaussians.png"})
        t0 = time.time()
        r = adversarial_1d.main(["--out", out, "--steps", str(int(1500 * scale))])
        shutil.copyfile(os.path.join(out, "adversarial_1d.png"), os.path.join(GRIDS, "toy-1d.png"))
        rows.append({"family": "toy, non-saturating", "data": "1-D N(4, 0.5^2)", "steps": int(1500 * scale),
                     "kimg": float("nan"), "seconds": time.time() - t0,
                     "metric": f"KS {r['ks']:.3f}, E abs(D - 1/2) {r['d_gap']:.3f}", "grid": "families/toy-1d.png"})
    return rows


def to_markdown(rows) -> str:
    from harness import machine_line

    lines = ["## The classic GAN families (issue 7)", "",
             f"Written by `benchmarks/bench_families.py` ({machine_line()}) "
             "on a machine shared with other jobs (wall times are loose).  Short runs from scratch: "
             "they show that each family trains end to end and how fast, not converged quality. "
             "FID: digits features (fastgan.metrics), 2,000 samples vs the training images (of the classes "
             "trained on); classes: digit classes the classifier assigns to >= 2% of the samples; label "
             "accuracy: how often it agrees with a conditional model's label.", "",
             "| family | data | steps | kimg | wall time | FID (digits) / toy metric | samples |",
             "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        kimg = "" if r["kimg"] != r["kimg"] else f"{r['kimg']:.1f}"
        grid = f"[{os.path.basename(r['grid'])}]({r['grid']})" if r["grid"] else ""
        lines.append(f"| {r['family']} | {r['data']} | {r['steps']} | {kimg} | {r['seconds']:.0f} s "
                     f"| {r['metric']} | {grid} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated models (e.g. mlp,cgan), toy, reference")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every run's length")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print the table only")
    a = p.parse_args(argv)
    if a.scale <= 0 or a.threads < 1:
        raise ValueError("--scale must be > 0 and --threads >= 1")
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    import torch

    torch.set_num_threads(a.threads)
    os.makedirs(GRIDS, exist_ok=True)
    rows = [] if only and "reference" not in only else [reference_row()]
    for label, model, grid_name, ov in IMAGE_RUNS:
        if not only or model in only:
            rows.append(run_image(label, model, grid_name, ov, a.threads, a.scale))
            print(f"{label}: {rows[-1]['metric']} in {rows[-1]['seconds']:.0f} s", flush=True)
    if not only or "toy" in only:
        rows += toy_rows(a.scale)
    md = to_markdown(rows)
    print(md)
    if not a.no_write:
        with open(RESULTS, "w") as f:
            f.write(md)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
