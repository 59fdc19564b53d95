"""The GAN theory of the source documents, checked numerically on 1-D densities.

For p_data = N(0, 1) and several generators p_g, on a fine grid:

1. the discriminator that maximises V(G, D) = E_data log D + E_g log(1 - D), found point by
   point by brute force, equals D* = p_data / (p_data + p_g);
2. V(G, D*) (numeric integral) equals -log 4 + 2 JS(p_data || p_g), with JS computed
   independently by scipy's jensenshannon on the discretised densities; at p_g = p_data
   it is -log 4 and D* = 1/2;
3. for the tutorial's absolute-error formulation E(G, D) = 1/2 E_data[1 - D] + 1/2 E_g[D],
   the minimising D is the indicator 1[p_data >= p_g], and the minimum error is
   1/2 integral of min(p_data, p_g) (closed form for two Gaussians: ``theory.normal_overlap``).

    python examples/theory_checks.py [--out DIR]
"""
import math

import numpy as np
from scipy.spatial.distance import jensenshannon

from _common import parse_args, plt, save
from fastgan import theory

GENERATORS = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.5), (-3.0, 0.5)]   # (mean, std) of p_g


def check(mu, sd, x, levels=4001):
    p, q = theory.normal_pdf(x), theory.normal_pdf(x, mu, sd)
    d_num = theory.pointwise_best(p, q, "value", levels)           # brute force, no formula
    d_closed = p / (p + q)
    d_abs = theory.pointwise_best(p, q, "absolute", levels)
    mask = (p + q) > 1e-6                                       # where the densities are resolved
    return {"p_g": f"N({mu:g}, {sd:g}^2)",
            "max|D_num - D*|": float(np.abs(d_num - d_closed)[mask].max()),
            "V(G,D*)": theory.gan_value(d_closed, p, q, x),
            "-log4+2JS": -math.log(4) + 2 * jensenshannon(p, q) ** 2,   # scipy: JS distance, nats
            "E(D_abs) num.": theory.absolute_error(d_abs, p, q, x),
            "E* closed": 0.5 * theory.normal_overlap(0.0, 1.0, mu, sd),
            "D_abs = 1[p>=q]": bool(np.array_equal(d_abs[mask & (p != q)], (p > q)[mask & (p != q)])),
            "curves": (p, q, d_closed)}


def main(argv=None):
    a = parse_args(__doc__.splitlines()[0], argv)
    x = np.linspace(-10, 10, 1001 if a.quick else 4001)
    results = [check(mu, sd, x, 1001 if a.quick else 4001) for mu, sd in GENERATORS]
    keys = [k for k in results[0] if k != "curves"]
    print(" | ".join(f"{k:>16s}" for k in keys))
    for r in results:
        print(" | ".join(f"{r[k]:>16.6f}" if isinstance(r[k], float) else f"{str(r[k]):>16s}" for k in keys))
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), sharey=True)
    for ax, r in zip(axes, results):
        p, q, d = r["curves"]
        ax.plot(x, p, label="p_data")
        ax.plot(x, q, label="p_g")
        ax.plot(x, d, "k--", label="D* = p_data/(p_data+p_g)")
        ax.plot(x, (p >= q).astype(float), ":", color="grey", label="1[p_data >= p_g]")
        ax.set_xlim(-6, 6)
        ax.set_title(f"p_g = {r['p_g']}\nV = {r['V(G,D*)']:.4f}, -log4+2JS = {r['-log4+2JS']:.4f}", fontsize=9)
    axes[0].legend(fontsize=7)
    save(fig, a.out, "theory_checks.png")
    return results


if __name__ == "__main__":
    main()
