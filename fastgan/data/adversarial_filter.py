"""Adversarial filtering of generated rows (Ashrapov 2020, "tabgan").

A classifier learns to tell the training rows (label 0) from the test rows (label 1).
It scores each generated row with its probability of being a test row, and the
``keep`` fraction of generated rows with the highest scores is kept: the rows that
look most like the data the model will be used on.

The classifier is scikit-learn's ``HistGradientBoostingClassifier`` by default;
``classifier="lightgbm"`` uses LightGBM when it is installed, and any object with
``fit`` and ``predict_proba`` works.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from .mixed_table import MixedTable, numeric_features

__all__ = ["adversarial_filter", "FilterResult"]


@dataclasses.dataclass
class FilterResult:
    """``kept``: the kept generated rows; ``index``: their indices in the generated rows, best
    first; ``scores``: every generated row's predicted test-likeness; ``threshold``: the lowest
    kept score; ``auc``: the train/test classifier's in-sample ROC AUC (0.5: the two sets look alike)."""

    kept: object
    index: np.ndarray
    scores: np.ndarray
    threshold: float
    auc: float


def _make_classifier(classifier, seed):
    if classifier is None or classifier == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    if classifier == "lightgbm":
        try:
            import lightgbm   # optional extra, only for classifier="lightgbm"
        except ImportError as e:
            raise ImportError("classifier='lightgbm' needs the 'lightgbm' package (pip install lightgbm); "
                              "the default classifier needs only scikit-learn") from e
        return lightgbm.LGBMClassifier(n_estimators=100, random_state=seed, n_jobs=1, verbose=-1)
    if isinstance(classifier, str):
        raise ValueError(f"classifier must be 'hist_gradient_boosting', 'lightgbm' or an estimator, got {classifier!r}")
    if not (hasattr(classifier, "fit") and hasattr(classifier, "predict_proba")):
        raise TypeError(f"classifier must have fit() and predict_proba(), got {type(classifier).__name__}")
    return classifier


def _as_matrices(train, test, generated):
    if isinstance(train, MixedTable):
        for arg, t in (("test", test), ("generated", generated)):
            if not isinstance(t, MixedTable):
                raise TypeError(f"{arg} must be a MixedTable like train, got {type(t).__name__}")
        return numeric_features(train, test, generated)
    out = []
    for arg, t in (("train", train), ("test", test), ("generated", generated)):
        a = np.asarray(t, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError(f"{arg} must be a 2-D array [rows, features], got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{arg} holds NaN or inf")
        out.append(a)
    if len({a.shape[1] for a in out}) != 1:
        raise ValueError(f"train, test and generated must have one feature count, got {[a.shape[1] for a in out]}")
    return out


def adversarial_filter(train, test, generated, *, keep: float = 0.5, classifier=None, seed: int = 0) -> FilterResult:
    """Keep the ``keep`` fraction of ``generated`` rows that look most like ``test``.

    Args:
        train, test, generated: :class:`MixedTable` s with the same columns, or 2-D arrays.
        keep: the fraction kept, in (0, 1]; ``round(keep * len(generated))`` rows (at least one).
        classifier: ``None``/``"hist_gradient_boosting"``, ``"lightgbm"`` or an estimator.
    """
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep!r}")
    Xtr, Xte, Xg = _as_matrices(train, test, generated)
    for arg, a in (("train", Xtr), ("test", Xte), ("generated", Xg)):
        if len(a) == 0:
            raise ValueError(f"{arg} has no rows")
    clf = _make_classifier(classifier, seed)
    X, y = np.concatenate([Xtr, Xte]), np.r_[np.zeros(len(Xtr)), np.ones(len(Xte))]
    clf.fit(X, y)
    auc = float(roc_auc_score(y, clf.predict_proba(X)[:, 1]))
    scores = np.asarray(clf.predict_proba(Xg)[:, 1], dtype=np.float64)
    n_keep = max(1, int(round(keep * len(Xg))))
    order = np.argsort(-scores, kind="stable")[:n_keep]
    kept = generated.take(order) if isinstance(generated, MixedTable) else np.asarray(generated)[order]
    return FilterResult(kept, order, scores, float(scores[order[-1]]), auc)
