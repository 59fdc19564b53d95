"""fastgan's imports run one way (docs/ARCHITECTURE.md, "Layers"): read from the source with ast,
nothing imported.  A package may import only packages of lower layers."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import import_graph as ig  # noqa: E402

# lowest first; a package imports only packages of strictly lower layers
LAYERS = [
    ("compat",),
    ("ops", "checkpoint", "theory"),
    ("nn",),
    ("data", "losses"),
    ("family",),
    ("models",),
    ("metrics",),
    ("train",),
    ("info", "bench", "bench_cli", "cli"),
    ("__main__",),
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
ONLY = {"ops": {"compat"}, "nn": {"ops", "compat"}}   # stricter than their layer


EDGES = ig.fastgan_edges()


def _rel(mod: str) -> str:
    return mod.split(".", 1)[1] if "." in mod else ""


def test_every_package_has_a_layer():
    unknown = sorted({ig.package_of(m) for e in EDGES for m in (e.src, e.dst)} - set(LEVEL) - {""})
    assert not unknown, f"add {unknown} to LAYERS here and in docs/ARCHITECTURE.md"


def test_imports_point_down():
    bad = []
    for e in EDGES:
        a, b = ig.package_of(e.src), ig.package_of(e.dst)
        if not a or not b or a == b:   # fastgan/__init__.py, or inside one package
            continue
        if a in LEVEL and b in LEVEL and LEVEL[b] >= LEVEL[a]:
            bad.append(f"{e.src}:{e.line} imports {e.dst} ({a} is not above {b})")
        elif a in ONLY and b not in ONLY[a]:
            bad.append(f"{e.src}:{e.line} imports {e.dst} ({a} imports only {sorted(ONLY[a])})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_package_cycles():
    assert ig.cycles(ig.package_graph(EDGES)) == []


@pytest.mark.parametrize("pkg", ["family", "models", "train", "nn", "data"])
def test_no_module_cycles_inside(pkg):
    es = [e for e in EDGES if ig.package_of(e.src) == pkg and ig.package_of(e.dst) == pkg]
    assert ig.cycles(ig.module_graph(es)) == []


def test_function_level_imports_give_a_reason():
    bad = [f"{e.src}:{e.line} {e.dst}" for e in ig.function_level() if not e.reason]
    assert not bad, "function-level imports without a one-line reason comment:\n" + "\n".join(bad)


def test_the_graph_sees_a_planted_cycle(tmp_path):
    """The checker finds an upward edge and a cycle in a tree made for it (so it can fail)."""
    root = tmp_path / "fastgan"
    for pkg, body in (("ops", "from ..models import x\n"), ("models", "from ..ops import y\n")):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text(body)
    (root / "__init__.py").write_text("")
    es = ig.fastgan_edges(str(root))
    assert {(e.src, e.dst) for e in es} == {("fastgan.ops", "fastgan.models"), ("fastgan.models", "fastgan.ops")}
    assert ig.cycles(ig.package_graph(es)) == [["models", "ops"]]
    (root / "models" / "m.py").write_text("def f():\n    import json\n\n\ndef g():\n    import csv  # light\n")
    fl = [(e.dst, e.reason) for e in ig.function_level(str(root))]
    assert fl == [("json", False), ("csv", True)]
