"""FID: the trace-sqrt algorithm against independent references (scipy sqrtm, brute force)."""
import threading

import numpy as np
import pytest
import scipy.linalg as sla
import torch

from fastgan.metrics import fid as F
from fastgan.metrics.fid import FIDStats, StreamingMoments, fid_from_stats, frechet_distance, trace_sqrt_product


def random_spd(rng, d, m=None, scale=1.0):
    m = m or d + 7
    a = rng.standard_normal((d, m)) * scale
    return a @ a.T / m


def sqrtm_trace(s1, s2):
    """Independent reference: the pytorch-fid/clean-fid formula in float64."""
    return float(np.trace(sla.sqrtm(s1 @ s2)).real)


def sqrtm_fid(mu1, s1, mu2, s2):
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * sqrtm_trace(s1, s2))


@pytest.mark.parametrize("d", [1, 3, 17, 64, 131])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_trace_matches_scipy_sqrtm(d, backend):
    rng = np.random.default_rng(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d, scale=3.0)
    got = trace_sqrt_product(s1, s2, backend=backend)
    ref = sqrtm_trace(s1, s2)
    assert abs(float(got) - ref) <= 1e-10 * abs(ref)
    assert got.conventions["eps_added"] == 0.0
    assert got.conventions["backend"] == backend


@pytest.mark.parametrize("driver", ["ev", "evd", "evr", "evx"])
def test_every_eig_driver_agrees_with_sqrtm(driver):
    rng = np.random.default_rng(5)
    s1, s2 = random_spd(rng, 29), random_spd(rng, 29)
    got = trace_sqrt_product(s1, s2, eig_driver=driver)
    assert got.conventions["eig_driver"] == driver
    assert abs(float(got) - sqrtm_trace(s1, s2)) <= 1e-10 * sqrtm_trace(s1, s2)


@pytest.mark.parametrize("d", [5, 40, 97])
def test_frechet_distance_matches_sqrtm_formula(d):
    rng = np.random.default_rng(100 + d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d, m=3 * d)
    got = frechet_distance(mu1, s1, mu2, s2)
    ref = sqrtm_fid(mu1, s1, mu2, s2)
    assert abs(float(got) - ref) <= 1e-10 * (np.trace(s1) + np.trace(s2))
    assert got.values["mean_term"] == pytest.approx(float(((mu1 - mu2) ** 2).sum()), rel=1e-14)
    # symmetric in its arguments, and the torch backend (same algorithm on torch.linalg) agrees
    assert float(frechet_distance(mu2, s2, mu1, s1)) == pytest.approx(ref, rel=1e-9)
    t = frechet_distance(*(torch.from_numpy(a) for a in (mu1, s1, mu2, s2)), backend="torch")
    assert float(t) == pytest.approx(ref, rel=1e-9)


