"""Mixed tables, the CTGAN transformer, the conditional sampler and its loader."""
import os
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.mixture import BayesianGaussianMixture

from fastgan.data.mixed_table import MixedTable, load_mixed_table, numeric_features, read_table_csv
from fastgan.data.tabular_set import ConditionalLoader, EncodedTable
from fastgan.data.tabular_transform import ConditionalSampler, ModeNormalizer, TableTransformer


def random_table(n=301, seed=0, rare=0.08):
    rng = np.random.default_rng(seed)
    bimodal = np.where(rng.random(n) < 0.3, rng.normal(-5, 0.5, n), rng.normal(3, 1.5, n))
    skewed = rng.exponential(2.0, n) + 10
    colour = rng.choice(["red", "green", "blue"], n, p=[0.6, 0.3, 0.1])
    label = np.where(rng.random(n) < rare, "yes", "no")
    return MixedTable({"a": bimodal, "colour": colour, "b": skewed, "label": label}, ["colour", "label"],
                      name="rand")


# ---------------------------------------------------------------- mode-specific normalisation
@pytest.mark.parametrize("n", [7, 130, 1001])
def test_mode_normalizer_matches_an_independent_mixture(n):
    rng = np.random.default_rng(n)
    x = np.concatenate([rng.normal(-4, 0.3, n // 2), rng.normal(6, 2.0, n - n // 2)])
    nm = ModeNormalizer(mode="argmax", seed=3).fit(x, "x")
    ref = BayesianGaussianMixture(n_components=min(10, n), weight_concentration_prior_type="dirichlet_process",
                                  weight_concentration_prior=0.001, max_iter=100, n_init=1, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(x[:, None])
    keep = ref.weights_ > 0.005
    assert nm.n_modes == keep.sum() <= 10
    np.testing.assert_allclose(nm.means, ref.means_[keep, 0])
    np.testing.assert_allclose(nm.stds, np.sqrt(ref.covariances_[keep, 0, 0]))
    alpha, mode = nm.encode(x)
    # argmax mode = sklearn's predicted component, where that one is kept
    pred = ref.predict(x[:, None])
    kept_idx = np.flatnonzero(keep)
    ok = np.isin(pred, kept_idx)
    np.testing.assert_array_equal(kept_idx[mode[ok]], pred[ok])
    # round trip: exact inside the clip, the clipped value outside
    raw = (x - ref.means_[kept_idx[mode], 0]) / (4 * np.sqrt(ref.covariances_[kept_idx[mode], 0, 0]))
    expect = ref.means_[kept_idx[mode], 0] + 4 * np.sqrt(ref.covariances_[kept_idx[mode], 0, 0]) * np.clip(raw, -1, 1)
    np.testing.assert_allclose(nm.decode(alpha, mode), expect, rtol=1e-12, atol=1e-9)
    inside = np.abs(raw) <= 1
    np.testing.assert_allclose(nm.decode(alpha, mode)[inside], x[inside], rtol=1e-12, atol=1e-9)
    assert np.all(np.abs(alpha) <= 1)


def test_mode_normalizer_sampled_modes_follow_the_posterior():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 400), rng.normal(2, 1, 400)])   # overlapping modes
    nm = ModeNormalizer(max_modes=2, seed=0).fit(x)
    probe = np.full(20000, 1.0)
    _, mode = nm.encode(probe, np.random.default_rng(5))
    p = nm.posterior(probe[:1])[0]
    counts = np.bincount(mode, minlength=nm.n_modes)
    assert stats.chisquare(counts, p * len(probe)).pvalue > 1e-3


@pytest.mark.parametrize("bad, match", [(np.full(10, 3.0), "constant"), (np.array([1.0, np.nan, 2.0]), "NaN"),
                                        (np.array([]), "empty")])
def test_mode_normalizer_rejects_bad_columns(bad, match):
    with pytest.raises(ValueError, match=match):
        ModeNormalizer().fit(bad, "col_z")


@pytest.mark.parametrize("kw, match", [({"max_modes": 0}, "max_modes"), ({"weight_threshold": 1.5}, "weight_threshold"),
                                       ({"mode": "mean"}, "mode")])
def test_mode_normalizer_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        ModeNormalizer(**kw)


# ---------------------------------------------------------------- transformer
@pytest.mark.parametrize("n, seed", [(301, 0), (53, 1)])
def test_transformer_round_trip(n, seed):
    t = random_table(n, seed)
    tr = TableTransformer(seed=seed).fit(t)
    enc = tr.encode(t)
    assert enc.shape == (n, tr.dim) and enc.dtype == np.float32
    # spans tile the row; each one-hot part holds exactly one 1
    assert [s.start for s in tr.spans] == [0] + [s.end for s in tr.spans[:-1]] and tr.spans[-1].end == tr.dim
    for s in tr.spans:
        part = enc[:, s.start:s.end]
        if s.activation == "softmax":
            np.testing.assert_array_equal(part.sum(1), 1.0)
            assert set(np.unique(part)) <= {0.0, 1.0}
        else:
            assert np.all(np.abs(part) <= 1)
    dec = tr.decode(enc)
    assert dec.names == t.names and dec.discrete == t.discrete
    for c in t.discrete:
        np.testing.assert_array_equal(dec[c], t[c])
    for c in t.continuous:
        nm = tr.normalizers[c]
        s = next(sp for sp in tr.spans if sp.column == c and sp.activation == "tanh")
        mode = enc[:, s.end:s.end + nm.n_modes].argmax(1)
        unclipped = np.abs(t[c] - nm.means[mode]) <= 4 * nm.stds[mode] * (1 - 1e-6)
        assert unclipped.mean() > 0.9
        np.testing.assert_allclose(dec[c][unclipped], t[c][unclipped], rtol=1e-5, atol=1e-5 * np.ptp(t[c]))


def test_transformer_state_decodes_like_the_fitted_one():
    t = random_table()
    tr = TableTransformer().fit(t)
    enc = tr.encode(t)
    back = TableTransformer.from_state(tr.state_dict())
    assert back.dim == tr.dim and back.spans == tr.spans
    a, b = tr.decode(enc), back.decode(enc)
    for c in t.names:
        np.testing.assert_array_equal(a[c], b[c])
    with pytest.raises(RuntimeError, match="decoding only"):
        back.encode(t)


def test_transformer_bad_input_names_the_column_or_value():
    t = random_table()
    const = MixedTable({"a": t["a"], "k": np.full(len(t), "same")}, ["k"])
    with pytest.raises(ValueError, match="'k' is constant"):
        TableTransformer().fit(const)
    with pytest.raises(ValueError, match="'flat' is constant"):
        TableTransformer().fit(MixedTable({"flat": np.ones(20), "z": np.arange(20.0)}))
    tr = TableTransformer().fit(t)
    other = MixedTable({"a": t["a"], "colour": np.where(t["colour"] == "red", "purple", t["colour"]),
                        "b": t["b"], "label": t["label"]}, ["colour", "label"])
    with pytest.raises(ValueError, match="'colour' has no category 'purple'"):
        tr.encode(other)
    with pytest.raises(ValueError, match="columns"):
        tr.encode(MixedTable({"a": t["a"]}))
    with pytest.raises(ValueError, match=r"shape \[N, "):
        tr.decode(np.zeros((3, tr.dim + 1)))
    with pytest.raises(TypeError, match="table"):
        TableTransformer().fit(np.zeros((4, 2)))


# ---------------------------------------------------------------- conditional vector and sampling
def test_training_by_sampling_frequencies():
    t = random_table(400, 2)
    tr = TableTransformer().fit(t)
    s = ConditionalSampler(tr, t)
    n = 60000
    cb = s.sample_train(n, np.random.default_rng(0))
    assert cb.cond.shape == (n, s.dim) and cb.mask.shape == (n, 2)
    np.testing.assert_array_equal(cb.cond.sum(1), 1.0)
    np.testing.assert_array_equal(cb.mask.argmax(1), cb.column)
    # column uniform
    assert stats.chisquare(np.bincount(cb.column, minlength=2)).pvalue > 1e-3
    for j, c in enumerate(s.columns):
        counts = np.array([(t[c] == k).sum() for k in tr.categories[c]], dtype=float)
        drawn = np.bincount(cb.category[cb.column == j], minlength=len(counts))
        logf = np.log1p(counts) / np.log1p(counts).sum()
        assert stats.chisquare(drawn, logf * drawn.sum()).pvalue > 1e-3
        # the slot of the condition vector is the category's
        sel = np.flatnonzero(cb.column == j)[:50]
        np.testing.assert_array_equal(cb.cond[sel, s.offsets[j] + cb.category[sel]], 1.0)
    og = s.sample_original(n, np.random.default_rng(1))
    for j, c in enumerate(s.columns):
        counts = np.array([(t[c] == k).sum() for k in tr.categories[c]], dtype=float)
        drawn = np.bincount(og.category[og.column == j], minlength=len(counts))
        assert stats.chisquare(drawn, counts / counts.sum() * drawn.sum()).pvalue > 1e-3
    rows = s.sample_rows(cb, np.random.default_rng(2))
    for j, c in enumerate(s.columns):
        sel = cb.column == j
        np.testing.assert_array_equal(t[c][rows[sel]], np.asarray(tr.categories[c])[cb.category[sel]])


def test_user_condition_and_its_errors():
    t = random_table()
    tr = TableTransformer().fit(t)
    s = ConditionalSampler(tr, t)
    cb = s.condition({"colour": "green"}, 5)
    j = s.columns.index("colour")
    assert (cb.column == j).all() and (cb.cond[:, s.offsets[j] + tr.categories["colour"].index("green")] == 1).all()
    with pytest.raises(ValueError, match="'shape'"):
        s.condition({"shape": "round"}, 3)
    with pytest.raises(ValueError, match="'a'.*not a discrete column"):
        s.condition({"a": "1"}, 3)
    with pytest.raises(ValueError, match="no category 'pink'"):
        s.condition({"colour": "pink"}, 3)
    with pytest.raises(ValueError, match="one column"):
        s.condition({"colour": "red", "label": "no"}, 3)


def test_loader_batches_resume_and_shards():
    d = EncodedTable(random_table(211, 4))
    L = ConditionalLoader(d, 100, seed=7)
    b0, b1 = next(L), next(L)
    assert {k: tuple(v.shape) for k, v in b0.items()} == {"real": (100, d.transformer.dim), "cond_real": (100, 5),
                                                          "cond": (100, 5), "mask": (100, 2)}
    spans = [(s.start, s.end) for s in d.transformer.spans if s.discrete]
    real_onehot = np.concatenate([b0["real"][:, a:e].numpy() for a, e in spans], 1)
    np.testing.assert_array_equal((real_onehot * b0["cond_real"].numpy()).sum(1), 1.0)
    # the real rows' conditions are a permutation of G's conditions
    assert sorted(map(tuple, b0["cond_real"].numpy())) == sorted(map(tuple, b0["cond"].numpy()))
    L2 = ConditionalLoader(d, 100, seed=7)
    L2.load_state_dict(ConditionalLoader(d, 100, seed=7).state_dict() | {"position": 1})
    again = next(L2)
    assert all((again[k] == b1[k]).all() for k in b1) and not (b0["cond"] == b1["cond"]).all()
    shards = [next(ConditionalLoader(d, 100, seed=7, rank=r, world=4)) for r in range(4)]
    for k in b0:
        assert (np.concatenate([s[k] for s in shards]) == b0[k].numpy()).all()
    with pytest.raises(ValueError, match="batch"):
        ConditionalLoader(d, 99, world=2)


# ---------------------------------------------------------------- CSV and built-in tables
def test_csv_types_missing_values_and_round_trip(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("x,kind,y,code\n1.5,a,2,7\n2.5,b,NA,7\n-1,a,3,8\n,b,4,9\n")
    with pytest.raises(ValueError, match=r"line 3: column 'y' is missing"):
        read_table_csv(p)
    t = read_table_csv(p, missing="drop", discrete=["code"])
    assert len(t) == 2 and t.discrete == ("kind", "code") and t["x"].tolist() == [1.5, -1.0]
    t = read_table_csv(p, missing="impute")
    assert t["y"].tolist() == [2.0, 3.0, 3.0, 4.0] and t["x"][3] == 1.5 and t.discrete == ("kind",)
    with pytest.raises(ValueError, match="line 2: column 'kind' holds the non-numeric value 'a'"):
        read_table_csv(p, missing="drop", infer=False)
    q = tmp_path / "typo.csv"
    q.write_text("x,kind\n1.5,a\n2.5,b\n2,a\n3.x,b\n")
    with pytest.raises(ValueError, match="line 5: column 'x' holds the non-numeric value '3.x' among numbers"):
        read_table_csv(q)
    assert read_table_csv(q, discrete=["x"]).categories("x") == ("1.5", "2", "2.5", "3.x")
    with pytest.raises(ValueError, match="missing must be"):
        read_table_csv(p, missing="zero")
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        read_table_csv(p, discrete=["nope"])
    out = t.to_csv(tmp_path / "sub" / "o.csv")
    back = read_table_csv(out, discrete=t.discrete)
    for c in t.names:
        np.testing.assert_array_equal(back[c], t[c])
    assert not [f for f in os.listdir(tmp_path / "sub") if f.startswith(".tmp")]


def test_mixed_table_errors():
    with pytest.raises(ValueError, match="'v' holds the non-numeric value 'x'"):
        MixedTable({"v": np.array(["1", "x"], dtype=object)})
    with pytest.raises(ValueError, match="'w' has 3 rows"):
        MixedTable({"v": [1.0, 2.0], "w": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="NaN"):
        MixedTable({"v": [1.0, np.nan]})


@pytest.mark.parametrize("name, target, minority, share", [("breast_cancer", "diagnosis", "malignant", 0.37),
                                                           ("autompg", "origin", "europe", 0.17)])
def test_builtin_tables(name, target, minority, share):
    t = load_mixed_table(name)
    cats, counts = np.unique(t[target], return_counts=True)
    assert cats[np.argmin(counts)] == minority
    assert abs(counts.min() / len(t) - share) < 0.01
    tr, te = t.split(0.25, seed=0, stratify=target)
    assert len(tr) + len(te) == len(t)
    assert abs((te[target] == minority).mean() - (t[target] == minority).mean()) < 0.02


def test_numeric_features_share_one_layout():
    a, b = random_table(30, 0), random_table(20, 1)
    xa, xb = numeric_features(a, b, exclude=["label"])
    assert xa.shape[1] == xb.shape[1] == 2 + 3
    cols = sorted(set(a["colour"]) | set(b["colour"]))
    np.testing.assert_array_equal(xb[:, 1:4].argmax(1), [cols.index(v) for v in b["colour"]])
