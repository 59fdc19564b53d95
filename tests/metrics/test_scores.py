"""IS, KID, precision/recall, density/coverage, MMD, mode coverage vs straightforward loops."""
import math

import numpy as np
import pytest
import torch

from fastgan.metrics.mmd import mmd, mmd2
from fastgan.metrics.scores import (density_coverage, inception_score, kernel_inception_distance,
                                    mode_coverage, precision_recall)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def naive_is(p, splits):
    n = len(p)
    bounds = [0]
    for s in range(splits):  # array_split sizes: the first n % splits parts get one more
        bounds.append(bounds[-1] + n // splits + (1 if s < n % splits else 0))
    scores = []
    for s in range(splits):
        part = p[bounds[s]:bounds[s + 1]]
        py = [sum(row[c] for row in part) / len(part) for c in range(p.shape[1])]
        kls = [sum(row[c] * math.log(row[c] / py[c]) for c in range(p.shape[1]) if row[c] > 0) for row in part]
        scores.append(math.exp(sum(kls) / len(kls)))
    mean = sum(scores) / splits
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)


def test_inception_score_matches_loop():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((103, 7)) * 3
    got = inception_score(logits)
    mean, std = naive_is(softmax(logits), 10)
    assert float(got) == pytest.approx(mean, rel=1e-12)
    assert got.values["is_std"] == pytest.approx(std, rel=1e-9)
    assert got.conventions["splits"] == 10 and got.conventions["n"] == 103
    via_probs = inception_score(probs=torch.from_numpy(softmax(logits)), splits=3)
    assert float(via_probs) == pytest.approx(naive_is(softmax(logits), 3)[0], rel=1e-12)


def test_inception_score_extremes():
    one_hot = np.eye(10)[np.arange(1000) % 10] * 0.999 + 0.0001  # confident and balanced
    assert float(inception_score(probs=one_hot)) == pytest.approx(10, rel=0.02)
    uniform = np.full((100, 10), 0.1)
    assert float(inception_score(probs=uniform)) == pytest.approx(1.0, abs=1e-12)


def naive_kid(x, y, num_subsets, m, seed):
    rng = np.random.default_rng(seed)  # same draw order as documented: real then fake per subset
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    vals = []
    for _ in range(num_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        sxx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        syy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        sxy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
        vals.append(sxx + syy - 2 * sxy)
    return np.mean(vals), np.std(vals)


def test_kid_matches_loop_and_is_seeded():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 5))
    y = rng.standard_normal((33, 5)) + 0.3
    got = kernel_inception_distance(x, y, num_subsets=4, subset_size=1000, seed=3)
    assert got.conventions["subset_size"] == 33  # min(1000, n)
    mean, std = naive_kid(x, y, 4, 33, 3)
    assert float(got) == pytest.approx(mean, rel=1e-10)
    assert got.values["kid_std"] == pytest.approx(std, rel=1e-8)
    again = kernel_inception_distance(x, y, num_subsets=4, seed=3)
    assert float(again) == float(got)
    other_seed = kernel_inception_distance(x, y, num_subsets=4, seed=4)
    assert float(other_seed) == pytest.approx(naive_kid(x, y, 4, 33, 4)[0], rel=1e-10)


def naive_radius(x, k):
    out = []
    for i in range(len(x)):
        ds = sorted(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)
        out.append(ds[k - 1])
    return np.array(out)


def test_precision_recall_matches_loop():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((37, 4))
    y = rng.standard_normal((29, 4)) * 0.6 + 0.7
    got = precision_recall(x, y, k=3)
    rx, ry = naive_radius(x, 3), naive_radius(y, 3)
    prec = np.mean([any(np.linalg.norm(g - x[i]) <= rx[i] for i in range(len(x))) for g in y])
    rec = np.mean([any(np.linalg.norm(r - y[j]) <= ry[j] for j in range(len(y))) for r in x])
    assert float(got) == pytest.approx(prec, abs=1e-12)
    assert got.values["recall"] == pytest.approx(rec, abs=1e-12)
    assert 0 < prec < 1 and 0 < rec < 1  # the test data must exercise both outcomes
    assert got.conventions["k"] == 3


