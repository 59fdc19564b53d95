"""1-D adversarial training: G learns N(4, 0.5^2) from N(0, 1) noise; D's curve approaches 1/2.

The ``toy`` family (MLPs, non-saturating loss) trained by the engine on 1-D points.  At a
few steps it records the generated density (histogram), the true density and D(x); it
prints the KS statistic of the generated samples against N(4, 0.5^2), their mean and std,
and E|D(x) - 1/2| over real and generated samples: D first separates the two (the gap
grows), then, as p_g approaches p_data, D* = p_data / (p_data + p_g) flattens towards 1/2.

    python examples/adversarial_1d.py [--steps 1500] [--out DIR]
"""
import numpy as np
import torch
from scipy import stats

from _common import parse_args, plt, save
from fastgan import theory
from fastgan.data import toy as toydata
from fastgan.train.toy import run_toy, toy_trainer

MEAN, STD = 4.0, 0.5


def evaluate(tr, grid):
    g = torch.Generator().manual_seed(1)
    x = tr.sample(tr.family.latent(5000, g)).numpy().ravel()
    D = tr.nets["D"]
    with torch.no_grad():
        d = torch.sigmoid(D(torch.tensor(grid, dtype=torch.float32)[:, None])).numpy().ravel()
        real = torch.from_numpy(tr.dataset.X[:5000].numpy())
        on = torch.cat([real, torch.from_numpy(x)[:, None]])       # (p_data + p_g) / 2
        gap = float((torch.sigmoid(D(on)) - 0.5).abs().mean())
    return {"ks": float(stats.kstest(x, "norm", args=(MEAN, STD)).statistic), "mean": float(x.mean()),
            "std": float(x.std()), "d_gap": gap, "samples": x, "d": d}


def main(argv=None):
    a = parse_args(__doc__.splitlines()[0], argv, steps=(int, 1500, "G steps"))
    steps = 60 if a.quick else a.steps
    data = toydata.gaussian_dataset(20000, MEAN, STD, seed=a.seed)
    tr = toy_trainer(data, seed=a.seed, z_dim=4, hidden=32, depth=2, batch=128, loss="ns")
    grid = np.linspace(0, 7, 351)
    hist = run_toy(tr, steps, max(1, steps // 10), lambda t: evaluate(t, grid))
    shown = hist[::2]
    for h in hist:
        print(f"step {h['step']:5d}: KS vs N({MEAN:g},{STD:g}^2) = {h['ks']:.3f} (mean {h['mean']:.2f}, "
              f"std {h['std']:.2f}); E|D(x) - 1/2| = {h['d_gap']:.3f}")
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(3.2 * (len(shown) + 1), 3.2))
    for ax, h in zip(axes, shown):
        ax.hist(h["samples"], bins=80, range=(grid[0], grid[-1]), density=True, alpha=0.5, label="p_g")
        ax.plot(grid, theory.normal_pdf(grid, MEAN, STD), "k", label="p_data")
        ax.plot(grid, h["d"], "r", label="D(x)")
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
        ax.set_ylim(0, 1.2)
        ax.set_title(f"step {h['step']}: KS {h['ks']:.2f}", fontsize=9)
    axes[0].legend(fontsize=7)
    s = [h["step"] for h in hist]
    axes[-1].plot(s, [h["ks"] for h in hist], "o-", label="KS")
    axes[-1].plot(s, [h["d_gap"] for h in hist], "s-", label="E|D - 1/2|")
    axes[-1].set_xlabel("step")
    axes[-1].legend(fontsize=7)
    save(fig, a.out, "adversarial_1d.png")
    return {"ks": hist[-1]["ks"], "d_gap": hist[-1]["d_gap"], "d_gap_max": max(h["d_gap"] for h in hist),
            "std": hist[-1]["std"]}


if __name__ == "__main__":
    main()
