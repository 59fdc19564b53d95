"""The GAN theory of the source documents, numerically: fastgan.theory's integrals and brute-force
optima against closed forms and scipy; the toy metrics on samples with a known answer; the demos."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import jensenshannon

from fastgan import theory
from fastgan.data import toy as toydata
from fastgan.metrics.mixture import mode_stats
from fastgan.train.toy import run_toy, toy_trainer

X = np.linspace(-20, 20, 8001)           # wide enough that every density has all its mass
CASES = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.5), (-3.0, 0.5), (0.5, 3.0)]   # p_g = N(mu, sd^2); p_data = N(0, 1)


def dens(mu, sd):
    return stats.norm.pdf(X), stats.norm.pdf(X, mu, sd)


@pytest.mark.parametrize("mu, sd", CASES)
def test_optimal_discriminator_is_p_data_over_sum(mu, sd):
    p, q = dens(mu, sd)
    levels = 2001
    d = theory.pointwise_best(p, q, "value", levels)
    resolved = (p + q) > 1e-8
    # the objective is concave in D, so the best of a grid of step h is a neighbour of the true
    # maximiser: within one step of the closed form
    assert np.abs(d - p / (p + q))[resolved].max() <= 1.0 / (levels - 1) + 1e-12


@pytest.mark.parametrize("mu, sd", CASES)
def test_value_at_the_optimum_is_minus_log4_plus_2js(mu, sd):
    p, q = dens(mu, sd)
    v = theory.gan_value(p / (p + q), p, q, X)
    js = jensenshannon(p, q) ** 2        # scipy's JS distance (nats) on the discretised densities
    assert v == pytest.approx(-math.log(4) + 2 * js, abs=1e-6)
    assert theory.js_divergence(p, q, X) == pytest.approx(js, abs=1e-6)
    # and no other D does better: D* is the maximiser
    assert theory.gan_value(np.clip(p / (p + q) + 0.05 * np.sin(X), 0, 1), p, q, X) < v


def test_equal_distributions_give_minus_log4_and_one_half():
    p = stats.norm.pdf(X)
    assert theory.gan_value(0.5, p, p, X) == pytest.approx(-math.log(4), abs=1e-9)
    d = theory.pointwise_best(p, p, "value", 1001)
    assert np.allclose(d[p > 1e-8], 0.5)
    assert theory.js_divergence(p, p, X) == pytest.approx(0.0, abs=1e-12)


def test_js_of_disjoint_supports_is_log2():
    x = np.linspace(0, 4, 4001)
    p, q = (x < 1).astype(float), ((x > 2) & (x < 3)).astype(float)
    assert theory.js_divergence(p, q, x) == pytest.approx(math.log(2), rel=2e-3)


@pytest.mark.parametrize("mu, sd", CASES)
def test_absolute_error_optimum_is_the_indicator(mu, sd):
    p, q = dens(mu, sd)
    d = theory.pointwise_best(p, q, "absolute", 101)
    clear = np.abs(p - q) > 1e-12
    assert np.array_equal(d[clear], (p >= q)[clear].astype(float))
    # the minimum error is 1/2 the overlap integral, 1 - TV over 2
    e = theory.absolute_error(d, p, q, X)
    assert e == pytest.approx(0.5 * theory.normal_overlap(0, 1, mu, sd), abs=1e-6)


@pytest.mark.parametrize("delta, sd", [(0.0, 1.0), (1.0, 1.0), (3.0, 0.7), (0.2, 2.0)])
def test_normal_overlap_equal_variances(delta, sd):
    """Two normals of one variance overlap by 2 Phi(-|delta| / (2 sd))."""
    assert theory.normal_overlap(0.0, sd, delta, sd) == pytest.approx(2 * stats.norm.cdf(-abs(delta) / (2 * sd)),
                                                                  abs=1e-12)


@pytest.mark.parametrize("a", [(0, 1, 2, 1.5), (0, 1, -3, 0.5), (1, 2, 1, 0.5), (0, 1, 0.5, 3.0)])
def test_normal_overlap_matches_quadrature(a):
    from scipy.integrate import quad
    f = lambda t: min(stats.norm.pdf(t, a[0], a[1]), stats.norm.pdf(t, a[2], a[3]))  # noqa: E731
    val = sum(quad(f, lo, hi, limit=200)[0] for lo, hi in ((-40, -5), (-5, 5), (5, 40)))
    assert theory.normal_overlap(*a) == pytest.approx(val, abs=1e-7)


def test_theory_rejects_bad_input():
    with pytest.raises(ValueError, match="1-d arrays"):
        theory.gan_value(0.5, np.ones(3), np.ones(4), np.arange(3.0))
    with pytest.raises(ValueError, match="non-negative"):
        theory.js_divergence(-np.ones(3), np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="objective"):
        theory.pointwise_best(np.ones(3), np.ones(3), "l2")
    with pytest.raises(ValueError, match="D must lie"):
        theory.gan_value(1.5, np.ones(3), np.ones(3), np.arange(3.0))


def test_mode_stats_on_known_samples():
    c = toydata.ring_centers(8, 2.0)
    assert np.allclose(np.linalg.norm(c, axis=1), 2.0) and len(np.unique(np.round(c, 6), axis=0)) == 8
    rng = np.random.default_rng(0)
    three = c[rng.integers(0, 3, 3000)] + 0.01 * rng.standard_normal((3000, 2))   # modes 0..2, std 0.01
    s = mode_stats(three, c, 0.02)
    assert s["modes"] == 3 and s["hq"] > 0.999 and sum(s["counts"][3:]) == 0
    far = rng.standard_normal((500, 2)) * 0.01           # all at the origin, 2 away from every mode
    assert mode_stats(far, c, 0.02) == {"modes": 0, "hq": 0.0, "counts": [0] * 8}
    ring = toydata.ring_dataset(4000, std=0.02, seed=1)
    s = mode_stats(ring.X, c, 0.02)
    assert s["modes"] == 8 and s["hq"] == pytest.approx(1 - 0.0111, abs=0.01)  # P(chi_2 > 3) = e^{-4.5}


def test_toy_family_trains_on_points(tmp_path):
    data = toydata.gaussian_dataset(2000, 2.0, 0.5)
    tr = toy_trainer(data, out=str(tmp_path), z_dim=2, hidden=16, depth=1, batch=64)
    hist = run_toy(tr, 6, 3, lambda t: {"mean": float(t.sample(torch.randn(100, 2)).mean())})
    assert [h["step"] for h in hist] == [0, 3, 6] and tr.step == 6
    with pytest.raises(ValueError, match="rows"):
        toy_trainer("digits", out=str(tmp_path / "x"))


# -- the demos run and print what they promise (short runs) ------------------------------------------------
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def _run_example(name, tmp_path, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), "--out", str(tmp_path), *args],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_inverse_transform_demo(tmp_path):
    out = _run_example("inverse_transform.py", tmp_path, "--n", "20000")
    ks = float(out.split("n =   20000: KS statistic vs N(0,1) = ")[1].split()[0])
    assert ks < 1.36 / math.sqrt(20000)          # within the 95% KS band
    assert os.path.getsize(tmp_path / "inverse_transform.png") > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["theory_checks.py", "adversarial_1d.py", "mixture_8_gaussians.py",
                                  "saturation.py", "gmmn_1d.py"])
def test_demo_runs_quick(name, tmp_path):
    out = _run_example(name, tmp_path, "--quick")
    png = tmp_path / name.replace(".py", ".png")
    assert os.path.getsize(png) > 0 and "wrote" in out
