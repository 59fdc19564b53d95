"""Benchmark of the FID trace term: speed and error of three formulas, in one run.

    python benchmarks/bench_fid.py [--dims 512,1024,2048] [--n 10000] [--reps 3]

Data: for each d, features x = z·diag(k^-0.75)·Qᵀ (z ~ N(0, I), Q a random rotation), so the
covariance spectrum decays as λ_k ∝ k^-1.5.  Cases:

* ``small``: two independent sets of n features from that one distribution (small FID, the
  case where FID amplifies the trace error by 2t/FID, several hundred);
* ``large``: the second set from another rotation, spectrum k^-1.2 and a shifted mean;
* ``n<d``: two sets of n = d/2 features from one distribution (singular covariances).

Formulas, each timed for the whole trace term from (Σ1, Σ2):

* ``scipy sqrtm``: ``tr(scipy.linalg.sqrtm(Σ1·Σ2))``, the formula of pytorch-fid and clean-fid;
* ``torch eigvals``: ``torch.linalg.eigvals(Σ1·Σ2).sqrt().real.sum()``, torchmetrics' formula;
* ``ours (cold)``: ``fastgan.metrics.frechet_distance`` from the bare matrices (Cholesky included);
* ``ours (cached)``: ``fid_from_stats`` with the real stats' Cholesky factor already cached, as in
  periodic FID during training; for n < d the stats carry their data factors (exact path);
* ``ours torch``/``ours float32``: the torch.linalg path in float64 and the opt-in float32 mode.

Errors are relative FID errors against a float64 reference computed differently from all of
these: the sum of singular values of L1ᵀ·L2 (Cholesky factors, LAPACK gesdd), which has
absolute singular-value error ~ε·σ_max instead of the ε·λ_max/(2·sqrt(λ)) of an eigenvalue
route; for n < d the singular values of X1c·X2cᵀ/sqrt((n1−1)(n2−1)) with the product formed
in extended precision (numpy longdouble).  A second table compares the symmetric eigenvalue
routes on M = L1ᵀΣ2L1 and the ways to form M.

Writes ``benchmarks/RESULTS_fid.md`` (markdown) and ``benchmarks/RESULTS_fid.csv``.
Timings are medians of ``--reps`` runs (``--slow-reps`` for the two baselines), all in one
process, taken round robin so that every method sees the same background load; on a shared
machine read the ratios, not the absolute seconds.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys


def _threads_from_argv(argv) -> str:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# BLAS/OpenMP thread pools are sized at import: set them first.  One thread by default, because
# on a shared 2-core machine a 2-thread BLAS whose second thread is descheduled can run 10x
# slower and turns every ratio into noise.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads_from_argv(sys.argv)
import platform
import statistics
import time

import numpy as np
import scipy
import scipy.linalg as sla
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fastgan.metrics import fid as F  # noqa: E402
from fastgan.metrics.stats import FIDStats  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(fn, reps):
    ts, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def make_sets(d, n, rng):
    """Return {case: (X1, X2)} float64 feature matrices."""
    def rot():
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        return q * np.sign(np.diag(r))
    k = np.arange(1, d + 1, dtype=np.float64)
    q1, q2 = rot(), rot()
    s1 = k ** -0.75
    s2 = k ** -0.6
    shift = rng.standard_normal(d) * 0.05

    def draw(m, s, q, mu=0.0):
        return (rng.standard_normal((m, d)) * s) @ q.T + mu
    return {"small": (draw(n, s1, q1), draw(n, s1, q1)),
            "large": (draw(n, s1, q1), draw(n, s2, q2, shift)),
            "n<d": (draw(d // 2, s1, q1), draw(d // 2, s1, q1))}


def reference_trace(X1, X2, S1, S2):
    d = S1.shape[0]
    if X1.shape[0] <= d:  # exact data-factor value, product in extended precision
        x1 = (X1 - X1.mean(0)).astype(np.longdouble)
        x2 = (X2 - X2.mean(0)).astype(np.longdouble)
        B = (x1 @ x2.T).astype(np.float64)
        return float(sla.svdvals(B).sum() / np.sqrt((X1.shape[0] - 1) * (X2.shape[0] - 1)))
    L1 = np.linalg.cholesky(S1)
    L2 = np.linalg.cholesky(S2)
    return float(sla.svdvals(L1.T @ L2).sum())


def run_case(d, case, X1, X2, args, rows):
    stats1 = FIDStats.from_features(X1, "bench", "none")
    stats2 = FIDStats.from_features(X2, "bench", "none")
    mu1, S1, mu2, S2 = stats1.mu, stats1.sigma, stats2.mu, stats2.sigma
    base = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(S1) + np.trace(S2))
    t_ref = reference_trace(X1, X2, S1, S2)
    fid_ref = base - 2 * t_ref
    S1t, S2t = torch.from_numpy(S1), torch.from_numpy(S2)

    def scipy_sqrtm():
        return float(np.trace(sla.sqrtm(S1 @ S2)).real)

    def torch_eigvals():
        return float(torch.linalg.eigvals(S1t @ S2t).sqrt().real.sum())

    def ours_cold():
        return float(F.frechet_distance(mu1, S1, mu2, S2).values["trace_term"])

    def ours_cached():
        return float(F.fid_from_stats(stats1, stats2).values["trace_term"])

    def ours_torch():
        return float(F.trace_sqrt_product(S1t, S2t, backend="torch"))

    def ours_f32():
        return float(F.trace_sqrt_product(S1t, S2t, precision="float32"))

    ours_cached()  # warm-up: caches the real stats' factor
    methods = [("scipy sqrtm", scipy_sqrtm, args.slow_reps), ("torch eigvals", torch_eigvals, args.slow_reps),
               ("ours (cold)", ours_cold, args.reps), ("ours (cached)", ours_cached, args.reps),
               ("ours torch float64", ours_torch, args.reps), ("ours float32 (opt-in)", ours_f32, args.reps)]
    # round robin: every round times each method once (the slow baselines only in their first
    # --slow-reps rounds), so all methods see the same background load on a shared machine
    times: dict = {name: [] for name, _, _ in methods}
    traces: dict = {}
    for r in range(max(args.reps, args.slow_reps)):
        for name, fn, reps in methods:
            if r >= reps:
                continue
            with np.errstate(all="ignore"):
                try:
                    sec, t = timed(fn, 1)
                except Exception as e:  # a baseline that fails is a result too
                    print(f"  {name} failed: {e}", flush=True)
                    sec, t = float("nan"), float("nan")
            times[name].append(sec)
            traces[name] = t
    res = {}
    for name, _, _ in methods:
        sec, fid = statistics.median(times[name]), base - 2 * traces[name]
        res[name] = (sec, fid)
        print(f"d={d:5d} {case:6s} {name:22s} {sec:8.3f}s  FID={fid:.10g}  ref={fid_ref:.10g}", flush=True)
    for name, (sec, fid) in res.items():
        rows.append({"d": d, "case": case, "n": X1.shape[0], "method": name, "seconds": sec,
                     "speedup_vs_scipy": res["scipy sqrtm"][0] / sec,
                     "speedup_vs_eigvals": res["torch eigvals"][0] / sec,
                     "fid": fid, "fid_ref": fid_ref, "amplification_2t_over_fid": 2 * t_ref / fid_ref,
                     "rel_fid_error": abs(fid - fid_ref) / abs(fid_ref)})
    return stats1, stats2


def eig_routes(d, stats1, stats2, reps, rows):
    """Time the pieces of the Cholesky path: forming M and its eigenvalues."""
    S1, S2 = np.asfortranarray(stats1.sigma), np.asfortranarray(stats2.sigma)
    L1 = np.linalg.cholesky(S1)
    L1f = np.asfortranarray(L1)
    M = np.asfortranarray(L1.T @ S2 @ L1)
    Mt = torch.from_numpy(np.ascontiguousarray(M))
    pieces = [
        ("cholesky (scipy dpotrf)", lambda: sla.lapack.dpotrf(S1, lower=1, clean=1)),
        ("M: two general matmuls", lambda: L1.T @ (S2 @ L1)),
        ("M: two dtrmm", lambda: sla.blas.dtrmm(1.0, L1f, sla.blas.dtrmm(1.0, L1f, S2, side=1, lower=1),
                                                 side=0, lower=1, trans_a=1)),
        ("M: dsygst itype=2 (ours)", lambda: sla.lapack.dsygst(S2, L1f, itype=2, lower=1)),
    ]
    for drv in ("ev", "evd", "evr", "evx"):
        pieces.append((f"eig: scipy eigvalsh driver={drv}",
                       lambda drv=drv: sla.eigvalsh(M, lower=True, driver=drv, check_finite=False)))
    pieces.append(("eig: scipy evr subset_by_value (0, inf)",
                   lambda: sla.eigvalsh(M, lower=True, driver="evr", subset_by_value=(0.0, np.inf),
                                        check_finite=False)))
    pieces.append(("eig: torch.linalg.eigvalsh", lambda: torch.linalg.eigvalsh(Mt)))
    for name, fn in pieces:
        sec, _ = timed(fn, reps)
        rows.append({"d": d, "step": name, "seconds": sec})
        print(f"d={d:5d} {name:42s} {sec:8.3f}s", flush=True)


def summary(rows) -> list:
    """Lines checking the targets at the largest d: >= 20x scipy, >= 5x eigvals, error <= 1e-9."""
    dmax = max(r["d"] for r in rows)
    out = [f"**At d = {dmax}** (targets: at least 20x faster than scipy sqrtm, 5x than torch eigvals, "
           "relative FID error at most 1e-9, exact for n < d):", ""]
    for method in ("ours (cached)", "ours (cold)"):
        sel = [r for r in rows if r["d"] == dmax and r["method"] == method]
        if not sel:
            continue
        parts = [f"{r['case']}: {r['speedup_vs_scipy']:.1f}x / {r['speedup_vs_eigvals']:.1f}x, "
                 f"error {r['rel_fid_error']:.1e}" for r in sel]
        out.append(f"- {method}, speedup vs scipy / vs eigvals: " + "; ".join(parts))
    f32 = [r for r in rows if r["method"].startswith("ours float32") and r["case"] == "small"]
    if f32:
        out.append("- float32 opt-in mode, relative FID error on the small-FID case: " +
                   ", ".join(f"d={r['d']}: {r['rel_fid_error']:.1e}" for r in f32))
    return out


def write_results(rows, steps, args, path_md, path_csv):
    with open(path_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    lines = ["# FID trace term: speed and accuracy", "",
             f"`python benchmarks/bench_fid.py --dims {args.dims} --n {args.n} --reps {args.reps} "
             f"--slow-reps {args.slow_reps} --threads {args.threads}`", "",
             f"Machine: {os.cpu_count()} CPU cores, shared with other jobs while this ran (load average "
             f"{args.load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end), "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, "
             f"scipy {scipy.__version__}, Python {platform.python_version()}.  "
             "Median seconds; speedups are ratios measured in this one run.  Relative FID error is "
             "against the float64 reference described in the script's docstring; "
             "'2t/FID' is the factor by which FID amplifies a relative error of the trace term.", "",
             *summary(rows), "",
             "| d | case | n | method | seconds | x vs scipy | x vs eigvals | FID | rel. FID error | 2t/FID |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['d']} | {r['case']} | {r['n']} | {r['method']} | {r['seconds']:.3f} | "
                     f"{r['speedup_vs_scipy']:.1f} | {r['speedup_vs_eigvals']:.1f} | {r['fid']:.6g} | "
                     f"{r['rel_fid_error']:.1e} | {r['amplification_2t_over_fid']:.0f} |")
    lines += ["", "## Where the time goes (small case)", "",
              "| d | step | seconds |", "|---:|---|---:|"]
    lines += [f"| {s['d']} | {s['step']} | {s['seconds']:.3f} |" for s in steps]
    lines += ["", "## Notes", "",
              "- Compare the ways of forming M (dsygst vs matmuls vs dtrmm) and the eigenvalue routes in the "
              "table above: every scipy eigvalsh driver reduces M with dsytrd, so they cost about the same.",
              "- One thread per library by default (--threads): on a shared 2-core machine a 2-thread BLAS "
              "whose second thread is descheduled slows down unpredictably.", ""]
    with open(path_md, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path_md} and {path_csv}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", default="512,1024,2048")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--slow-reps", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads (default 1)")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS_fid.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.load_start = os.getloadavg()[0]
    rows, steps = [], []
    for d in [int(x) for x in args.dims.split(",")]:
        rng = np.random.default_rng(args.seed + d)
        sets = make_sets(d, args.n, rng)
        for case, (X1, X2) in sets.items():
            s1, s2 = run_case(d, case, X1, X2, args, rows)
            if case == "small":
                eig_routes(d, s1, s2, args.reps, steps)
        del sets
    write_results(rows, steps, args, args.out, os.path.splitext(args.out)[0] + ".csv")


if __name__ == "__main__":
    main()
