"""The few-shot table: a DCGAN source on MNIST-5k digits 0-4, fine-tuned on 100 images of 5-9.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/smalldata_experiment.py --out runs/smalldata

Every method starts from the same source checkpoint (DCGAN 32 px, width 16, 120 kimg on the
2,250 training digits 0-4) and trains the same kimg (60) on the 100 target images (20 per
class from the train split); "scratch" is the same run from a random initialisation.  The row
"copies of the 100 target images" scores a generator that reproduces the 100 images exactly
(2,000 draws with replacement).  Metrics per method, from 2,000 samples:
FID with the digits features against all 2,500 MNIST-5k images of digits 5-9 (train + held-out),
the share of samples the digits classifier puts in 5-9, and the number of classes 5-9 that
get at least 5% of the samples.  Writes table.md, table.csv and one grid per method; ``--keep``
re-runs ``--methods`` and keeps the other rows of OUT/table.csv.  ``--seed S`` trains the methods
with training seed S (initialisation of scratch, data order, latents, noise) from the same source
(the source is always trained with seed 0), to see how much a method's FID moves between seeds:

    python scripts/smalldata_experiment.py --out runs/smalldata-seed1 --seed 1 \
        --methods scratch,full,freezed-2,freezed-2+ada
"""
from __future__ import annotations

import argparse
import csv
import os
import time

import numpy as np
import torch

from fastgan.data import save_grid
from fastgan.data.embedded import load_mnist_5k
from fastgan.metrics.fid import frechet_distance
from fastgan.models import load_generator
from fastgan.nn.digits import DigitsFeatures
from fastgan.train import Trainer

NET = {"resolution": 32, "width": 16, "z_dim": 64, "batch": 32}
QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False,
         "run.overwrite": True, "run.snap_kimg": 0, "run.ckpt_kimg": 0}
METHODS = {
    "scratch": {"init": ""},
    "full": {"finetune": "full"},
    "freezed-2": {"finetune": "freezed", "freeze_d": 2},
    "scale-shift": {"finetune": "scale-shift"},
    "l2sp": {"finetune": "l2sp"},
    "distill": {"finetune": "distill"},
    "minegan": {"finetune": "minegan"},
    "full+diffaug": {"finetune": "full", "augment": "diffaug"},
    "freezed-2+diffaug": {"finetune": "freezed", "freeze_d": 2, "augment": "diffaug"},
    # DiffAugment without its cutout (the stylegan2 cpu preset's policy)
    "full+diffaug-ct": {"finetune": "full", "augment": "diffaug", "diffaug_policy": "color,translation"},
    "freezed-2+diffaug-ct": {"finetune": "freezed", "freeze_d": 2, "augment": "diffaug",
                             "diffaug_policy": "color,translation"},
    "freezed-2+ada": {"finetune": "freezed", "freeze_d": 2, "augment": "ada", "ada_kimg": 5.0},
}


def stats(feats):
    f = feats.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


