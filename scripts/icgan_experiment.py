"""IC-GAN against the unconditional DCGAN at the same budget, and k-means against uniform instances.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/icgan_experiment.py --out runs/icgan

Every run trains the same backbone (DCGAN, 32 px, the same width, z_dim, batch, lr and kimg) on
the 4,500 training digits of MNIST-5k, as Radford et al. (``--recipe paper``, the default: Adam 2e-4,
batch-normalised D, no EMA).  ``--recipe cpu`` trains it as the dcgan ``cpu`` preset does (Adam 1e-3, an
EMA of G, D without BatchNorm plus the lazy WGAN-GP penalty on the NS loss); at this width, batch and
budget it is worse (dcgan 280.7 with 5 classes, IC-GAN k-means 168.5 and uniform 120.3, and IC-GAN
ignores z: variety ratio 0.20-0.23), as the dcgan preset's curve is slow in its first 60 kimg.  IC-GAN conditions G and D on the digits classifier's
features of a stored instance and draws each real image from that instance's k nearest
neighbours.  Metrics from 2,000 samples (IC-GAN: a stored instance drawn uniformly per sample,
as the paper samples it): FID with the digits features against the 500 held-out digits (resized to
32 px as the training digits are: the earlier tables scored against the 28 px originals, which adds
~50 for the resize alone), the
number of classes 0-9 with at least 5% of the samples and the share of the rarest class.
Variety around one instance (IC-GAN runs): for 20 held-out digits (2 per class, never trained on),
16 samples each; ``div`` is the mean pairwise distance of the samples' L2-normalised digits
features, averaged over the instances, beside the same for the instance's real neighbourhood
(its ``k`` nearest training digits by cosine similarity): ``div_ratio`` = generated / real (1:
as varied as the neighbourhood, 0: z ignored); ``follow`` is the share of samples the digits
classifier puts in the instance's class.  The unconditional run's ``div`` is over 320 of its
samples, against 320 random training digits.
Writes table.md, table.csv, a sample grid per run and ``neighbourhoods.png``: rows are held-out
digits (never seen in training, so this is instance swapping), the first column the instance
and the rest samples of the k-means IC-GAN around it; then checks the command line
``fastgan generate --ckpt RUN --instance IMAGE`` on one of them.

Ablations of the two fixes of the k-means run (``--runs`` names them): ``icgan-kmeans-raw-h``
conditions on the unit features without centring (``center_h=false``), ``icgan-kmeans-linear-proj``
starts D's projection at nn.Linear's default init (uniform, std 0.05 here) instead of N(0, 0.02),
``icgan-kmeans-before`` does both (the code before the fix).
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image

from fastgan.data import ArrayImages, save_grid
from fastgan.data.embedded import load_mnist_5k
from fastgan.metrics.fid import frechet_distance
from fastgan.models import load_generator
from fastgan.models.icgan import ICGAN, generate_around, instance_features
from fastgan.nn.digits import DigitsFeatures
from fastgan.train import Trainer

NET = {"resolution": 32, "width": 16, "z_dim": 64, "batch": 32}
RECIPES = {"cpu": {"lr_g": 1e-3, "lr_d": 1e-3, "norm": "none", "gp_lambda": 10.0, "reg_every": 4, "ema_kimg": 1.0,
                   "ema_rampup": 0.05},
           "paper": {}}
QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False,
         "run.overwrite": True, "run.snap_kimg": 0, "run.ckpt_kimg": 0}


def stats(feats):
    f = feats.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def score(imgs, net, real_stats):
    feats, logits = zip(*(net(x) for x in imgs.split(500)))
    pred = torch.cat(logits).argmax(1)
    share = np.array([(pred == c).float().mean().item() for c in range(10)])
    return {"fid": float(frechet_distance(*stats(torch.cat(feats)), *real_stats)),
            "classes": int((share >= 0.05).sum()), "rarest_class": float(share.min())}


class LinearInitProjection(ICGAN):
    """The ablation: D's projection at nn.Linear's default init (what IC-GAN had before the fix)."""

    def networks(self):
        nets = super().networks()
        nets["D"].project.reset_parameters()
        return nets


def mean_pdist(f):
    """Mean distance between distinct rows of f [N, F]."""
    n = len(f)
    return float(torch.cdist(f, f).sum() / (n * (n - 1)))


@torch.no_grad()
def variety(run, net, xt_feats, xh, yh, n_inst=2, n=16):
    """Per-instance variety of an IC-GAN run against its instances' real neighbourhoods (see the top)."""
    family, G = load_generator(run)
    pick = [int(np.flatnonzero(yh == c)[j]) for c in range(10) for j in range(n_inst)]
    inst = torch.from_numpy(xh[pick]).unsqueeze(1).float() / 127.5 - 1
    inst = torch.nn.functional.interpolate(inst, size=family.data.shape[1:], mode="bilinear", antialias=True)
    s = generate_around(family, G, inst, n=n, seed=1)
    fs, logits = net(s)
    fs = torch.nn.functional.normalize(fs, dim=1).reshape(len(pick), n, -1)
    follow = (logits.argmax(1).reshape(len(pick), n) == torch.from_numpy(yh[pick]).long()[:, None]).float().mean()
    hi = instance_features(inst, net)
    nb = (hi @ xt_feats.T).topk(family.recipe.k, dim=1).indices
    gen = np.mean([mean_pdist(fs[i]) for i in range(len(pick))])
    real = np.mean([mean_pdist(xt_feats[nb[i]]) for i in range(len(pick))])
    return {"div": gen, "div_real": real, "div_ratio": gen / real, "follow": float(follow)}


