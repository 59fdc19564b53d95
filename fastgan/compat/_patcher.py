"""The mechanics of fastgan.compat: swap attributes, rebind copies, patch on import, block JIT builds.

A patch replaces each target attribute in its module (or class), and every other reference to the
original function that a loaded module holds in its globals (`from op import upfirdn2d` binds a
copy). Modules not imported yet are patched the moment they are: a meta path finder wraps their
loader. While any patch is active, torch.utils.cpp_extension.load / load_inline are guarded: a call
from the patched code base's modules never compiles; a module that builds at import time gets a
stand-in extension object, any other caller gets a RuntimeError. Unpatching restores everything
that still holds the replacement.
"""
from __future__ import annotations

import importlib.abc
import inspect
import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Dict, List

log = logging.getLogger("fastgan.compat")
_lock = threading.RLock()
_active: Dict[str, "Patch"] = {}


def emit(line: str) -> None:
    """Log `line` at INFO on the "fastgan.compat" logger. Where that would not show (no handler, or INFO
    disabled by an ancestor's level), print it to stderr instead; only an explicit level on the
    "fastgan.compat" logger itself above INFO silences it."""
    if log.isEnabledFor(logging.INFO) and log.hasHandlers():
        log.info(line)
    elif log.level == logging.NOTSET or log.level <= logging.INFO:
        print(line, file=sys.stderr, flush=True)


@dataclass
class PatchReport:
    """What a patch did. replaced/blocked/pending: dotted names; left: name -> why it stays original."""

    codebase: str
    impl: str
    replaced: List[str] = field(default_factory=list)
    left: Dict[str, str] = field(default_factory=dict)
    blocked: List[str] = field(default_factory=list)
    pending: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"fastgan.compat: {self.codebase} (impl={self.impl}): replaced {len(self.replaced)}"
                 + (f" [{', '.join(self.replaced)}]" if self.replaced else "")]
        if self.blocked:
            parts.append(f"JIT builds blocked [{', '.join(self.blocked)}]")
        if self.pending:
            parts.append(f"patched when imported [{', '.join(self.pending)}]")
        if self.left:
            left = "; ".join(f"{k}: {v}" for k, v in self.left.items())
            parts.append(f"left original {len(self.left)} [{left}]")
        parts += self.notes
        return "; ".join(parts)

    __str__ = summary


class BlockedExtension:
    """Stands in for an extension that a module builds at import time; every attribute access raises."""

    def __init__(self, name: str, module: str):
        self._name, self._module = name, module

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(f"the {self._name!r} extension of {self._module} was never built: fastgan.compat blocked "
                           f"its JIT build and replaced the functions that use it; call those instead")

    def __repr__(self):
        return f"<extension {self._name!r} not built (fastgan.compat)>"


def _under(name: str, roots) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


class Patch:
    """One code base patched with one backend."""

    def __init__(self, codebase: str, impl: str, targets, roots, import_time_builds=()):
        self.codebase, self.impl, self.roots = codebase, impl, tuple(roots)
        self.import_time_builds = tuple(import_time_builds)
        self.by_module: Dict[str, list] = {}
        for t in targets:
            self.by_module.setdefault(t.module, []).append(t)
        self.records: list = []  # (owner, attr, original, replacement)
        self.report = PatchReport(codebase, impl)

    # -------------------------------------------------------------- applying
    def start(self) -> None:
        r = self.report
        r.blocked.append(f"torch.utils.cpp_extension.load/load_inline from {', '.join(m + '.*' for m in self.roots)}")
        for t in (t for ts in self.by_module.values() for t in ts):
            if t.make is None:
                r.left[t.name] = t.note
        swaps = {}
        for name in self.by_module:
            module = sys.modules.get(name)
            if module is None:
                r.pending.append(name)
            else:
                swaps.update(self.apply_module(module))
                if name in self.import_time_builds and not any(isinstance(v, BlockedExtension)
                                                               for v in list(vars(module).values())):
                    r.notes.append(f"{name} was imported before the patch, so its import-time JIT build had already "
                                   f"run (patch first, or set FASTGAN_PATCH, to skip it)")
        self._rebind(swaps)

    def apply_module(self, module) -> dict:
        """Patch the targets of one (just imported) module; returns {id(original): (original, replacement)}."""
        r = self.report
        swaps = {}
        for t in self.by_module.get(module.__name__, ()):
            if t.make is None:
                continue
            owner_name, _, attr = t.attr.rpartition(".")
            owner = module
            if owner_name:
                owner = vars(module).get(owner_name)
            original = vars(owner).get(attr) if owner is not None else None
            if original is None:
                r.left[t.name] = f"not found in {module.__name__}"
                continue
            if getattr(original, "_fastgan_original", None) is not None:
                continue  # already ours
            why = _signature_mismatch(original, t.params)
            if why:
                r.left[t.name] = why
                continue
            replacement = t.make(original, self.impl)
            setattr(owner, attr, replacement)
            self.records.append((owner, attr, original, replacement))
            if not owner_name:
                swaps[id(original)] = (original, replacement)
            done = r.blocked if t.kind == "jit" else r.replaced
            if t.name not in done:
                done.append(t.name)
            r.left.pop(t.name, None)
        if module.__name__ in r.pending:
            r.pending.remove(module.__name__)
        return swaps

    def _rebind(self, swaps: dict) -> None:
        """Point every other loaded module's global that holds an original at its replacement."""
        if not swaps:
            return
        for mod in list(sys.modules.values()):
            d = getattr(mod, "__dict__", None)
            if not isinstance(d, dict) or getattr(mod, "__name__", "").startswith("fastgan."):
                continue
            for k, v in list(d.items()):
                hit = swaps.get(id(v))
                if hit is not None and hit[0] is v:
                    d[k] = hit[1]
                    self.records.append((mod, k, hit[0], hit[1]))

    # -------------------------------------------------------------- undoing
    def stop(self) -> List[str]:
        """Restore every attribute that still holds a replacement; returns the names restored."""
        restored, changed = [], []
        back = {}
        for owner, attr, original, replacement in reversed(self.records):
            back[id(replacement)] = (replacement, original)
            if vars(owner).get(attr) is replacement:
                setattr(owner, attr, original)
                restored.append(f"{getattr(owner, '__name__', owner)}.{attr}")
            else:
                changed.append(f"{getattr(owner, '__name__', owner)}.{attr}")
        for mod in list(sys.modules.values()):  # copies bound after the patch (e.g. `from op import upfirdn2d`)
            d = getattr(mod, "__dict__", None)
            if not isinstance(d, dict):
                continue
            for k, v in list(d.items()):
                hit = back.get(id(v))
                if hit is not None and hit[0] is v:
                    d[k] = hit[1]
        self.records.clear()
        if changed:
            emit(f"fastgan.compat: unpatch {self.codebase}: left as they are (changed since the patch): "
                 f"{', '.join(changed)}")
        return restored

    def owns(self, module_name: str) -> bool:
        return _under(module_name, self.roots)


