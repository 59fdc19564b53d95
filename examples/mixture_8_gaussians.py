"""Mode collapse on the 2-D mixture of 8 Gaussians: minimax vs non-saturating vs WGAN-GP.

The ``toy`` family (MLPs, z ~ N(0, I_2)) on 8 Gaussians of std 0.05 on a circle of radius 2,
trained by the engine with each loss.  Every few steps it counts, on 2,000 samples, the
*modes covered* (a mode counts when >= 1% of the samples are high-quality samples of it)
and the *fraction of high-quality samples* (within 3 std of the nearest centre); a
collapsed run covers few modes while its samples may still be of high quality.
WGAN-GP uses the toy settings of Gulrajani et al.'s code (lambda = 0.1, n_critic = 5).

    python examples/mixture_8_gaussians.py [--steps 1200] [--out DIR]
"""
import torch

from _common import parse_args, plt, save
from fastgan.data import toy as toydata
from fastgan.metrics.mixture import mode_stats
from fastgan.train.toy import run_toy, toy_trainer

STD = 0.05
LOSSES = {   # name: (recipe overrides, G steps relative to --steps)
    "minimax": ({"loss": "minimax"}, 1.0),
    "non-saturating": ({"loss": "ns"}, 1.0),
    "wgan-gp": ({"loss": "wasserstein", "gp_lambda": 0.1, "n_critic": 5, "betas": [0.5, 0.9]}, 0.4),
}


def evaluate(tr, centers):
    x = tr.sample(tr.family.latent(2000, torch.Generator().manual_seed(1)))
    return {**mode_stats(x, centers, STD), "x": x.numpy()}


def main(argv=None):
    a = parse_args(__doc__.splitlines()[0], argv, steps=(int, 1200, "G steps of the minimax / ns runs"))
    steps = 50 if a.quick else a.steps
    data, centers = toydata.ring_dataset(20000, std=STD, seed=a.seed), toydata.ring_centers()
    runs = {}
    for name, (ov, frac) in LOSSES.items():
        n = max(10, int(steps * frac) // 10 * 10)
        tr = toy_trainer(data, seed=a.seed, hidden=64, batch=128, **ov)
        runs[name] = run_toy(tr, n, n // 6 if n >= 60 else n, lambda t: evaluate(t, centers))
        print(f"{name:15s} " + "  ".join(f"step {h['step']}: {h['modes']}/8 modes, hq {h['hq']:.2f}"
                                         for h in runs[name]))
    fig, axes = plt.subplots(len(runs), 2, figsize=(8, 3.6 * len(runs)), squeeze=False)
    for (name, hist), (ax_pts, ax_curve) in zip(runs.items(), axes):
        last = hist[-1]
        ax_pts.scatter(last["x"][:, 0], last["x"][:, 1], s=2, alpha=0.4)
        ax_pts.scatter(centers[:, 0], centers[:, 1], c="r", marker="x")
        ax_pts.set_xlim(-3, 3)
        ax_pts.set_ylim(-3, 3)
        ax_pts.set_aspect("equal")
        ax_pts.set_title(f"{name}, step {last['step']}: {last['modes']}/8 modes, hq {last['hq']:.2f}", fontsize=9)
        s = [h["step"] for h in hist]
        ax_curve.plot(s, [h["modes"] / 8 for h in hist], "o-", label="modes covered / 8")
        ax_curve.plot(s, [h["hq"] for h in hist], "s-", label="high-quality fraction")
        ax_curve.set_ylim(-0.05, 1.05)
        ax_curve.set_xlabel("G step")
        ax_curve.legend(fontsize=7)
    save(fig, a.out, "mixture_8_gaussians.png")
    return {name: {"modes": h[-1]["modes"], "hq": h[-1]["hq"], "steps": h[-1]["step"]} for name, h in runs.items()}


if __name__ == "__main__":
    main()
