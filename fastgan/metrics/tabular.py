"""Metrics for synthetic tables: fidelity, utility (ML efficacy) and privacy.

Fidelity
  * ``column_distances``: per column, the two-sample Kolmogorov-Smirnov statistic
    (continuous) or the total variation distance of the category frequencies (discrete).
  * ``correlation_difference``: mean |r_real - r_fake| over pairs of continuous columns
    (Pearson) and mean |V_real - V_fake| over pairs of discrete columns (Cramér's V).
  * ``detection_auc``: cross-validated ROC AUC of a classifier telling real rows from
    synthetic ones (0.5: indistinguishable).
Utility
  * ``ml_efficacy``: train classifiers on one table, test on real rows: macro-F1,
    balanced accuracy and the recall of the test set's rarest class.
  * ``utility_comparison``: the same for training on the real rows, on real rows
    oversampled at random, with SMOTE (imbalanced-learn, when installed), and on real
    rows plus generated rows.
Privacy
  * ``dcr``: distance from each synthetic row to its closest real training row, beside
    the same distance for real holdout rows (synthetic rows much closer than the holdout
    suggest copies).
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data.mixed_table import MixedTable, numeric_features
from ..data.table_stats import ks_statistic, total_variation

__all__ = ["ks_statistic", "total_variation", "cramers_v", "column_distances", "correlation_difference",
           "detection_auc", "ml_efficacy", "random_oversample", "utility_comparison", "dcr", "fidelity",
           "CLASSIFIERS"]

CLASSIFIERS = ("logistic", "forest", "boosting")


def cramers_v(x, y) -> float:
    """Cramér's V of two discrete columns (chi-square without continuity correction)."""
    x, y = np.asarray(x).astype(str), np.asarray(y).astype(str)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of one length, got {len(x)} and {len(y)}")
    xs, xi = np.unique(x, return_inverse=True)
    ys, yi = np.unique(y, return_inverse=True)
    k = min(len(xs), len(ys))
    if k < 2:
        return 0.0
    obs = np.zeros((len(xs), len(ys)))
    np.add.at(obs, (xi, yi), 1.0)
    exp = obs.sum(1, keepdims=True) * obs.sum(0, keepdims=True) / len(x)
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    return float(np.sqrt(chi2 / (len(x) * (k - 1))))


def _pearson(x, y) -> float:
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return 0.0
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


def _check_pair(real, fake):
    if not isinstance(real, MixedTable):
        raise TypeError(f"real must be a MixedTable, got {type(real).__name__}")
    real.check_same_columns(fake, "fake")
    if len(real) == 0 or len(fake) == 0:
        raise ValueError(f"real and fake must have rows, got {len(real)} and {len(fake)}")


def column_distances(real: MixedTable, fake: MixedTable) -> dict[str, float]:
    """``{column: KS statistic or total variation}``."""
    _check_pair(real, fake)
    return {c: total_variation(real[c], fake[c]) if c in real.discrete else ks_statistic(real[c], fake[c])
            for c in real.names}


def correlation_difference(real: MixedTable, fake: MixedTable) -> dict[str, float]:
    """``{"pearson": mean |dr|, "cramers_v": mean |dV|}`` over column pairs (NaN when no pair)."""
    _check_pair(real, fake)
    cont, disc = real.continuous, real.discrete
    dp = [abs(_pearson(real[a], real[b]) - _pearson(fake[a], fake[b]))
          for i, a in enumerate(cont) for b in cont[i + 1:]]
    dv = [abs(cramers_v(real[a], real[b]) - cramers_v(fake[a], fake[b]))
          for i, a in enumerate(disc) for b in disc[i + 1:]]
    return {"pearson": float(np.mean(dp)) if dp else float("nan"),
            "cramers_v": float(np.mean(dv)) if dv else float("nan")}


def _classifier(name: str, seed: int):
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "forest":
        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    if name == "boosting":
        return HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {name!r}")


