"""Shared bits of the example scripts: the ``--out``/``--seed``/``--quick`` flags and saving a figure."""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(description: str, argv=None, **extra) -> argparse.Namespace:
    """``--out DIR`` (default examples/out), ``--seed``, ``--quick`` (fewer steps, for tests) + ``extra``
    flags given as ``name=(type, default, help)``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for the PNG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a much shorter run (smoke test)")
    for name, (tp, default, help_) in extra.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=tp, default=default, help=help_)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    return a


def save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path
