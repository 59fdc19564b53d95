"""Table metrics against independent computations (scipy, scikit-learn, brute force)."""
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist
from scipy.stats.contingency import association

from fastgan.data.mixed_table import MixedTable, numeric_features
from fastgan.metrics import tabular as tm


def _table(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1, n)
    b = 0.7 * a + rng.normal(0, 0.5, n)
    c = rng.exponential(1 + shift, n)
    k = np.where(a + rng.normal(0, 1, n) > 0.5, "hi", "lo")
    m = rng.choice(["u", "v", "w"], n, p=[0.5, 0.3, 0.2])
    y = np.where(a + rng.normal(0, 0.7, n) > 1.1, "pos", "neg")
    return MixedTable({"a": a, "b": b, "c": c, "k": k, "m": m, "y": y}, ["k", "m", "y"])


@pytest.mark.parametrize("n1, n2, seed", [(50, 50, 0), (101, 37, 1), (7, 900, 2)])
def test_ks_matches_scipy(n1, n2, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, n1), rng.standard_t(3, n2) + 0.3
    assert tm.ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    ties = rng.integers(0, 5, n1).astype(float), rng.integers(0, 6, n2).astype(float)
    assert tm.ks_statistic(*ties) == pytest.approx(stats.ks_2samp(*ties).statistic, abs=1e-12)


def test_total_variation_and_cramers_v():
    rng = np.random.default_rng(4)
    a, b = rng.choice(list("xyz"), 300, p=[0.2, 0.3, 0.5]), rng.choice(list("xyw"), 211)
    pa = {c: (a == c).mean() for c in "xyzw"}
    pb = {c: (b == c).mean() for c in "xyzw"}
    assert tm.total_variation(a, b) == pytest.approx(0.5 * sum(abs(pa[c] - pb[c]) for c in "xyzw"))
    x = rng.choice(list("pqr"), 500)
    y = np.where(rng.random(500) < 0.6, x, rng.choice(list("pqrs"), 500))
    obs = np.array([[np.sum((x == i) & (y == j)) for j in "pqrs"] for i in "pqr"])
    assert tm.cramers_v(x, y) == pytest.approx(association(obs, method="cramer", correction=False), rel=1e-10)
    assert tm.cramers_v(x, np.full(500, "s")) == 0.0


def test_column_distances_and_correlations():
    real, fake = _table(400, 0), _table(300, 1, shift=0.5)
    d = tm.column_distances(real, fake)
    assert d["a"] == pytest.approx(stats.ks_2samp(real["a"], fake["a"]).statistic)
    assert d["m"] == pytest.approx(tm.total_variation(real["m"], fake["m"]))
    cd = tm.correlation_difference(real, fake)
    cont = ["a", "b", "c"]
    rr, rf = np.corrcoef([real[c] for c in cont]), np.corrcoef([fake[c] for c in cont])
    iu = np.triu_indices(3, 1)
    assert cd["pearson"] == pytest.approx(np.abs(rr - rf)[iu].mean(), rel=1e-9)
    pairs = [("k", "m"), ("k", "y"), ("m", "y")]

    def v(t, p, q):
        ps, qs = np.unique(t[p]), np.unique(t[q])
        obs = np.array([[np.sum((t[p] == i) & (t[q] == j)) for j in qs] for i in ps])
        return association(obs, method="cramer", correction=False)
    assert cd["cramers_v"] == pytest.approx(np.mean([abs(v(real, *p) - v(fake, *p)) for p in pairs]), rel=1e-9)
    same = tm.correlation_difference(real, real)
    assert same["pearson"] == 0 and same["cramers_v"] == 0


def test_detection_auc_separates_only_different_tables():
    real = _table(300, 0)
    assert abs(tm.detection_auc(real, _table(300, 5)) - 0.5) < 0.1
    assert tm.detection_auc(real, _table(300, 6, shift=2.0)) > 0.9


