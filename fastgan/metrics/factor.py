"""Factors Σ = F·Fᵀ of a covariance, for the FID trace term (``fastgan.metrics.fid``) and the cached
factor of :class:`fastgan.metrics.stats.FIDStats`. Both import it from here, so neither imports the other."""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import torch
from scipy.linalg import lapack as _lapack

__all__ = ["factorize", "FACTOR_KINDS"]

FACTOR_KINDS = ("cholesky", "pivoted", "eigen", "data")


def factorize(sigma, *, backend: str = "numpy"):
    """A factor F with Σ = F·Fᵀ, with its kind:

    * ``"cholesky"``: lower triangular d×d, when Σ is positive definite;
    * ``"pivoted"`` (CPU): rank-revealing pivoted Cholesky (LAPACK ``dpstrf``) of a singular Σ,
      F = P·L[:, :rank] with the default tolerance d·ε·max(diag Σ); O(d²·rank), so a singular
      Σ costs far less than an eigendecomposition;
    * ``"eigen"``: F = V·sqrt(w) over the eigenvalues w > d·ε·max(w) (torch, or if ``dpstrf``
      fails).
    Raises ``numpy.linalg.LinAlgError`` if the eigensolver fails too."""
    if backend == "torch":
        L, info = torch.linalg.cholesky_ex(sigma)
        if int(info) == 0:
            return L, "cholesky"
        w, V = torch.linalg.eigh(sigma)
        keep = w > w.max().clamp_min(0) * sigma.shape[0] * torch.finfo(sigma.dtype).eps
        return V[:, keep] * w[keep].sqrt(), "eigen"
    L, info = _lapack.dpotrf(sigma, lower=1, clean=1)
    if info == 0:
        return L, "cholesky"
    C, piv, rank, info = _lapack.dpstrf(sigma, lower=1)
    if info >= 0 and rank > 0:
        F = np.zeros((sigma.shape[0], rank), order="F")
        F[piv - 1, :] = np.tril(C[:, :rank])
        if np.isfinite(F).all():
            return F, "pivoted"
    w, V = sla.eigh(sigma, check_finite=False)
    keep = w > max(w.max(), 0.0) * sigma.shape[0] * np.finfo(np.float64).eps
    return np.asfortranarray(V[:, keep] * np.sqrt(w[keep])), "eigen"
