"""Adversarial filtering: it keeps the asked fraction, and the kept rows are the most test-like."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from fastgan.data.adversarial_filter import adversarial_filter
from fastgan.data.mixed_table import MixedTable


def _shifted(seed=0, n_gen=301):
    rng = np.random.default_rng(seed)
    train = rng.normal(0.0, 1.0, (400, 3))
    test = rng.normal(0.0, 1.0, (300, 3)) + [2.0, 0.0, 0.0]
    from_test = rng.random(n_gen) < 0.5
    gen = rng.normal(0.0, 1.0, (n_gen, 3)) + np.where(from_test[:, None], [2.0, 0.0, 0.0], 0.0)
    return train, test, gen, from_test


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.77, 1.0])
def test_filter_keeps_the_fraction_and_the_most_test_like(keep):
    train, test, gen, from_test = _shifted()
    res = adversarial_filter(train, test, gen, keep=keep, seed=1)
    n_keep = int(round(keep * len(gen)))
    assert len(res.index) == len(res.kept) == n_keep == len(np.unique(res.index))
    np.testing.assert_array_equal(res.kept, gen[res.index])
    dropped = np.setdiff1d(np.arange(len(gen)), res.index)
    if len(dropped):
        assert res.scores[res.index].min() >= res.scores[dropped].max()
    assert res.threshold == res.scores[res.index].min()
    if keep <= 0.5:  # the kept rows come from the test-like half far more often than chance
        assert from_test[res.index].mean() > 0.8
    assert res.auc > 0.75


def test_filter_scores_are_the_classifiers_test_probability():
    train, test, gen, _ = _shifted(3)
    clf = LogisticRegression()
    res = adversarial_filter(train, test, gen, keep=0.3, classifier=clf)
    ref = LogisticRegression().fit(np.r_[train, test], np.r_[np.zeros(len(train)), np.ones(len(test))])
    np.testing.assert_allclose(res.scores, ref.predict_proba(gen)[:, 1], rtol=1e-6)


def test_filter_on_mixed_tables():
    rng = np.random.default_rng(0)

    def table(n, shift):
        p = [0.8 - shift / 4, 0.2 + shift / 4]
        return MixedTable({"x": rng.normal(shift, 1, n), "c": rng.choice(["a", "b"], n, p=p)}, ["c"])
    train, test = table(300, 0.0), table(300, 2.0)
    gen = table(100, 0.0).concat(table(100, 2.0))
    res = adversarial_filter(train, test, gen, keep=0.25)
    assert isinstance(res.kept, MixedTable) and len(res.kept) == 50
    assert (res.index >= 100).mean() > 0.8


def test_filter_lightgbm_when_installed():
    pytest.importorskip("lightgbm")
    train, test, gen, from_test = _shifted()
    res = adversarial_filter(train, test, gen, keep=0.2, classifier="lightgbm")
    assert from_test[res.index].mean() > 0.8


@pytest.mark.parametrize("kwargs, err, match", [
    ({"keep": 0.0}, ValueError, "keep"), ({"keep": 1.5}, ValueError, "keep"), ({"keep": True}, ValueError, "keep"),
    ({"classifier": "svm"}, ValueError, "classifier"), ({"classifier": object()}, TypeError, "classifier"),
])
def test_filter_bad_arguments(kwargs, err, match):
    train, test, gen, _ = _shifted()
    with pytest.raises(err, match=match):
        adversarial_filter(train, test, gen, **kwargs)


def test_filter_bad_data():
    train, test, gen, _ = _shifted()
    with pytest.raises(ValueError, match="generated must be a 2-D"):
        adversarial_filter(train, test, gen[:, 0])
    with pytest.raises(ValueError, match="one feature count"):
        adversarial_filter(train, test[:, :2], gen)
    with pytest.raises(ValueError, match="test has no rows"):
        adversarial_filter(train, test[:0], gen)
    with pytest.raises(TypeError, match="test must be a MixedTable"):
        adversarial_filter(MixedTable({"x": [1.0, 2.0]}), test, gen)
