"""The classic families on embedded data with their ``cpu`` presets: kimg, wall time, FID, KID,
precision/recall, class coverage, label accuracy, sample grid and FID curve per family.

    python benchmarks/bench_families.py [--only dcgan,cgan-projection] [--scale 1.0] [--threads 1]

Each image family trains from scratch on the embedded MNIST-5k training split (4,500 digits)
with its ``cpu`` preset (what this 2-core machine trains in about 10 minutes, progan in 15; ``--scale``
multiplies the preset's kimg).  Every fifth of the run the FID (digits features, 2,000
samples of the EMA generator against the training images) is taken for the FID curve; at the
end also KID, precision/recall (k = 3), the digit classes the shipped classifier finds in at
least 2% of the samples and, for conditional families, how often it agrees with the label
asked for.  One family per process is fine: every run leaves its row in
``benchmarks/families/<name>.json``, and the table ``benchmarks/RESULTS_families.md`` is
rebuilt from all rows there (``--only table`` rebuilds it without training); the hand-written notes below
the table (from ``NOTES_MARK`` on) are kept.  Wall time is
training only (evaluations excluded).  A row whose samples cover fewer than 5 digit classes is
marked as collapsed.  The reference row is the FID of the 500 held-out real digits.
"""
from __future__ import annotations

import argparse
import json
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

# row name (also the grid/curve/json file name), label, model, preset, extra overrides
IMAGE_RUNS = [
    ("dcgan28", "dcgan28 (the main job's model)", "dcgan28", "cpu", {}),
    ("mlp", "mlp", "mlp", "cpu", {}),
    ("dcgan-mnist", "dcgan-mnist (Keras source)", "dcgan-mnist", "cpu", {}),
    ("dcgan32", "dcgan (32 px)", "dcgan", "cpu", {}),
    ("cgan-concat", "cgan (concat)", "cgan", "cpu", {}),
    ("cgan-projection", "cgan (projection)", "cgan", "cpu-projection", {}),
    ("wgan", "wgan (clipping, 32 px)", "wgan", "cpu", {}),
    ("wgan-gp", "wgan-gp (32 px)", "wgan-gp", "cpu", {}),
    ("gmmn", "gmmn", "gmmn", "cpu", {}),
    ("gmmn-ae", "gmmn+ae (codes of an auto-encoder)", "gmmn", "cpu-ae", {}),
    ("progan", "progan (to 32 px)", "progan", "cpu", {}),
    ("stylegan2-cpu", "stylegan2 (mnist32, half width)", "stylegan2", "cpu", {}),   # not stylegan2-mnist32.png:
    # the README's full-width mnist32 demo
]
FID_SAMPLES = 2000
# rows that also get best-of-N sampling (the source's selection): row name -> N; the kept FID_SAMPLES are the
# FID_SAMPLES of N * FID_SAMPLES candidates that the trained D scores highest (fastgan generate --best-of N)
BEST_OF = {"dcgan-mnist": 16}
CURVE_POINTS = 5
COLLAPSED_BELOW = 5   # classes
QUIET = {"run.progress": False, "run.tensorboard": False, "snap_kimg": 0.0, "ckpt_kimg": 0.0, "overwrite": True}


_REAL_STATS: dict = {}


def real_stats(digits=(), resolution=None):
    """FID statistics (digits features) of the training images, optionally of some classes only, resized to
    ``resolution`` the way the training data of a family at that resolution is (None: the 28 px originals)."""
    from fastgan import metrics
    from fastgan.data import ArrayImages, load_mnist_5k

    key = (tuple(digits), None if resolution in (None, 28) else int(resolution))
    if key not in _REAL_STATS:
        x, y = load_mnist_5k("train")
        keep = [i for i, c in enumerate(y) if not key[0] or c in key[0]]
        _REAL_STATS[key] = metrics.compute_stats(ArrayImages(x[keep], y[keep], resolution=key[1]), features="digits")
    return _REAL_STATS[key]


_EVAL_S = [0.0]
_EVAL_CPU = [0.0]      # process CPU seconds of the evaluations (1 thread: CPU time ~ wall time of an idle machine)


def _train_subset(n, seed=0, resolution=None):
    """``n`` training images in a random order (the data file is not shuffled: its first n are not a sample),
    resized to ``resolution`` as a family's training data (None: 28 px)."""
    import torch

    from fastgan.data import ArrayImages, load_mnist_5k

    x, y = load_mnist_5k("train")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n].numpy()
    return ArrayImages(x[idx], y[idx], resolution=None if resolution in (None, 28) else int(resolution))


def _resolution(trainer):
    """The side of the family's images (the training digits are resized to it; 28: the originals)."""
    return int(trainer.family.data.shape[-1])