def _param_names(fn):
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None


def _signature_mismatch(fn, params) -> str:
    """Why `fn` is not the function expected (its leading parameters differ from `params`), or ''.

    A decorator that hides the signature behind (*args, **kwargs) without functools.wraps (NVIDIA's
    misc.profiled_function) is looked through: the function it closes over is checked instead.
    """
    if not params:
        return ""
    ps = _param_names(fn)
    if ps is None:
        return "its signature cannot be read"
    if ps and all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ps):
        inner = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
                 if callable(getattr(c, "cell_contents", None))
                 and getattr(c.cell_contents, "__name__", None) == getattr(fn, "__name__", None)]
        if len(inner) == 1:
            return _signature_mismatch(inner[0], params)
        return "it is wrapped in (*args, **kwargs) and the function inside cannot be checked"
    names = [p.name for p in ps]
    if names[:len(params)] != list(params):
        return f"its signature ({', '.join(names)}) differs from the expected ({', '.join(params)}, ...)"
    return ""


# ------------------------------------------------------------------ patch on import
class _Loader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        with _lock:
            for p in list(_active.values()):
                if module.__name__ in p.by_module:
                    before = set(p.report.replaced + p.report.blocked)
                    p.apply_module(module)
                    new = [n for n in p.report.replaced + p.report.blocked if n not in before]
                    if new:
                        emit(f"fastgan.compat: {p.codebase}: patched {module.__name__} on import: "
                             f"replaced [{', '.join(new)}]")

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        with _lock:
            if not any(fullname in p.by_module for p in _active.values()):
                return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader)
        return spec


_finder = _Finder()


# ------------------------------------------------------------------ the JIT guard
class _Guard:
    def __init__(self):
        self.saved = None

    def install(self):
        if self.saved is not None:
            return
        import torch.utils.cpp_extension as ext  # slow to import (~1 s); only when patching its loader

        self.saved = {name: getattr(ext, name) for name in ("load", "load_inline")}
        for name, real in self.saved.items():
            setattr(ext, name, _guarded(real, name))
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)

    def remove(self):
        if self.saved is None:
            return
        import torch.utils.cpp_extension as ext  # slow to import (~1 s); only when patching its loader

        for name, real in self.saved.items():
            if getattr(getattr(ext, name), "_fastgan_compat_guard", False):
                setattr(ext, name, real)
        self.saved = None
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


guard = _Guard()


def _guarded(real, kind):
    def guarded(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        with _lock:
            owner = next((p for p in _active.values() if p.owns(caller)), None)
        if owner is None:
            return real(*args, **kwargs)
        name = kwargs.get("name", args[0] if args else "?")
        if caller in owner.import_time_builds:
            entry = f"{caller}: import-time cpp_extension.{kind}({name!r})"
            if entry not in owner.report.blocked:
                owner.report.blocked.append(entry)
            emit(f"fastgan.compat: {owner.codebase}: skipped the JIT build of {name!r} in {caller} "
                 f"(its functions run on fastgan)")
            return BlockedExtension(str(name), caller)
        raise RuntimeError(f"fastgan.compat blocks cpp_extension.{kind}({name!r}) called from {caller} while "
                           f"{owner.codebase} is patched (fastgan.compat.unpatch() lifts the block)")

    guarded._fastgan_compat_guard = True
    guarded.__wrapped__ = real
    guarded.__name__ = kind
    return guarded
