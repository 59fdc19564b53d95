"""Inverse-transform sampling: uniform noise -> N(0, 1) through the inverse CDF (the tutorial's
first generative model, Y = CDF^-1(U)).

Draws U ~ U(0, 1), maps it with the Gaussian quantile function, plots the histogram against
the density and prints the Kolmogorov-Smirnov statistic against N(0, 1) (scipy): it shrinks
like 1/sqrt(n), and the same uniform samples left untransformed are rejected.

    python examples/inverse_transform.py [--n 100000] [--out DIR]
"""
import numpy as np
from scipy import stats

from _common import parse_args, plt, save


def main(argv=None):
    a = parse_args(__doc__.splitlines()[0], argv, n=(int, 100_000, "number of samples"))
    rng = np.random.default_rng(a.seed)
    u = rng.random(a.n)
    y = stats.norm.ppf(u)                        # the transform: Y = F^-1(U)
    rows = []
    for n in (100, 1_000, 10_000, a.n):
        ks = stats.kstest(y[:n], "norm")
        rows.append((n, ks.statistic, ks.pvalue))
        print(f"n = {n:7d}: KS statistic vs N(0,1) = {ks.statistic:.4f} (p = {ks.pvalue:.3f}); "
              f"1.36/sqrt(n) = {1.36 / np.sqrt(n):.4f}")
    raw = stats.kstest(u[:1000], "norm")
    print(f"untransformed uniform samples (n = 1000): KS = {raw.statistic:.4f} (p = {raw.pvalue:.1e})")

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    t = np.linspace(-4, 4, 400)
    ax[0].hist(y, bins=100, density=True, alpha=0.6, label=f"F^-1(U), n = {a.n}")
    ax[0].plot(t, stats.norm.pdf(t), "k", label="N(0, 1) density")
    ax[0].set_title(f"inverse transform: KS = {rows[-1][1]:.4f}")
    ax[0].legend()
    q = np.linspace(0.001, 0.999, 400)
    ax[1].plot(q, stats.norm.ppf(q))
    ax[1].set_xlabel("u")
    ax[1].set_ylabel("F^-1(u)")
    ax[1].set_title("the transform")
    save(fig, a.out, "inverse_transform.png")
    return {"ks": rows[-1][1], "ks_uniform": raw.statistic}


if __name__ == "__main__":
    main()