@torch.no_grad()
def samples(run, n=2000):
    family, G = load_generator(run)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, family.recipe.z_dim, generator=g)
    if family.name == "icgan":   # one stored instance per sample, uniformly
        idx = torch.randint(0, G.bank.shape[0], (n,), generator=g)
        return torch.cat([family.generate(G, zi, ii) for zi, ii in zip(z.split(500), idx.split(500))])
    return torch.cat([family.generate(G, zi) for zi in z.split(500)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/icgan")
    ap.add_argument("--kimg", type=float, default=60.0)
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="paper",
                    help="cpu: the dcgan cpu preset's training (NS + lazy GP, no BatchNorm in D, EMA); paper: Radford's")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--runs", default="dcgan,icgan-kmeans,icgan-uniform")
    ap.add_argument("--grid-only", action="store_true", help="only the neighbourhood grids of the runs in OUT")
    ap.add_argument("--keep", action="store_true", help="keep the rows of the other runs in OUT/table.csv")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    net = DigitsFeatures()
    xh, yh = load_mnist_5k("heldout")
    res = NET["resolution"]   # the real digits are scored at the runs' resolution, resized as their training data
    real_stats = stats(torch.cat([net(r)[0] for r in ArrayImages(xh, resolution=res).images.split(500)]))
    xt, _ = load_mnist_5k("train")
    xt_feats = instance_features(torch.from_numpy(xt).unsqueeze(1), net)
    blank = {"div": float("nan"), "div_real": float("nan"), "div_ratio": float("nan"), "follow": float("nan")}
    rows = [{"run": f"(real training digits, all 4,500, at {res} px)",
             **score(ArrayImages(xt, resolution=res).images, net, real_stats),
             "wall_s": 0.0, **blank}]
    print(rows[-1], flush=True)
    old = os.path.join(args.out, "table.csv")
    if (args.keep or args.grid_only) and os.path.exists(old):
        with open(old) as f:
            for r in csv.DictReader(f):
                if r["run"] not in args.runs.split(",") and not r["run"].startswith("("):
                    rows.append({k: (v if k == "run" else int(float(v)) if k == "classes" else float(v))
                                 for k, v in r.items()})
    runs = {"dcgan": ("dcgan", {}),
            "icgan-kmeans": ("icgan", {"selection": "kmeans"}),
            "icgan-uniform": ("icgan", {"selection": "uniform"}),
            "icgan-kmeans-raw-h": ("icgan", {"selection": "kmeans", "center_h": False}),
            "icgan-kmeans-linear-proj": (LinearInitProjection, {"selection": "kmeans"}),
            "icgan-kmeans-before": (LinearInitProjection, {"selection": "kmeans", "center_h": False})}
    for name in ([] if args.grid_only else args.runs.split(",")):
        model, extra = runs[name]
        ov = {**QUIET, **NET, **RECIPES[args.recipe], "kimg": args.kimg, "out": os.path.join(args.out, name), **extra}
        if model != "dcgan":
            ov.update({"k": args.k, "num_instances": args.instances, "embed_dim": 32})
        t = time.time()
        Trainer(model, "mnist", overrides=ov).fit()
        wall = time.time() - t
        imgs = samples(ov["out"])
        save_grid(imgs[:64], os.path.join(args.out, f"{name}.png"))
        if model != "dcgan":
            var = variety(ov["out"], net, xt_feats, xh, yh)
        else:   # the whole model's variety against random training digits, 320 of each
            f = torch.nn.functional.normalize(net(imgs[:320])[0], dim=1)
            ref = xt_feats[torch.randperm(len(xt_feats), generator=torch.Generator().manual_seed(0))[:320]]
            var = {**blank, "div": mean_pdist(f), "div_real": mean_pdist(ref)}
            var["div_ratio"] = var["div"] / var["div_real"]
        rows.append({"run": name, **score(imgs, net, real_stats), "wall_s": wall, **var})
        print(rows[-1], flush=True)
        with open(os.path.join(args.out, "table.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    with open(os.path.join(args.out, "table.md"), "w") if not args.grid_only else open(os.devnull, "w") as f:
        f.write("| run | FID (digits feats, vs 500 held-out) | classes >= 5% | rarest class share | "
                "variety around an instance (gen / real neighbourhood) | follows the instance's class | wall s |\n"
                "|---|---|---|---|---|---|---|\n")
        for r in rows:
            v = "-" if np.isnan(r["div"]) else f"{r['div']:.3f} / {r['div_real']:.3f} = {r['div_ratio']:.2f}"
            fo = "-" if np.isnan(r["follow"]) else f"{r['follow']:.2f}"
            f.write(f"| {r['run']} | {r['fid']:.1f} | {r['classes']} | {r['rarest_class']:.3f} | {v} | {fo} | "
                    f"{r['wall_s']:.0f} |\n")
        f.write("\nVariety: mean pairwise distance of L2-normalised digits features, 16 samples around each of 20 "
                "held-out digits against each one's k nearest training digits; for the unconditional dcgan row, "
                "320 of its samples against 320 random training digits.  One training seed, "
                f"{args.kimg:g} kimg, the {args.recipe} recipe, wall time "
                "on 1 CPU thread under load.\n")

    for name in ("icgan-kmeans", "icgan-uniform"):
        run = os.path.join(args.out, name)
        if not os.path.isdir(os.path.join(run, "checkpoints")):
            continue
        family, G = load_generator(run)
        pick = [int(np.flatnonzero(yh == c)[0]) for c in range(10)]   # one held-out digit per class
        inst = torch.from_numpy(xh[pick]).unsqueeze(1).float() / 127.5 - 1
        inst = torch.nn.functional.interpolate(inst, size=family.data.shape[1:], mode="bilinear", antialias=True)
        around = generate_around(family, G, inst, n=7, seed=0).reshape(10, 7, *inst.shape[1:])
        save_grid(torch.cat([inst.unsqueeze(1), around], 1).flatten(0, 1),
                  os.path.join(args.out, f"neighbourhoods-{name}.png"), nrow=8)
        img = os.path.join(args.out, "instance.png")
        Image.fromarray(xh[pick[7]]).save(img)
        cmd = [sys.executable, "-m", "fastgan.cli", "generate", "--ckpt", run, "--instance", img, "--n", "15",
               "--out", os.path.join(args.out, f"cli-around-{name}.png")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        print(" ".join(cmd[1:]), "->", res.returncode, (res.stdout + res.stderr).strip()[-300:], flush=True)


if __name__ == "__main__":
    main()