def detection_auc(real: MixedTable, fake: MixedTable, *, classifier: str = "logistic", folds: int = 3,
                  seed: int = 0) -> float:
    """Cross-validated ROC AUC of ``classifier`` telling real (0) from synthetic (1) rows."""
    _check_pair(real, fake)
    xr, xf = numeric_features(real, fake, scale=True)
    X, y = np.concatenate([xr, xf]), np.r_[np.zeros(len(xr)), np.ones(len(xf))]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p = cross_val_predict(_classifier(classifier, seed), X, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def _check_target(table, target, arg):
    if target not in table.names:
        raise ValueError(f"target {target!r} is not a column of {arg} (columns: {list(table.names)})")
    if target not in table.discrete:
        raise ValueError(f"target {target!r} must be a discrete column of {arg}")


def ml_efficacy(train: MixedTable, test: MixedTable, target: str, *, classifiers=CLASSIFIERS,
                seed: int = 0, minority: str | None = None) -> dict[str, dict[str, float]]:
    """Train each classifier on ``train``, test on ``test``: ``{clf: {macro_f1, balanced_accuracy,
    minority_recall}}``; the minority class is ``minority`` or the rarest class of ``test``."""
    _check_target(train, target, "train")
    train.check_same_columns(test, "test")
    if len(set(train[target].tolist())) < 2:
        raise ValueError(f"train must hold at least two classes of {target!r}")
    if minority is None:
        cats, counts = np.unique(test[target].astype(str), return_counts=True)
        minority = str(cats[np.argmin(counts)])
    Xtr, Xte = numeric_features(train, test, exclude=[target], scale=True)
    ytr, yte = train[target].astype(str), test[target].astype(str)
    out = {}
    for name in classifiers:
        pred = _classifier(name, seed).fit(Xtr, ytr).predict(Xte)
        out[name] = {"macro_f1": float(f1_score(yte, pred, average="macro")),
                     "balanced_accuracy": float(balanced_accuracy_score(yte, pred)),
                     "minority_recall": float(recall_score(yte, pred, labels=[minority], average="macro",
                                                           zero_division=0.0))}
    return out


def random_oversample(table: MixedTable, target: str, *, seed: int = 0) -> MixedTable:
    """Copies of randomly drawn rows of each smaller class until every class has the majority count."""
    _check_target(table, target, "table")
    rng = np.random.default_rng(seed)
    y = table[target].astype(str)
    cats, counts = np.unique(y, return_counts=True)
    extra = [rng.choice(np.flatnonzero(y == c), counts.max() - n) for c, n in zip(cats, counts) if n < counts.max()]
    return table.take(np.concatenate([np.arange(len(table)), *extra]))


def _smote(table: MixedTable, target: str, seed: int) -> MixedTable:
    try:
        from imblearn.over_sampling import SMOTE, SMOTENC   # optional extra (fastgan[tabular])
    except ImportError as e:
        raise ImportError("SMOTE needs the 'imbalanced-learn' package (pip install imbalanced-learn)") from e
    feats = [c for c in table.names if c != target]
    disc = [c for c in feats if c in table.discrete]
    X = np.empty((len(table), len(feats)), dtype=object)
    for j, c in enumerate(feats):
        X[:, j] = table[c]
    y = table[target].astype(str)
    k = max(1, min(5, int(np.unique(y, return_counts=True)[1].min()) - 1))
    if disc:
        sm = SMOTENC(categorical_features=[feats.index(c) for c in disc], random_state=seed, k_neighbors=k)
    else:
        X = X.astype(np.float64)
        sm = SMOTE(random_state=seed, k_neighbors=k)
    Xs, ys = sm.fit_resample(X, y)
    cols = {c: Xs[:, j] for j, c in enumerate(feats)}
    cols[target] = ys
    return MixedTable({c: cols[c] for c in table.names}, table.discrete, name=f"{table.name}+smote")


def utility_comparison(train: MixedTable, test: MixedTable, target: str, generated: MixedTable | None = None,
                       *, classifiers=CLASSIFIERS, seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """ML efficacy on ``test`` of training on: ``real``; ``random_oversampling``; ``smote`` (when
    imbalanced-learn is installed); ``real+gan`` (train plus ``generated`` rows); ``gan`` (only them)."""
    runs = {"real": train, "random_oversampling": random_oversample(train, target, seed=seed)}
    try:
        runs["smote"] = _smote(train, target, seed)
    except ImportError:
        pass
    if generated is not None:
        runs["real+gan"] = train.concat(generated)
        runs["gan"] = generated
    return {k: ml_efficacy(t, test, target, classifiers=classifiers, seed=seed) for k, t in runs.items()}


def dcr(synthetic: MixedTable, train: MixedTable, holdout: MixedTable) -> dict[str, float]:
    """Distances to the closest ``train`` row (Euclidean over range-scaled continuous columns and
    one-hot discrete ones) of the ``synthetic`` rows and of the real ``holdout`` rows: their
    medians and 5th percentiles, and the share of synthetic rows that copy a train row."""
    for arg, t in (("synthetic", synthetic), ("holdout", holdout)):
        train.check_same_columns(t, arg)
        if len(t) == 0:
            raise ValueError(f"{arg} has no rows")
    Xt, Xs, Xh = numeric_features(train, synthetic, holdout, scale=True)
    nn = NearestNeighbors(n_neighbors=1).fit(Xt)
    ds, dh = nn.kneighbors(Xs)[0][:, 0], nn.kneighbors(Xh)[0][:, 0]
    return {"dcr_synthetic_median": float(np.median(ds)), "dcr_holdout_median": float(np.median(dh)),
            "dcr_synthetic_p5": float(np.percentile(ds, 5)), "dcr_holdout_p5": float(np.percentile(dh, 5)),
            "exact_copies": float(np.mean(ds < 1e-9))}


def fidelity(real: MixedTable, fake: MixedTable, *, seed: int = 0) -> dict[str, float]:
    """Summary: mean KS over continuous columns, mean TV over discrete ones, correlation
    differences and the detection AUC."""
    d = column_distances(real, fake)
    ks = [d[c] for c in real.continuous]
    tv = [d[c] for c in real.discrete]
    cd = correlation_difference(real, fake)
    return {"ks_mean": float(np.mean(ks)) if ks else float("nan"),
            "tv_mean": float(np.mean(tv)) if tv else float("nan"),
            "pearson_diff": cd["pearson"], "cramers_v_diff": cd["cramers_v"],
            "detection_auc": detection_auc(real, fake, seed=seed)}
