"""The Fréchet distance and an exact, fast ``tr sqrtm(Σ1·Σ2)``, all in float64.

    FID = ||μ1 − μ2||² + tr Σ1 + tr Σ2 − 2·tr sqrtm(Σ1·Σ2)

The trace term (``trace_sqrt_product``) is computed without any matrix square root:

1. **Cholesky path.** With Σ1 = L1·L1ᵀ, Σ1·Σ2 is similar to the symmetric positive semidefinite
   M = L1ᵀ·Σ2·L1, so tr sqrtm(Σ1·Σ2) = Σ sqrt(max(λ_i(M), 0)).  On the CPU, M is formed with
   LAPACK ``dsygst`` (itype 2), which uses the triangular structure of L1 and the symmetry of
   Σ2 and M (about d³ flops instead of the 4·d³ of two general products), and the eigenvalues
   come from the symmetric eigenvalue driver (no eigenvectors).  L1 is the *cached factor*:
   :class:`FIDStats` of the real data keep it, so repeated FIDs against the same real
   statistics skip the Cholesky.
2. **Singular Σ.** If the Cholesky fails, a rank-revealing factor Σ1 = F·Fᵀ is used instead:
   pivoted Cholesky (LAPACK ``dpstrf``, cheap), or the eigen-factor F = V·sqrt(max(w, 0)) from
   ``eigh`` (columns with w ≤ d·ε·max(w) dropped) if that fails or on the torch backend.
   A factor with fewer columns than d goes to the thin path below.
3. **Data-factor path.** When a factor with fewer columns than d is at hand (the centred
   features of a set with n ≤ d, kept by :class:`StreamingMoments`), the trace is the nuclear
   norm of F1ᵀ·F2: an r1×r2 singular-value problem that is exact, while any d×d route suffers
   from the rank deficiency.
4. **eps only on failure.** If a factorisation fails or the result is not finite, ε·I is added
   to both covariances inside the trace term only, the computation is repeated, and the
   result records ``eps_added``.  No offset is ever added unconditionally.

Why float64 and why not sqrtm: FID's relative error is the trace term's relative error times
2·t/FID, and for two samples of one distribution that factor is several hundred.

GPU: ``backend="torch"`` (automatic for CUDA tensors) runs the same algorithm with
``torch.linalg`` in float64 (``M = L1ᵀ(Σ2·L1)`` by matmuls, then ``eigvalsh``).  :func:`fid_trace_sqrt` is the same
computation as the registered op ``fastgan::fid_trace_sqrt`` (CPU: LAPACK; CUDA: torch.linalg).

float32 (opt-in, ``precision="float32"``): Cholesky factors of both covariances in float32 and
the sum of the singular values of L1ᵀ·L2 (``svdvals``).  Working with singular values instead
of eigenvalues of a product avoids squaring the condition number.  Its error on the benchmark
data (k^-1.5 spectrum, n = 10,000; ``benchmarks/RESULTS_fid.md``): relative FID error about 2e-5
at d = 512, 3e-4 at d = 1024 and 1e-3 at d = 2048 when the two sets come from one distribution
(small FID, where FID amplifies the trace error several hundred times), about 1e-7 for large
FIDs.  Use it for quick monitoring only, never for reported numbers.  If a float32 Cholesky fails, the float64
path runs instead (recorded as ``float32_fallback``).  Newton–Schulz is not offered.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas as _blas
from scipy.linalg import lapack as _lapack

import torch

from ._result import MetricResult
from .factor import FACTOR_KINDS, factorize
from .stats import FIDStats, StreamingMoments, check_cov, check_mean  # noqa: F401  (re-exported)

__all__ = ["frechet_distance", "trace_sqrt_product", "fid_trace_sqrt", "fid_from_stats", "FIDStats",
           "StreamingMoments", "factorize", "EIG_DRIVER"]

# scipy eigvalsh driver of the CPU path.  benchmarks/bench_fid.py measures all of them: they cost
# the same (each reduces M with dsytrd and needs eigenvalues only); subset_by_value and torch's
# eigvalsh are slower.
EIG_DRIVER = "evd"
DEFAULT_EPS = 1e-6
_BACKENDS = ("auto", "numpy", "torch")
_PRECISIONS = ("float64", "float32")


def _is_thin(F, d: int) -> bool:
    return F is not None and F.shape[1] < d


# ----------------------------------------------------------------------------- numpy (CPU) core
def _eigvalsh_lower(M: np.ndarray, driver: str) -> np.ndarray:
    return sla.eigvalsh(M, lower=True, driver=driver, overwrite_a=True, check_finite=False)


def _product_np(F1, k1, F2, k2):
    """B = F1ᵀ·F2, using the triangular structure when one factor is a Cholesky factor."""
    if k1 == "cholesky":
        return _blas.dtrmm(1.0, F1, F2, side=0, lower=1, trans_a=1)
    if k2 == "cholesky":
        return _blas.dtrmm(1.0, F2, F1, side=0, lower=1, trans_a=1).T
    return F1.T @ F2


def _trace_np(s1, s2, F1, k1, F2, k2, driver):
    d = s1.shape[0]
    info = {}
    if _is_thin(F1, d) or _is_thin(F2, d):
        if F1 is None:
            F1, k1 = factorize(s1)
        if F2 is None:
            F2, k2 = factorize(s2)
        sv = sla.svdvals(_product_np(F1, k1, F2, k2), check_finite=False)
        info.update(path=f"{k1}x{k2}-factor-svd", factor_shapes=[list(F1.shape), list(F2.shape)])
        return float(np.sum(sv)), info, F1, k1, F2, k2
    if F1 is None and k2 == "cholesky":  # only side 2 has a cached factor: the trace is symmetric
        t, info, F2, k2, F1, k1 = _trace_np(s2, s1, F2, k2, None, None, driver)
        return t, info, F1, k1, F2, k2
    if F1 is None:
        F1, k1 = factorize(s1)
        if _is_thin(F1, d):  # rank-deficient Σ1: the smaller singular-value problem is exact
            return _trace_np(s1, s2, F1, k1, F2, k2, driver)
    if k1 == "cholesky":
        M, ginfo = _lapack.dsygst(s2, F1, itype=2, lower=1)  # lower triangle of L1ᵀ·Σ2·L1
        if ginfo != 0:
            raise np.linalg.LinAlgError(f"dsygst failed (info={ginfo})")
        path = "cholesky-sygst-eigvalsh"
    else:
        M = np.asfortranarray(F1.T @ (s2 @ F1))
        path = f"{k1}-factor-eigvalsh"
    w = _eigvalsh_lower(M, driver)
    info.update(path=path, eig_driver=driver, **_clip_info(w))
    return float(np.sum(np.sqrt(np.clip(w, 0.0, None)))), info, F1, k1, F2, k2


def _clip_info(w) -> dict:
    wmax = float(abs(w).max()) if len(w) else 0.0
    neg = float(-w[w < 0].sum()) if (w < 0).any() else 0.0
    if wmax > 0 and -float(w.min()) > 1e-6 * wmax:
        warnings.warn("trace_sqrt_product: the product of the covariances has clearly negative "
                      f"eigenvalues (min {float(w.min()):.3g}, max {wmax:.3g}); is each sigma "
                      "positive semidefinite?", RuntimeWarning, stacklevel=4)
    return {"negative_eig_mass": neg}


# ----------------------------------------------------------------------------- torch core
def _trace_torch(s1, s2, F1, k1, F2, k2, precision):
    d = s1.shape[0]
    if precision == "float32":
        L1, i1 = torch.linalg.cholesky_ex(s1.float())
        L2, i2 = torch.linalg.cholesky_ex(s2.float())
        if int(i1) == 0 and int(i2) == 0:
            sv = torch.linalg.svdvals(L1.mT @ L2)
            return float(sv.double().sum()), {"path": "float32-cholesky-svdvals"}, F1, k1, F2, k2
        t, info, F1, k1, F2, k2 = _trace_torch(s1, s2, F1, k1, F2, k2, "float64")
        info["float32_fallback"] = "float32 Cholesky failed; computed in float64"
        return t, info, F1, k1, F2, k2
    if _is_thin(F1, d) or _is_thin(F2, d):
        if F1 is None:
            F1, k1 = factorize(s1, backend="torch")
        if F2 is None:
            F2, k2 = factorize(s2, backend="torch")
        sv = torch.linalg.svdvals(F1.mT @ F2)
        return float(sv.sum()), {"path": f"{k1}x{k2}-factor-svd"}, F1, k1, F2, k2
    if F1 is None and k2 == "cholesky":
        t, info, F2, k2, F1, k1 = _trace_torch(s2, s1, F2, k2, None, None, precision)
        return t, info, F1, k1, F2, k2
    if F1 is None:
        F1, k1 = factorize(s1, backend="torch")
        if _is_thin(F1, d):
            return _trace_torch(s1, s2, F1, k1, F2, k2, precision)
    M = F1.mT @ (s2 @ F1)
    w = torch.linalg.eigvalsh(M)
    info = {"path": f"{k1}-factor-eigvalsh-torch", **_clip_info(w.cpu().numpy())}
    return float(w.clamp_min(0).sqrt().sum()), info, F1, k1, F2, k2


# ----------------------------------------------------------------------------- public API
def _pick_backend(backend, *arrays):
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    for a in arrays:
        if a is not None and type(a).__module__.startswith("torch") and a.device.type != "cpu":
            return "torch"
    return "numpy"


def _to_backend(x, backend, name, device=None):
    if x is None:
        return None
    if backend == "torch":
        t = torch.as_tensor(x)
        return t.to(device=device if device is not None else t.device, dtype=torch.float64)
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_factor(name, F, kind, d):
    if F is None:
        return
    if F.ndim != 2 or F.shape[0] != d:
        raise ValueError(f"{name} must have shape [{d}, r], got {tuple(F.shape)}")
    if kind not in FACTOR_KINDS:
        raise ValueError(f"{name}_kind must be one of {FACTOR_KINDS}, got {kind!r}")
    if kind == "cholesky" and F.shape[1] != d:
        raise ValueError(f"{name} of kind 'cholesky' must be square [{d}, {d}], got {tuple(F.shape)}")


def trace_sqrt_product(sigma1, sigma2, *, factor1=None, factor1_kind: str = "cholesky",
                       factor2=None, factor2_kind: str = "data", backend: str = "auto",
                       precision: str = "float64", eps: float = DEFAULT_EPS,
                       eig_driver: str | None = None, _state: dict | None = None) -> MetricResult:
    """tr(sqrtm(Σ1·Σ2)) for symmetric positive semidefinite Σ1, Σ2 (see the module docstring).

    Args:
        sigma1, sigma2: [d, d] covariances (numpy arrays or torch tensors; used in float64).
        factor1, factor2: optional known factors with Σ = F·Fᵀ ([d, r]); ``*_kind`` says what
            they are: ``"cholesky"`` (lower triangular d×d), ``"eigen"`` or ``"data"``
            (centred features / sqrt(n − ddof), r = n ≤ d: enables the exact thin path).
        backend: ``"numpy"`` (scipy LAPACK), ``"torch"`` (torch.linalg, any device) or
            ``"auto"`` (torch for CUDA tensors, else numpy).
        precision: ``"float64"`` (default) or ``"float32"`` (opt-in, see module docstring).
        eps: the offset added to both diagonals *only if* the computation fails.
        eig_driver: scipy ``eigvalsh`` driver for the CPU path (default :data:`EIG_DRIVER`).

    Returns:
        a :class:`MetricResult` (a float) whose ``conventions`` record ``path``, ``eps_added``,
        ``backend`` and ``precision``.
    """
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    driver = eig_driver or EIG_DRIVER
    if driver not in ("ev", "evd", "evr", "evx"):
        raise ValueError(f"eig_driver must be one of 'ev', 'evd', 'evr', 'evx', got {driver!r}")
    be = _pick_backend(backend, sigma1, sigma2)
    if precision == "float32":
        be = "torch"
    device = getattr(sigma1, "device", None)
    s1 = _to_backend(sigma1, be, "sigma1", device)
    s2 = _to_backend(sigma2, be, "sigma2", device)
    d = check_cov("sigma1", s1)
    if check_cov("sigma2", s2) != d:
        raise ValueError(f"sigma1 and sigma2 must have the same size, got {d} and {s2.shape[0]}")
    F1 = _to_backend(factor1, be, "factor1", device)
    F2 = _to_backend(factor2, be, "factor2", device)
    _check_factor("factor1", F1, factor1_kind, d)
    _check_factor("factor2", F2, factor2_kind, d)
    k1 = factor1_kind if F1 is not None else None
    k2 = factor2_kind if F2 is not None else None

    def run(a, b, F1, k1, F2, k2):
        if be == "torch":
            return _trace_torch(a, b, F1, k1, F2, k2, precision)
        # symmetric: a C-ordered matrix is its own Fortran-ordered transpose (no copy)
        a = a if a.flags.f_contiguous or not a.flags.c_contiguous else a.T
        b = b if b.flags.f_contiguous or not b.flags.c_contiguous else b.T
        return _trace_np(a, b, F1, k1, F2, k2, driver)

    eps_added = 0.0
    try:
        t, info, F1, k1, F2, k2 = run(s1, s2, F1, k1, F2, k2)
        failed = not math.isfinite(t)
        reason = "non-finite trace"
    except (np.linalg.LinAlgError, RuntimeError) as e:  # torch raises RuntimeError subclasses
        failed, reason = True, f"{type(e).__name__}: {e}"
    if failed:
        eye = (np.eye(d) if be == "numpy" else
               torch.eye(d, dtype=s1.dtype, device=s1.device))
        try:
            t, info, _, _, _, _ = run(s1 + eps * eye, s2 + eps * eye, None, None, None, None)
        except (np.linalg.LinAlgError, RuntimeError) as e:
            raise RuntimeError(f"trace_sqrt_product failed even with eps={eps} added: {e}") from e
        if not math.isfinite(t):
            raise RuntimeError(f"trace_sqrt_product: non-finite result even with eps={eps} added")
        eps_added = float(eps)
        info["eps_reason"] = reason
        F1 = k1 = F2 = k2 = None
    if _state is not None:  # lets callers (FIDStats) cache the factors that were computed
        _state.update(factor1=F1, kind1=k1, factor2=F2, kind2=k2)
    conv = {"eps_added": eps_added, "backend": be, "precision": precision, "dim": d, **info}
    return MetricResult("trace_sqrt", t, conventions=conv)


# ----------------------------------------------------------------------------- registered op
@torch.library.custom_op("fastgan::fid_trace_sqrt", mutates_args=())
def _fid_trace_sqrt_op(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr sqrtm(Σ1·Σ2) as a 0-d float64 tensor on the inputs' device: LAPACK (dsygst + eigvalsh) for CPU
    tensors, torch.linalg in float64 on the device for CUDA tensors."""
    be = "numpy" if sigma1.device.type == "cpu" else "torch"
    t = trace_sqrt_product(sigma1.detach(), sigma2.detach(), backend=be)
    return torch.tensor(float(t), dtype=torch.float64, device=sigma1.device)