def test_ml_efficacy_matches_sklearn_scores():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = _table(400, 0), _table(250, 1)
    res = tm.ml_efficacy(train, test, "y", classifiers=("logistic",))["logistic"]
    Xtr, Xte = numeric_features(train, test, exclude=["y"], scale=True)
    pred = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, train["y"]).predict(Xte)
    cm = confusion_matrix(test["y"].astype(str), pred, labels=["neg", "pos"])
    recalls = cm.diagonal() / cm.sum(1)
    assert (test["y"] == "pos").mean() < 0.5
    assert res["minority_recall"] == pytest.approx(recalls[1])
    assert res["balanced_accuracy"] == pytest.approx(recalls.mean())
    assert res["macro_f1"] == pytest.approx(f1_score(test["y"].astype(str), pred, average="macro"))
    assert res["macro_f1"] > 0.6


def test_utility_comparison_and_oversampling():
    train, test = _table(300, 0), _table(200, 1)
    over = tm.random_oversample(train, "y", seed=0)
    _, counts = np.unique(over["y"], return_counts=True)
    assert counts[0] == counts[1] and len(over) == 2 * counts.max()
    res = tm.utility_comparison(train, test, "y", generated=_table(50, 9), classifiers=("logistic",))
    assert {"real", "random_oversampling", "real+gan", "gan"} <= set(res)
    assert all(0 <= v <= 1 for r in res.values() for v in r["logistic"].values())


def test_smote_when_installed():
    pytest.importorskip("imblearn")
    train, test = _table(300, 0), _table(200, 1)
    res = tm.utility_comparison(train, test, "y", classifiers=("logistic",))
    assert "smote" in res


def test_dcr_matches_brute_force():
    train, synth, hold = _table(120, 0), _table(45, 1), _table(33, 2)
    res = tm.dcr(synth, train, hold)
    Xt, Xs, Xh = numeric_features(train, synth, hold, scale=True)
    ds, dh = cdist(Xs, Xt).min(1), cdist(Xh, Xt).min(1)
    assert res["dcr_synthetic_median"] == pytest.approx(np.median(ds))
    assert res["dcr_holdout_median"] == pytest.approx(np.median(dh))
    assert res["dcr_synthetic_p5"] == pytest.approx(np.percentile(ds, 5))
    copies = tm.dcr(train.take(np.arange(10)), train, hold)
    assert copies["exact_copies"] == 1.0 and copies["dcr_synthetic_median"] == 0.0


def test_sdmetrics_agrees_when_installed():
    sdm = pytest.importorskip("sdmetrics")
    import pandas as pd
    real, fake = _table(200, 0), _table(150, 1, shift=0.4)
    r = pd.DataFrame({c: real[c] for c in real.names})
    f = pd.DataFrame({c: fake[c] for c in fake.names})
    from sdmetrics.single_column import KSComplement, TVComplement
    assert 1 - KSComplement.compute(r["a"], f["a"]) == pytest.approx(tm.ks_statistic(real["a"], fake["a"]))
    assert 1 - TVComplement.compute(r["m"], f["m"]) == pytest.approx(tm.total_variation(real["m"], fake["m"]))


@pytest.mark.parametrize("fn", [tm.column_distances, tm.correlation_difference, tm.detection_auc])
def test_metrics_reject_mismatched_tables(fn):
    real = _table(30, 0)
    other = MixedTable({"a": real["a"]})
    with pytest.raises(ValueError, match="fake has columns"):
        fn(real, other)
    with pytest.raises(TypeError, match="real must be a MixedTable"):
        fn(np.zeros((3, 3)), real)


def test_ml_efficacy_bad_target():
    t = _table(40, 0)
    with pytest.raises(ValueError, match="target 'zz'"):
        tm.ml_efficacy(t, t, "zz")
    with pytest.raises(ValueError, match="target 'a' must be a discrete"):
        tm.ml_efficacy(t, t, "a")
    with pytest.raises(ValueError, match="classifier must be one of"):
        tm.ml_efficacy(t, t, "y", classifiers=("svm",))
