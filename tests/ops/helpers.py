"""Shared helpers for the op tests: backends to test, tolerances, layouts, comparison with the
float64 reference."""
from __future__ import annotations

import pytest
import torch

from fastgan.ops import _backend as B

# fused backends that can run on CPU tensors here (triton under TRITON_INTERPRET=1)
FUSED_CPU_BACKENDS = [b for b in ("cpu", "triton") if B.unavailable_reason(b, "cpu") is None]
ALL_CPU_BACKENDS = ["ref"] + FUSED_CPU_BACKENDS

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
# (rtol, atol) of a backend's output in `dtype` against the float64 reference
TOL = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}
LAYOUTS = ["contiguous", "channels_last", "noncontiguous"]


def backend_params(backends=None):
    """pytest params for the backends, with the triton ones marked so they can be deselected."""
    out = []
    for b in backends or FUSED_CPU_BACKENDS:
        marks = [pytest.mark.triton] if b == "triton" else []
        out.append(pytest.param(b, marks=marks, id=b))
    return out


def backend_cases(backends, cases, keep=lambda backend, case: True):
    """pytest params of (backend, case) pairs for which keep() holds: combinations that do not apply are never
    generated (rather than generated and skipped). A case is a tuple of the test's other arguments."""
    out = []
    for b in backends or FUSED_CPU_BACKENDS:
        marks = [pytest.mark.triton] if b == "triton" else []
        for case in cases:
            if keep(b, case):
                out.append(pytest.param(b, *case, marks=marks, id="-".join([b, *map(str, case)])))
    return out


def randn(*shape, dtype=torch.float32, layout="contiguous", scale=1.0, requires_grad=False):
    """Random normal tensor (never zeros) in the requested memory layout."""
    if layout == "noncontiguous":
        # every other element of the last dim, so no stride is canonical
        big = (torch.randn(*shape[:-1], shape[-1] * 2, dtype=torch.float64) * scale).to(dtype)
        t = big[..., ::2]
    else:
        t = (torch.randn(*shape, dtype=torch.float64) * scale).to(dtype)
        if layout == "channels_last" and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
    if layout == "noncontiguous":
        assert not t.is_contiguous()
    return t.requires_grad_(requires_grad)


def assert_close(actual, expected64, dtype, scale=1.0, msg=""):
    """Compare a backend result with the float64 reference, tolerance chosen by dtype."""
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(actual.double(), expected64.double(), rtol=rtol, atol=atol * scale, msg=msg or None)
