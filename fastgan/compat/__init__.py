"""fastgan.compat: run existing StyleGAN2 code on fastgan's kernels without editing it.

    import fastgan.compat
    fastgan.compat.patch("stylegan2-ada")      # or "stylegan3", "rosinality", "auto"

or, for a script that cannot be edited,

    FASTGAN_PATCH=stylegan2-ada python train.py ...        (the .pth hook installed with fastgan)
    python -m fastgan.compat run train.py ...              (detects the code base next to train.py)

`patch` replaces the op functions of the code base (already imported, or when it is imported
later) with fastgan's, argument for argument:
- NVIDIA stylegan2-ada-pytorch / stylegan3 (`torch_utils.ops`): bias_act; upfirdn2d with
  setup_filter, filter2d, upsample2d, downsample2d; conv2d_resample; fma; and the networks'
  modulated_conv2d (training.networks / training.networks_stylegan2);
- rosinality stylegan2-pytorch (`op`): fused_leaky_relu, FusedLeakyReLU and upfirdn2d.
What has no fastgan counterpart (conv2d_gradfix, grid_sample_gradfix, StyleGAN3's filtered_lrelu
and its own modulated_conv2d) stays original; the returned PatchReport and a log line list
what was replaced and what was left, and why.

No JIT build: the ops' plugin loaders (`_init`, `custom_ops.get_plugin`) are disabled, and
torch.utils.cpp_extension.load/load_inline refuse calls from the patched code base's modules
(rosinality's import-time builds get a stand-in extension object instead). `unpatch` restores
every original.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Dict, Iterable, List, Optional

from . import _nvidia, _rosinality
from ._patcher import BlockedExtension, PatchReport, emit  # noqa: F401
from . import _patcher

CODEBASES = ("stylegan2-ada", "stylegan3", "rosinality")
_ALIASES = {"stylegan2-ada-pytorch": "stylegan2-ada", "stylegan2ada": "stylegan2-ada", "ada": "stylegan2-ada",
            "stylegan2-pytorch": "rosinality"}
IMPLS = ("auto", "ref", "cpu", "triton", "cuda")
# Files whose presence in a directory identifies a checkout (first match wins).
_MARKERS = (("stylegan3", os.path.join("torch_utils", "ops", "filtered_lrelu.py")),
            ("stylegan2-ada", os.path.join("torch_utils", "ops", "bias_act.py")),
            ("rosinality", os.path.join("op", "fused_act.py")))


def _spec(codebase):
    if codebase == "rosinality":
        return _rosinality.ROSINALITY, _rosinality.ROOTS, _rosinality.IMPORT_TIME_BUILDS
    table = _nvidia.STYLEGAN3 if codebase == "stylegan3" else _nvidia.STYLEGAN2_ADA
    return table, _nvidia.ROOTS, ()


def detect(paths: Optional[Iterable[str]] = None) -> Optional[str]:
    """The code base found in `paths` (default: sys.path, '' meaning the working directory), or None.

    Looks only at files (torch_utils/ops/filtered_lrelu.py, torch_utils/ops/bias_act.py,
    op/fused_act.py); it imports nothing, so nothing gets built.
    """
    for p in (sys.path if paths is None else paths):
        base = os.path.abspath(p or os.getcwd())
        for name, marker in _MARKERS:
            if os.path.isfile(os.path.join(base, marker)):
                return name
    return None


def resolve_codebase(codebase: str) -> str:
    """The canonical code base name for `codebase` ('auto' detects it); ValueError when unknown."""
    if not isinstance(codebase, str):
        raise TypeError(f"codebase must be a string, got {type(codebase).__name__}")
    name = _ALIASES.get(codebase.strip().lower(), codebase.strip().lower())
    if name == "auto":
        found = detect()
        if found is None:
            raise ValueError("codebase='auto' found no StyleGAN2 code base on sys.path (looked for "
                             + ", ".join(m for _, m in _MARKERS) + "); name it: " + ", ".join(CODEBASES))
        return found
    if name not in CODEBASES:
        raise ValueError(f"codebase must be one of {', '.join(CODEBASES)} or 'auto'; got {codebase!r}")
    return name


def patch(codebase: str = "auto", impl: str = "auto") -> PatchReport:
    """Run `codebase`'s ops on fastgan (backend `impl`: auto, ref, cpu, triton or cuda).

    Patches the modules already imported now and the others when they are imported. Returns the
    PatchReport (replaced, left with reasons, blocked JIT loaders, modules patched on import) and
    logs it as one line. Patching an already patched code base with the same impl returns its
    report; with another impl it re-patches.
    """
    name = resolve_codebase(codebase)
    if not isinstance(impl, str) or impl.lower() not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}; got {impl!r}")
    impl = impl.lower()
    with _patcher._lock:
        current = _patcher._active.get(name)
        if current is not None and current.impl == impl:
            return current.report
        if current is not None:
            unpatch(name)
        other = {"stylegan2-ada": "stylegan3", "stylegan3": "stylegan2-ada"}.get(name)
        if other in _patcher._active:
            raise ValueError(f"codebase {name!r} shares torch_utils with the patched {other!r}; "
                             f"fastgan.compat.unpatch({other!r}) first")
        targets, roots, import_time = _spec(name)
        p = _patcher.Patch(name, impl, targets, roots, import_time)
        _patcher._active[name] = p
        _patcher.guard.install()
        try:
            p.start()
        except BaseException:
            p.stop()
            del _patcher._active[name]
            if not _patcher._active:
                _patcher.guard.remove()
            raise
    emit(p.report.summary())
    return p.report


def unpatch(codebase: Optional[str] = None) -> List[str]:
    """Restore the originals of `codebase` (None: every patched code base); returns what was restored."""
    with _patcher._lock:
        names = list(_patcher._active) if codebase is None else [resolve_codebase(codebase)]
        restored = []
        for name in names:
            p = _patcher._active.pop(name, None)
            if p is not None:
                restored += p.stop()
        if not _patcher._active:
            _patcher.guard.remove()
    if restored:
        emit(f"fastgan.compat: unpatched {', '.join(names)}: restored {len(restored)} originals")
    return restored


@contextlib.contextmanager
def patched(codebase: str = "auto", impl: str = "auto"):
    """Context manager form of `patch`: yields the PatchReport, unpatches on exit (also on errors)."""
    name = resolve_codebase(codebase)
    outer = _patcher._active.get(name)
    report = patch(name, impl)
    try:
        yield report
    finally:
        if outer is None:
            unpatch(name)
        elif outer.impl != impl.lower():  # restore the enclosing patch's backend
            patch(name, outer.impl)


def active() -> Dict[str, PatchReport]:
    """The patched code bases and their reports."""
    with _patcher._lock:
        return {k: p.report for k, p in _patcher._active.items()}


__all__ = ["patch", "unpatch", "patched", "active", "detect", "PatchReport", "CODEBASES", "IMPLS"]