def test_cached_cholesky_factor_is_used_and_exact():
    rng = np.random.default_rng(7)
    x1, x2 = rng.standard_normal((300, 23)), rng.standard_normal((400, 23)) * 1.3 + 0.1
    real = FIDStats.from_features(x1, "net", "prep")
    fake = FIDStats.from_features(x2, "net", "prep")
    assert real.factor is None  # n > d: no data factor
    first = fid_from_stats(real, fake)
    assert real.factor_kind == "cholesky"
    np.testing.assert_allclose(real.factor @ real.factor.T, real.sigma, rtol=0, atol=1e-13)
    second = fid_from_stats(real, fake)
    ref = sqrtm_fid(x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    assert float(first) == pytest.approx(ref, rel=1e-10)
    assert float(second) == pytest.approx(ref, rel=1e-10)
    assert second.conventions["path"] == "cholesky-sygst-eigvalsh"
    assert second.conventions["real_n"] == 300 and second.conventions["fake_n"] == 400


def test_identical_sets_give_zero_never_negative_or_nan():
    rng = np.random.default_rng(11)
    for n, d, scale in [(500, 31, 1.0), (40, 64, 1e3), (12, 50, 1e-4), (2000, 129, 1.0)]:
        x = rng.standard_normal((n, d)) * scale * np.linspace(0.01, 1, d)
        mu, s = x.mean(0), np.cov(x, rowvar=False)
        tr = np.trace(s)
        for kw in ({}, {"backend": "torch"}):
            val = float(frechet_distance(mu, s, mu, s, **kw))
            assert np.isfinite(val)
            assert val >= -1e-10 * max(tr, 1.0)
            assert abs(val) <= 1e-10 * tr
        st = FIDStats.from_features(x, "n", "p")
        val = float(fid_from_stats(st, FIDStats.from_features(x, "n", "p")))
        assert abs(val) <= 1e-10 * tr and val >= -1e-10 * max(tr, 1.0)


@pytest.mark.parametrize("n1,n2,d", [(9, 13, 40), (30, 30, 31), (50, 17, 77)])
def test_n_below_d_matches_brute_force_data_factor(n1, n2, d):
    rng = np.random.default_rng(n1 * n2)
    x1 = rng.standard_normal((n1, d)) * np.linspace(1, 0.1, d)
    x2 = rng.standard_normal((n2, d)) * np.linspace(0.5, 1, d) + 0.2
    # brute force: the nonzero eigenvalues of S1 S2 are the squared singular values of
    # X1c X2c^T / sqrt((n1-1)(n2-1)); sum them with an explicit loop-free but independent route:
    x1c, x2c = x1 - x1.sum(0) / n1, x2 - x2.sum(0) / n2
    g = (x1c @ x2c.T) / np.sqrt((n1 - 1) * (n2 - 1))
    lam = np.linalg.eigvalsh(g @ g.T)  # different decomposition from the code's SVD
    sv = np.linalg.svd(g, compute_uv=False)
    assert np.allclose(np.sort(np.sqrt(np.clip(lam, 0, None)))[::-1][:len(sv)], sv, atol=1e-6)
    t_ref = float(sv.sum())
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    fid_ref = float(((x1.mean(0) - x2.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * t_ref)
    a, b = FIDStats.from_features(x1, "n", "p"), FIDStats.from_features(x2, "n", "p")
    assert a.factor_kind == "data" and a.factor.shape == (d, n1)
    got = fid_from_stats(a, b)
    assert "data" in got.conventions["path"] and got.conventions["eps_added"] == 0.0
    assert float(got.values["trace_term"]) == pytest.approx(t_ref, rel=1e-12)
    assert float(got) == pytest.approx(fid_ref, rel=1e-10, abs=1e-12)
    # from the bare (singular) matrices: the eigen-factor fallback, still without eps
    bare = frechet_distance(x1.mean(0), s1, x2.mean(0), s2)
    assert bare.conventions["eps_added"] == 0.0 and "pivoted" in bare.conventions["path"]
    assert float(bare) == pytest.approx(fid_ref, rel=1e-8)
    torch_path = frechet_distance(x1.mean(0), s1, x2.mean(0), s2, backend="torch")
    # torch has no pivoted Cholesky: its Cholesky of the singular matrix either fails (eigen-factor) or,
    # with some torch builds, succeeds in rounding (cholesky-factor); either way without eps
    assert torch_path.conventions["eps_added"] == 0.0 and "factor" in torch_path.conventions["path"]
    assert float(torch_path) == pytest.approx(fid_ref, rel=1e-8)


def test_singular_sigma_uses_eigen_factor_without_eps():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((25, 6))
    s1 = a @ a.T  # rank 6
    s2 = random_spd(rng, 25)
    got = trace_sqrt_product(s1, s2)
    assert got.conventions["eps_added"] == 0.0 and got.conventions["path"].startswith("pivoted")
    # independent reference: s1 = a a^T, so the trace is the nuclear norm of s2^1/2 a
    # (s2^1/2 from eigh); sqrt of 19 zero eigenvalues would cost it ~1e-8 otherwise
    w, v = np.linalg.eigh(s2)
    r = (v * np.sqrt(w)) @ v.T
    ref = np.linalg.svd(r @ a, compute_uv=False).sum()
    assert float(got) == pytest.approx(ref, rel=1e-9)
    f, kind = F.factorize(s1)
    assert kind == "pivoted" and f.shape == (25, 6)
    np.testing.assert_allclose(f @ f.T, s1, atol=1e-12 * np.abs(s1).max())
    eig = trace_sqrt_product(s1, s2, backend="torch")
    assert eig.conventions["path"].startswith("eigen") and float(eig) == pytest.approx(ref, rel=1e-9)


def test_eps_only_on_failure_and_recorded(monkeypatch):
    rng = np.random.default_rng(9)
    s1, s2 = random_spd(rng, 12), random_spd(rng, 12)
    assert trace_sqrt_product(s1, s2).conventions["eps_added"] == 0.0
    real = F._trace_np
    calls = []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 1:
            raise np.linalg.LinAlgError("simulated failure")
        return real(*args)
    monkeypatch.setattr(F, "_trace_np", flaky)
    got = trace_sqrt_product(s1, s2, eps=1e-3)
    assert got.conventions["eps_added"] == 1e-3
    assert "simulated failure" in got.conventions["eps_reason"]
    eye = np.eye(12)
    assert float(got) == pytest.approx(sqrtm_trace(s1 + 1e-3 * eye, s2 + 1e-3 * eye), rel=1e-10)


def test_float32_mode_is_opt_in_and_close():
    rng = np.random.default_rng(4)
    s1, s2 = random_spd(rng, 48), random_spd(rng, 48)
    got = trace_sqrt_product(s1, s2, precision="float32")
    assert got.conventions["path"] == "float32-cholesky-svdvals"
    assert float(got) == pytest.approx(sqrtm_trace(s1, s2), rel=1e-5)


def test_streaming_equals_whole_batch_for_any_split():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((103, 19)) * 3 + 50  # large mean: tests the centring
    for ddof in (1, 0):
        ref_mu, ref_cov = x.mean(0), np.cov(x, rowvar=False, ddof=ddof)
        for splits in ([103], [1, 102], [10] * 10 + [3], [50, 1, 1, 51], [7] * 14 + [5]):
            acc = StreamingMoments(ddof=ddof, keep_rows=False)
            i = 0
            for b in splits:
                acc.update(torch.from_numpy(x[i:i + b]) if b == 7 else x[i:i + b])  # torch or numpy
                i += b
            np.testing.assert_allclose(acc.mean, ref_mu, rtol=1e-13)
            np.testing.assert_allclose(acc.cov, ref_cov, rtol=1e-11, atol=1e-11)
    stats = StreamingMoments().update(x[:60]).update(x[60:]).to_stats("n", "p")
    assert stats.conventions()["covariance"] == "unbiased (N-1)"
    assert StreamingMoments(ddof=0).update(x).to_stats("n", "p").conventions()["covariance"] == "biased (N)"


def test_all_reduce_across_simulated_ranks_equals_single_process():
    rng = np.random.default_rng(8)
    parts = [rng.standard_normal((m, 6)) + k for k, m in enumerate((5, 0, 17, 9))]
    world = len(parts)
    barrier = threading.Barrier(world)
    slots: list = [None] * world
    results: list = [None] * world

    def make_sum(rank):
        def sum_fn(a):
            slots[rank] = a.copy()
            barrier.wait()
            total = sum(slots)
            barrier.wait()
            return total
        return sum_fn

    def worker(rank):
        acc = StreamingMoments(dim=6)
        if len(parts[rank]):
            acc.update(parts[rank])
        results[rank] = acc.all_reduce(make_sum(rank))
    threads = [threading.Thread(target=worker, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    x = np.concatenate(parts)
    for acc in results:
        assert acc.n == len(x)
        np.testing.assert_allclose(acc.mean, x.mean(0), rtol=1e-13)
        np.testing.assert_allclose(acc.cov, np.cov(x, rowvar=False), rtol=1e-12, atol=1e-13)


def test_stats_save_load_roundtrip_and_id_checks(tmp_path):
    rng = np.random.default_rng(1)
    small = FIDStats.from_features(rng.standard_normal((10, 16)), "digits-v1", "none", source="unit")
    path = tmp_path / "s.npz"
    small.save(str(path))
    back = FIDStats.load(str(path))
    assert back.n == 10 and back.factor_kind == "data" and back.meta == {"source": "unit"}
    np.testing.assert_array_equal(back.sigma, small.sigma)
    np.testing.assert_array_equal(back.factor, small.factor)
    big = FIDStats.from_features(rng.standard_normal((40, 16)), "digits-v1", "none")
    big.ensure_factor()
    big.save(str(path))
    assert FIDStats.load(str(path)).factor is None  # cheap factors are not stored by default
    big.save(str(path), include_factor=True)
    assert FIDStats.load(str(path)).factor_kind == "cholesky"
    other_net = FIDStats(big.mu, big.sigma, 40, "inception-v3", "none")
    with pytest.raises(ValueError, match="feature network"):
        fid_from_stats(big, other_net)
    with pytest.raises(ValueError, match="preprocessing"):
        fid_from_stats(big, FIDStats(big.mu, big.sigma, 40, "digits-v1", "bilinear-299"))
    np.savez(tmp_path / "foreign.npz", mu=big.mu, sigma=big.sigma)
    with pytest.raises(ValueError, match="feature-network id"):
        FIDStats.load(str(tmp_path / "foreign.npz"))


def test_bad_input_raises_clear_errors():
    rng = np.random.default_rng(2)
    s = random_spd(rng, 4)
    mu = np.zeros(4)
    with pytest.raises(ValueError, match="sigma1 and sigma2"):
        trace_sqrt_product(s, random_spd(rng, 5))
    with pytest.raises(ValueError, match="mu1 and mu2"):
        frechet_distance(mu, s, np.zeros(5), s)
    with pytest.raises(ValueError, match="sigma2 must have shape"):
        frechet_distance(mu, s, mu, random_spd(rng, 5))
    bad = s.copy()
    bad[1, 2] = bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="sigma2 contains NaN"):
        frechet_distance(mu, s, mu, bad)
    with pytest.raises(ValueError, match="mu1 contains NaN"):
        frechet_distance(np.array([np.inf, 0, 0, 0]), s, mu, s)
    with pytest.raises(ValueError, match="not symmetric"):
        trace_sqrt_product(s + np.triu(np.ones((4, 4)), 1), s)
    with pytest.raises(ValueError, match="square"):
        trace_sqrt_product(np.ones((3, 4)), s)
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        FIDStats(mu, s, 1, "a", "b")
    with pytest.raises(ValueError, match="at least 2 samples"):
        StreamingMoments().update(rng.standard_normal((1, 4))).to_stats("a", "b")
    with pytest.raises(ValueError, match="features contain NaN"):
        StreamingMoments().update(np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="dimension 5, expected 4"):
        StreamingMoments(4).update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="precision"):
        trace_sqrt_product(s, s, precision="float16")
    with pytest.raises(ValueError, match="backend"):
        trace_sqrt_product(s, s, backend="jax")
    with pytest.raises(TypeError, match="real and fake"):
        fid_from_stats(s, s)