def sample_metrics(trainer, n=FID_SAMPLES):
    """FID (vs all 4,500 training images, at the family's resolution) and classes covered at every evaluation;
    at the end also KID and precision/recall (vs n training images drawn at random, same resolution), the label
    accuracy and, for a family that is not at 28 px, the FID against the 28 px originals (``fid_28px``: the
    resizing alone costs real digits about 50 there)."""
    import torch

    from fastgan import metrics

    t0, c0 = time.time(), time.process_time()
    fam, g = trainer.family, torch.Generator().manual_seed(2024)
    images = ema_samples(trainer, n, g)
    r = _resolution(trainer)
    scores = _score(images, r, n, kid_pr=trainer.finished)
    out = {"fid_digits": scores.pop("fid"), "classes": scores.pop("classes")}
    if trainer.finished:
        out["kid"] = scores["kid"]
        if r != 28:
            out["fid_28px"] = float(metrics.compute_metrics(real_stats(), _reader(images), ["fid"],
                                                            features="digits", n=n)["fid"])
        out["precision"], out["recall"] = scores["precision"], scores["recall"]
        if fam.conditional:   # does the label control the class? the digits classifier's agreement
            net = metrics.get_extractor("digits")
            lab = torch.arange(1000) % fam.data.num_classes
            with torch.no_grad():
                _, logits = net(trainer.sample(fam.latent(1000, g), lab))
            out["label_acc"] = float((logits.argmax(1) == lab).float().mean())
    _EVAL_S[0] += time.time() - t0
    _EVAL_CPU[0] += time.process_time() - c0
    return out


def ema_samples(trainer, n, g):
    """``n`` samples of the EMA generator from the latents of ``g``, 500 at a time; a conditional family's labels
    cycle through its classes."""
    import torch

    fam = trainer.family
    labels = (torch.arange(n) % fam.data.num_classes) if fam.conditional else None
    return torch.cat([trainer.sample(fam.latent(min(500, n - i), g), None if labels is None else labels[i:i + 500])
                      for i in range(0, n, 500)])


def best_of_metrics(trainer, n_best, n=FID_SAMPLES):
    """FID, KID, P/R and classes of the n samples that D ranks highest of n_best * n candidates (seeds 0..)."""
    from fastgan.family.sampling import best_of

    with trainer._eval_sampler() as G:
        images, _, _ = best_of((trainer.family, G), trainer.nets["D"], range(n_best * n), n)
    return images, _score(images, _resolution(trainer), n, kid_pr=True)


def _reader(images):
    """``compute_metrics``'s ``fake`` callable over ``images``: the next ``b`` of them, in order, per call."""
    pos = [0]

    def fake(b):
        out = images[pos[0]:pos[0] + b]
        pos[0] += b
        return out
    return fake


def fid_and_classes(images, r, n):
    """(FID vs all training images at resolution r, digit classes in >= 2% of the n samples, the classifier's
    histogram of the samples' classes)."""
    from fastgan import metrics

    res = metrics.compute_metrics(real_stats(resolution=r), _reader(images), ["fid", "modes"], features="digits", n=n)
    hist = [int(h) for h in res["modes"].values["histogram"]]
    return float(res["fid"]), sum(h >= 0.02 * n for h in hist), hist


def _score(images, r, n, kid_pr):
    """FID (vs all training images at resolution r) and classes covered (>= 2% of the n samples); with ``kid_pr``
    also KID and precision/recall against n training images drawn at random, same resolution."""
    from fastgan import metrics

    fid, classes, _ = fid_and_classes(images, r, n)
    out = {"fid": fid, "classes": float(classes)}
    if kid_pr:
        more = metrics.compute_metrics(_train_subset(n, resolution=r), _reader(images), ["kid", "pr"],
                                       features="digits", n=n)
        out.update(kid=float(more["kid"]), precision=float(more["pr"]), recall=float(more["pr"].values["recall"]))
    return out