@_fid_trace_sqrt_op.register_fake
def _(sigma1, sigma2):
    return sigma1.new_empty((), dtype=torch.float64)


def fid_trace_sqrt(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr sqrtm(Σ1·Σ2) through the registered op ``fastgan::fid_trace_sqrt`` (torch.compile traces it as one
    node): a 0-d float64 tensor on the inputs' device. CPU tensors take the LAPACK path of
    :func:`trace_sqrt_product`, CUDA tensors its torch.linalg path in float64; the inputs are used in float64.
    Not differentiable (FID is a metric). For cached factors, the thin data-factor path or the conventions
    record, call :func:`trace_sqrt_product`."""
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if not isinstance(s, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(s).__name__}")
        if not s.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {s.dtype}")
        if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 1:
            raise ValueError(f"{name} must be a square [d, d] matrix, got shape {tuple(s.shape)}")
    if sigma1.shape != sigma2.shape:
        raise ValueError(f"sigma1 and sigma2 must have the same size, got {tuple(sigma1.shape)} and "
                         f"{tuple(sigma2.shape)}")
    if sigma1.device != sigma2.device:
        raise ValueError(f"sigma1 is on {sigma1.device} but sigma2 is on {sigma2.device}")
    if sigma1.device.type not in ("cpu", "cuda"):
        raise ValueError(f"fid_trace_sqrt runs on CPU and CUDA tensors, got {sigma1.device}")
    return torch.ops.fastgan.fid_trace_sqrt(sigma1.to(torch.float64), sigma2.to(torch.float64))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, factor1=None, factor1_kind: str = "cholesky",
                     factor2=None, factor2_kind: str = "data", backend: str = "auto",
                     precision: str = "float64", eps: float = DEFAULT_EPS,
                     eig_driver: str | None = None, _state: dict | None = None) -> MetricResult:
    """The Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2), in float64.

    Returns a :class:`MetricResult` (a float): ``values`` hold ``fid``, ``mean_term`` and
    ``trace_term``; ``conventions`` hold the numerical path, ``eps_added``, backend, precision.
    The value is not clamped at zero: rounding can make an exact zero slightly negative
    (about 1e-12 relative to tr Σ), and a visibly negative number means a bug upstream.
    """
    be = _pick_backend(backend, mu1, sigma1, mu2, sigma2)
    m1 = _to_backend(mu1, "numpy", "mu1")
    m2 = _to_backend(mu2, "numpy", "mu2")
    d1, d2 = check_mean("mu1", m1), check_mean("mu2", m2)
    if d1 != d2:
        raise ValueError(f"mu1 and mu2 must have the same size, got {d1} and {d2}")
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if getattr(s, "ndim", None) != 2 or s.shape != (d1, d1):
            raise ValueError(f"{name} must have shape [{d1}, {d1}] to match the means, "
                             f"got {tuple(getattr(s, 'shape', ()))}")
    t = trace_sqrt_product(sigma1, sigma2, factor1=factor1, factor1_kind=factor1_kind,
                           factor2=factor2, factor2_kind=factor2_kind, backend=be,
                           precision=precision, eps=eps, eig_driver=eig_driver, _state=_state)
    diff = m1 - m2
    mean_term = float(diff @ diff)
    tr1 = float(_trace(sigma1))
    tr2 = float(_trace(sigma2))
    value = mean_term + tr1 + tr2 - 2.0 * float(t)
    return MetricResult("fid", value,
                        values={"mean_term": mean_term, "trace_term": float(t),
                                "trace_sigma1": tr1, "trace_sigma2": tr2},
                        conventions=dict(t.conventions))


def _trace(s):
    if type(s).__module__.startswith("torch"):
        return s.double().diagonal().sum().item()
    return np.trace(np.asarray(s, dtype=np.float64))


def fid_from_stats(real: FIDStats, fake: FIDStats, **kwargs) -> MetricResult:
    """FID between two :class:`FIDStats`; refuses stats of different feature networks or
    preprocessing.  ``real``'s Cholesky factor is computed once and cached on it, so periodic
    FIDs against the same real statistics skip that step; data factors (n ≤ d) of either side
    are used for the exact thin path.  ``kwargs`` go to :func:`frechet_distance`."""
    if not isinstance(real, FIDStats) or not isinstance(fake, FIDStats):
        raise TypeError("real and fake must be FIDStats, got "
                        f"{type(real).__name__} and {type(fake).__name__}")
    real.check_compatible(fake, "fake")
    if real.factor is None and not _is_thin(fake.factor, real.dim):
        real.ensure_factor()
    state: dict = {}
    res = frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma,
                           factor1=real.factor, factor1_kind=real.factor_kind or "cholesky",
                           factor2=fake.factor, factor2_kind=fake.factor_kind or "data",
                           _state=state, **kwargs)
    if real.factor is None and state.get("factor1") is not None and state.get("kind1") == "cholesky":
        real.factor, real.factor_kind = state["factor1"], "cholesky"
    res.conventions.update(real.conventions(prefix="real_"), **fake.conventions(prefix="fake_"))
    return res