@torch.no_grad()
def evaluate(run, net, real_stats, n=2000):
    family, G = load_generator(run)
    z = torch.randn(n, family.recipe.z_dim, generator=torch.Generator().manual_seed(0))
    imgs = torch.cat([family.generate(G, zi) for zi in z.split(500)])
    feats, logits = zip(*(net(x) for x in imgs.split(500)))
    mu, sig = stats(torch.cat(feats))
    pred = torch.cat(logits).argmax(1)
    share = [(pred == c).float().mean().item() for c in range(10)]
    return {"fid": float(frechet_distance(mu, sig, *real_stats)), "in_5_9": sum(share[5:]),
            "classes_5_9": sum(s >= 0.05 for s in share[5:])}, imgs[:64]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/smalldata")
    ap.add_argument("--source-kimg", type=float, default=120.0)
    ap.add_argument("--kimg", type=float, default=60.0)
    ap.add_argument("--width", type=int, default=NET["width"])
    ap.add_argument("--lr", type=float, default=2e-4, help="Adam lr of G and D while fine-tuning")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--keep", action="store_true", help="keep the rows of the other methods in OUT/table.csv")
    ap.add_argument("--seed", type=int, default=0, help="training seed of the methods (the source: always 0)")
    args = ap.parse_args()
    bad = [m for m in args.methods.split(",") if m not in METHODS]
    if bad:
        ap.error(f"--methods: unknown {', '.join(bad)}; valid: {', '.join(METHODS)}")
    NET["width"] = args.width
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    x, y = load_mnist_5k("train")
    pick = np.concatenate([np.flatnonzero(y == c)[:20] for c in range(5, 10)])
    target = os.path.join(args.out, "target100.npz")
    np.savez(target, images=x[pick], labels=y[pick])
    xa, ya = load_mnist_5k("all")
    net = DigitsFeatures()
    real = torch.from_numpy(xa[ya >= 5]).unsqueeze(1)
    real_stats = stats(torch.cat([net(r)[0] for r in real.split(500)]))

    # reference: a perfect memoriser of the 100 target images (2,000 draws with replacement)
    t_idx = torch.randint(0, len(pick), (2000,), generator=torch.Generator().manual_seed(0))
    t_feats, t_logits = net(torch.from_numpy(x[pick]).unsqueeze(1)[t_idx])
    share = [(t_logits.argmax(1) == c).float().mean().item() for c in range(10)]
    memo = {"method": "(copies of the 100 target images)", "fid": float(frechet_distance(*stats(t_feats), *real_stats)),
            "in_5_9": sum(share[5:]), "classes_5_9": sum(s >= 0.05 for s in share[5:]), "wall_s": 0.0}
    print(memo, flush=True)

    src = os.path.join(args.out, "source")
    src_wall = 0.0
    if not os.path.exists(os.path.join(src, "checkpoints")):
        t = time.time()
        Trainer("dcgan", "mnist", overrides={**QUIET, **NET, "out": src, "kimg": args.source_kimg,
                                             "digits": [0, 1, 2, 3, 4]}).fit()
        src_wall = time.time() - t
        print(f"source: {src_wall:.0f} s", flush=True)
    m, grid = evaluate(src, net, real_stats)
    save_grid(grid, os.path.join(args.out, "source.png"))
    rows = {memo["method"]: memo, "source": {"method": "source", **m, "wall_s": src_wall}}
    old = os.path.join(args.out, "table.csv")
    if args.keep and os.path.exists(old):
        with open(old) as f:
            for r in csv.DictReader(f):
                if r["method"] in METHODS or r["method"] == "source":
                    rows.setdefault(r["method"], {k: (v if k == "method" else float(v)) for k, v in r.items()})
    print(rows["source"], flush=True)
    for name in args.methods.split(","):
        ov = {**QUIET, **NET, "init": src, "lr_g": args.lr, "lr_d": args.lr, "kimg": args.kimg,
              "mine_kimg": args.kimg / 2, **METHODS[name], "out": os.path.join(args.out, name), "run.seed": args.seed}
        t = time.time()
        Trainer("dcgan", target, overrides=ov).fit()
        wall = time.time() - t
        m, grid = evaluate(ov["out"], net, real_stats)
        save_grid(grid, os.path.join(args.out, f"{name}.png"))
        rows[name] = {"method": name, **m, "wall_s": wall}
        print(rows[name], flush=True)
        write_tables(args, rows)
    write_tables(args, rows)


def write_tables(args, rows):
    order = [k for k in rows if k not in METHODS] + [k for k in METHODS if k in rows]
    with open(os.path.join(args.out, "table.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["method", "fid", "in_5_9", "classes_5_9", "wall_s"])
        w.writeheader()
        w.writerows(rows[k] for k in order)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(f"DCGAN 32 px, width {NET['width']}, batch {NET['batch']}; source: digits 0-4 of MNIST-5k train, "
                f"{args.source_kimg:g} kimg; every method: {args.kimg:g} kimg on the 100 target images "
                f"(20 each of 5-9), Adam lr {args.lr:g}, training seed {args.seed}.  FID: 2,000 samples, "
                f"digits features, against all "
                f"MNIST-5k digits 5-9.  Wall time on 1 CPU thread, under load.\n\n"
                "| method | FID | share in 5-9 | classes 5-9 >= 5% | wall s |\n|---|---|---|---|---|\n")
        for k in order:
            r = rows[k]
            f.write(f"| {r['method']} | {r['fid']:.1f} | {r['in_5_9']:.2f} | {int(r['classes_5_9'])} | "
                    f"{r['wall_s']:.0f} |\n")


if __name__ == "__main__":
    main()
