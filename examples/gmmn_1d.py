"""Generative matching in 1-D: matching mean and variance is not matching the distribution.

The tutorial's "generative matching network" is trained directly on a distance between a
generated and a real batch, no discriminator.  Here the ``gmmn`` family (an MLP from 1-D
uniform noise) learns a bimodal target, 1/2 N(-2, 0.5^2) + 1/2 N(2, 0.5^2), in two ways:

* ``criterion = "moments"``: (mean difference)^2 + (std difference)^2 only; the tutorial's
  demo. It gets mean 0 and std ~2.06 right but not the two modes;
* ``criterion = "mmd"``: sqrt(MMD^2) with a mixture of Gaussian kernels (Li et al. 2015),
  which matches all moments, so the modes appear.

Prints mean, std and the KS statistic against the target for both.

    python examples/gmmn_1d.py [--steps 800] [--out DIR]
"""
import numpy as np
import torch
from scipy import stats

from _common import parse_args, plt, save
from fastgan.data import TableDataset
from fastgan.train.toy import run_toy, toy_trainer

MODES, SD = (-2.0, 2.0), 0.5


def target_cdf(x):
    return 0.5 * (stats.norm.cdf(x, MODES[0], SD) + stats.norm.cdf(x, MODES[1], SD))


def evaluate(tr):
    x = tr.sample(tr.family.latent(5000, torch.Generator().manual_seed(1))).numpy().ravel()
    return {"mean": float(x.mean()), "std": float(x.std()), "ks": float(stats.kstest(x, target_cdf).statistic),
            "x": x}


def main(argv=None):
    a = parse_args(__doc__.splitlines()[0], argv, steps=(int, 800, "G steps per criterion"))
    steps = 40 if a.quick else a.steps
    rng = np.random.default_rng(a.seed)
    pts = rng.choice(MODES, 20000) + SD * rng.standard_normal(20000)
    data = TableDataset(pts[:, None], name="two-modes")
    print(f"target: mean {pts.mean():.3f}, std {pts.std():.3f}")
    res = {}
    for crit in ("moments", "mmd"):
        tr = toy_trainer(data, seed=a.seed, model="gmmn", criterion=crit, z_dim=1, hidden=[64, 64],
                             batch=256, bandwidths=[0.25, 0.5, 1.0, 2.0, 4.0])
        res[crit] = run_toy(tr, steps, steps, evaluate)[-1]
        r = res[crit]
        print(f"{crit:8s}: mean {r['mean']:.3f}, std {r['std']:.3f}, KS vs target {r['ks']:.3f}")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    t = np.linspace(-5, 5, 400)
    ax.plot(t, 0.5 * (stats.norm.pdf(t, MODES[0], SD) + stats.norm.pdf(t, MODES[1], SD)), "k", label="target")
    for crit, r in res.items():
        ax.hist(r["x"], bins=100, range=(-5, 5), density=True, alpha=0.45,
                label=f"{crit}: mean {r['mean']:.2f}, std {r['std']:.2f}, KS {r['ks']:.2f}")
    ax.legend(fontsize=7)
    ax.set_title("moment matching vs MMD (1-D)")
    save(fig, a.out, "gmmn_1d.png")
    return {k: {kk: v for kk, v in r.items() if kk != "x"} for k, r in res.items()}


if __name__ == "__main__":
    main()