def test_density_coverage_matches_loop():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((41, 3))
    y = rng.standard_normal((23, 3)) * 0.7 + 0.4
    got = density_coverage(x, y, k=5)
    rx = naive_radius(x, 5)
    dens = sum(np.linalg.norm(g - x[i]) < rx[i] for g in y for i in range(len(x))) / (5 * len(y))
    cov = np.mean([any(np.linalg.norm(g - x[i]) < rx[i] for g in y) for i in range(len(x))])
    assert float(got) == pytest.approx(dens, abs=1e-12)
    assert got.values["coverage"] == pytest.approx(cov, abs=1e-12)
    assert 0 < cov < 1


def naive_mmd2(x, y, sigmas, unbiased):
    k = lambda a, b: sum(math.exp(-float(((a - b) ** 2).sum()) / (2 * s * s)) for s in sigmas)  # noqa: E731
    n, m = len(x), len(y)
    if unbiased:
        kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    else:
        kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n)) / n ** 2
        kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    return kxx + kyy - 2 * sum(k(a, b) for a in x for b in y) / (n * m)


@pytest.mark.parametrize("unbiased", [False, True])
def test_mmd_matches_loop_and_has_gradients(unbiased):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(13, 2, 3, generator=g, dtype=torch.float64)
    y = (torch.randn(11, 2, 3, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    sig = (0.5, 1.0, 3.0)
    v = mmd2(x, y, bandwidths=sig, unbiased=unbiased).detach()
    ref = naive_mmd2(x.flatten(1).numpy(), y.detach().flatten(1).numpy(), sig, unbiased)
    assert float(v) == pytest.approx(ref, rel=1e-10)
    assert torch.autograd.gradcheck(lambda t: mmd2(x, t, bandwidths=sig, unbiased=unbiased), (y,))
    res = mmd(x, y, bandwidths=sig, unbiased=unbiased)
    assert float(res) == pytest.approx(ref, rel=1e-10) and res.conventions["bandwidths"] == list(sig)


def test_mode_coverage_and_kl():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    got = mode_coverage(labels, num_classes=4)
    p = np.array([0.5, 0.3, 0.2])
    assert int(got) == 3 and got.values["coverage"] == 0.75
    assert got.values["kl_to_uniform"] == pytest.approx(float(np.sum(p * np.log(p * 4))), rel=1e-12)
    assert got.values["histogram"] == [50, 30, 20, 0]
    assert int(mode_coverage(labels, num_classes=4, min_count=25)) == 2
    balanced = mode_coverage(logits=np.eye(5)[np.arange(50) % 5], num_classes=5)
    assert balanced.values["kl_to_uniform"] == pytest.approx(0.0, abs=1e-15)
    assert mode_coverage(np.zeros(9, dtype=int), num_classes=3).values["kl_to_uniform"] == pytest.approx(math.log(3))


def test_bad_inputs():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match="real and fake features differ"):
        kernel_inception_distance(x, np.zeros((10, 5)))
    with pytest.raises(ValueError, match="fake contains NaN"):
        precision_recall(np.random.rand(10, 4), np.full((10, 4), np.nan))
    with pytest.raises(ValueError, match="k=5 needs more"):
        density_coverage(np.random.rand(5, 2), np.random.rand(9, 2))
    with pytest.raises(ValueError, match="exactly one"):
        inception_score()
    with pytest.raises(ValueError, match="logits needs at least 10"):
        inception_score(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="labels must lie"):
        mode_coverage(np.array([0, 3]), num_classes=3)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        mmd2(np.zeros((3, 2)), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="bandwidths"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 2), bandwidths=(1.0, -1.0))
