"""fastgan's import graph from the source (ast only, nothing is imported or run).

    python scripts/import_graph.py            # package cycles, module cycles, function-level imports

Prints the cycles between the top-level packages of ``fastgan`` (``ops``, ``nn``, ``models``, ...),
the cycles between modules, and the function-level imports (with their line and whether a
comment gives the reason). ``tests/test_import_order.py`` checks the same graph against the
layer order of ``docs/ARCHITECTURE.md``.
"""
from __future__ import annotations

import ast
import dataclasses
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fastgan")


@dataclasses.dataclass(frozen=True)
class Edge:
    src: str          # importing module, e.g. fastgan.models.cgan
    dst: str          # imported fastgan module (a package or a module)
    line: int
    local: bool       # inside a function (or method) body
    reason: bool      # a comment on the import's line or the line above it


def module_name(path: str, root: str = ROOT) -> str:
    rel = os.path.relpath(path, os.path.dirname(root))[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _modules(root: str) -> dict[str, str]:
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(d, f)
                out[module_name(p, root)] = p
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = mod.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def edges(root: str = ROOT) -> list[Edge]:
    """Every import in a fastgan module (of any module: filter with :func:`fastgan_edges`)."""
    mods = _modules(root)
    out = []
    for mod, path in sorted(mods.items()):
        src = open(path, encoding="utf-8").read()
        lines = src.splitlines()
        tree = ast.parse(src, path)
        is_pkg = path.endswith("__init__.py")
        local_nodes = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        local_nodes.add(id(n))
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                base = _resolve(mod, is_pkg, n)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in n.names]
            else:
                continue
            line = lines[n.lineno - 1]
            reason = "#" in line or (n.lineno > 1 and lines[n.lineno - 2].strip().startswith("#"))
            for t in targets:
                out.append(Edge(mod, t, n.lineno, id(n) in local_nodes, reason))
    return out


def package_of(mod: str) -> str:
    """``fastgan.models.cgan`` -> ``models``; ``fastgan.cli`` -> ``cli``; ``fastgan`` -> ``""``."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def fastgan_edges(root: str = ROOT) -> list[Edge]:
    return [e for e in edges(root) if e.dst == "fastgan" or e.dst.startswith("fastgan.")]


def package_graph(es: list[Edge]) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for e in es:
        a, b = package_of(e.src), package_of(e.dst)
        if a and b and a != b:
            g.setdefault(a, set()).add(b)
    return g


def module_graph(es: list[Edge]) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for e in es:
        # a package's __init__ importing its own modules is how a package is built, not a cycle
        if e.src != e.dst and not e.dst.startswith(e.src + "."):
            g.setdefault(e.src, set()).add(e.dst)
    return g


def function_level(root: str = ROOT) -> list[Edge]:
    """Imports inside function bodies (any module, fastgan's or not), one per statement."""
    seen, out = set(), []
    for e in edges(root):
        if e.local and (e.src, e.line) not in seen:
            seen.add((e.src, e.line))
            out.append(e)
    return out


def main() -> int:
    es = fastgan_edges()
    pc = cycles(package_graph(es))
    mc = cycles(module_graph(es))
    fl = function_level()
    print(f"package cycles: {len(pc)}")
    for c in pc:
        print("  " + " <-> ".join(c))
    print(f"module cycles: {len(mc)}")
    for c in mc:
        print("  " + " <-> ".join(c))
    print(f"function-level imports: {len(fl)} ({sum(not e.reason for e in fl)} without a reason comment)")
    for e in fl:
        print(f"  {e.src}:{e.line} {e.dst}{'' if e.reason else '  (no reason)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