def _plot_curve(points, path, title):
    import matplotlib  # heavy: only when writing the plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the Agg backend

    fig, ax = plt.subplots(figsize=(3.6, 2.6), dpi=100)
    xs, ys = zip(*points)
    ax.plot(xs, ys, marker="o", linewidth=1.2)
    ax.set_xlabel("kimg")
    ax.set_ylabel("FID (digits)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_image(name, label, model, preset, overrides, threads, scale):
    from fastgan import models
    from fastgan.train import Trainer
    from fastgan.train.monitor import read_scalars

    kimg = float(models.get(model).preset(preset).get("kimg", models.get(model).Recipe().kimg)) * scale
    ov = dict(overrides, kimg=kimg)
    _EVAL_S[0] = _EVAL_CPU[0] = 0.0
    with tempfile.TemporaryDirectory(prefix="fastgan-bench-") as out:
        tr = Trainer(model, "mnist", preset=preset, metric_fn=sample_metrics,
                     overrides={**QUIET, "run.threads": threads, "out": out, "fid_kimg": kimg / CURVE_POINTS, **ov})
        t0, c0 = time.time(), time.process_time()
        s = tr.fit()
        if s["status"] != "done":   # stopped (SIGTERM, Ctrl-C): a partial run is no row, and nothing is written
            raise RuntimeError(f"{name}: training {s['status']} at {s['kimg']:g} of {kimg:g} kimg; no row written")
        wall = time.time() - t0 - _EVAL_S[0]     # training only
        cpu = time.process_time() - c0 - _EVAL_CPU[0]
        grid = os.path.join(GRIDS, name + ".png")
        shutil.copyfile(s["grid"], grid)
        series = read_scalars(os.path.join(out, "scalars.csv"))
        curve = [(round(k, 2), v) for k, v in series.get("metrics/fid_digits", [])]
        warned = os.path.exists(os.path.join(out, "warnings.log"))
    curve_png = os.path.join(GRIDS, name + "-fid.png")
    _plot_curve(curve, curve_png, f"{label}, preset {preset}")
    m = s["metrics"]
    row = {"name": name, "family": label, "model": model, "preset": preset, "steps": s["step"],
           "kimg": s["kimg"], "seconds": wall, "cpu_seconds": cpu, "threads": threads, "fid": m.get("fid_digits"),
           "kid": m.get("kid"), "precision": m.get("precision"), "recall": m.get("recall"),
           "classes": m.get("classes"), "label_acc": m.get("label_acc"), "curve": curve,
           "resolution": int(tr.family.data.shape[-1]), "fid_28px": m.get("fid_28px"),
           "collapse_warning": warned, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "grid": os.path.relpath(grid, HERE), "curve_png": os.path.relpath(curve_png, HERE)}
    with open(os.path.join(GRIDS, name + ".json"), "w") as f:
        json.dump(row, f, indent=1)
    if name in BEST_OF:
        from fastgan.data import save_grid

        k = BEST_OF[name]
        images, m = best_of_metrics(tr, k)
        best_grid = os.path.join(GRIDS, f"{name}-best{k}.png")
        save_grid(images[:64], best_grid)            # the 64 best, best first
        best = dict(row, name=f"{name}-best{k}", family=f"{label}, best {FID_SAMPLES:,} of {k} x {FID_SAMPLES:,} by D",
                    curve=[], grid=os.path.relpath(best_grid, HERE), **m)
        with open(os.path.join(GRIDS, best["name"] + ".json"), "w") as f:
            json.dump(best, f, indent=1)
        print(f"{best['family']}: FID {best['fid']}, classes {best['classes']}", flush=True)
    return row


def reference_row():
    from fastgan import metrics
    from fastgan.data import make_dataset

    t0 = time.time()
    fid = metrics.compute_fid(make_dataset("mnist", split="heldout"), real_stats(), features="digits")
    row = {"name": "reference", "family": "(real held-out digits, n = 500)", "steps": 0, "kimg": 0.0,
           "seconds": time.time() - t0, "fid": float(fid)}
    with open(os.path.join(GRIDS, "reference.json"), "w") as f:
        json.dump(row, f, indent=1)
    # the 32 px families' yardstick: held-out digits resized to 32 px as their training data, against the
    # training digits resized the same way, and (fid_28px) against the 28 px originals
    held32 = make_dataset("mnist", split="heldout", resolution=32)
    row32 = {"name": "reference-32", "family": "(real held-out digits at 32 px, n = 500)", "steps": 0, "kimg": 0.0,
             "seconds": 0.0, "resolution": 32,
             "fid": float(metrics.compute_fid(held32, real_stats(resolution=32), features="digits")),
             "fid_28px": float(metrics.compute_fid(held32, real_stats(), features="digits"))}
    with open(os.path.join(GRIDS, "reference-32.json"), "w") as f:
        json.dump(row32, f, indent=1)
    return row


def _fmt(v, spec, none=""):
    return none if v is None else format(v, spec)


def to_markdown() -> str:
    from harness import machine_line

    rows = {}
    for fn in sorted(os.listdir(GRIDS)):
        if fn.endswith(".json"):
            with open(os.path.join(GRIDS, fn)) as f:
                r = json.load(f)
            rows[r["name"]] = r
    lines = ["## The GAN families with their `cpu` presets (issue 23)", "",
             f"Written by `benchmarks/bench_families.py` ({machine_line()}), one training at a time on a "
             "2-core machine under load from other jobs (wall times are loose: training only, evaluations "
             "excluded; CPU: the process's CPU time of training, on one thread about the wall time of an idle core). "
             "A family at 32 px is scored against the training digits resized to 32 px the way its training data "
             "is (resizing alone puts real digits at FID ~50 against the 28 px originals: the reference rows; "
             "each row's JSON also holds `fid_28px`, its FID against the 28 px originals).  Each family trains from scratch with its `cpu` preset "
             "(`fastgan train --model M --preset cpu`). FID and KID (raw unbiased MMD², cubic kernel): digits features, 2,000 samples of the "
             "EMA generator vs the 4,500 training images (KID and P/R: vs 2,000 of them drawn at random); P/R: precision/recall (k = 3) on the same features; "
             "classes: digit classes the shipped classifier assigns to >= 2% of the samples; label acc.: how "
             f"often it agrees with a conditional model's label (1,000 samples). Fewer than {COLLAPSED_BELOW} "
             "classes is marked **collapsed**. The FID curve has five points per run.", "",
             "| family | preset | kimg | wall | FID | KID | P / R | classes | label acc. | samples | FID curve |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---|---|"]
    for ref in ("reference", "reference-32"):
        if ref in rows:
            r = rows[ref]
            lines.append(f"| {r['family']} | | | | {r['fid']:.1f} | | | | | | |")
    order = [m for n, *_ in IMAGE_RUNS for m in (n, f"{n}-best{BEST_OF.get(n)}")]
    order += sorted(set(rows) - set(order) - {"reference", "reference-32"})
    for n in order:
        if n not in rows:
            continue
        r = rows[n]
        classes = r.get("classes")
        mark = " **collapsed**" if classes is not None and classes < COLLAPSED_BELOW else ""
        pr = "" if r.get("precision") is None else f"{r['precision']:.2f} / {r['recall']:.2f}"
        acc = "" if r.get("label_acc") is None else f"{100 * r['label_acc']:.1f}%"
        cpu = "" if r.get("cpu_seconds") is None else f" (CPU {r['cpu_seconds']:.0f} s)"
        lines.append(f"| {r['family']}{mark} | {r['preset']} | {r['kimg']:.1f} | {r['seconds']:.0f} s{cpu} "
                     f"| {_fmt(r.get('fid'), '.1f', 'n/a')} | {_fmt(r.get('kid'), '.1f')} | {pr} "
                     f"| {_fmt(classes, '.0f')} | {acc} | [{os.path.basename(r['grid'])}]({r['grid']}) "
                     f"| [{os.path.basename(r['curve_png'])}]({r['curve_png']}) |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated row names (e.g. dcgan32,cgan-projection), "
                   "reference, or table (rebuild the table only)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every run's length")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true",
                   help="print the table, do not rewrite RESULTS_families.md "
                        "(each row's JSON and PNGs in families/ are still written)")
    a = p.parse_args(argv)
    if a.scale <= 0 or a.threads < 1:
        raise ValueError("--scale must be > 0 and --threads >= 1")
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    names = {n for n, *_ in IMAGE_RUNS}
    unknown = only - names - {"reference", "table"}
    if unknown:
        raise ValueError(f"--only: unknown rows {sorted(unknown)}; known: {', '.join(sorted(names))}, reference, table")
    import torch

    torch.set_num_threads(a.threads)
    os.makedirs(GRIDS, exist_ok=True)
    if not only or "reference" in only:
        reference_row()
    for name, label, model, preset, ov in IMAGE_RUNS:
        if not only or name in only:
            r = run_image(name, label, model, preset, ov, a.threads, a.scale)
            print(f"{label}: FID {r['fid']}, classes {r['classes']}, label acc {r['label_acc']}, "
                  f"{r['kimg']:.1f} kimg in {r['seconds']:.0f} s (CPU {r['cpu_seconds']:.0f} s)", flush=True)
    md = to_markdown()
    print(md)
    if not a.no_write:
        md += kept_notes()
        with open(RESULTS, "w") as f:
            f.write(md)
        print(f"wrote {RESULTS}")


NOTES_MARK = "<!-- notes: written by hand, kept when the table is rebuilt -->"


def kept_notes() -> str:
    """The hand-written notes of RESULTS_families.md (from NOTES_MARK to the end), to append to a rebuilt table."""
    try:
        with open(RESULTS) as f:
            old = f.read()
    except FileNotFoundError:
        return ""
    i = old.find(NOTES_MARK)
    return "" if i < 0 else "\n" + old[i:]


if __name__ == "__main__":
    main()
