"""`fastgan bench ops|fid|train|families|gpu`: run the benchmark scripts of a fastgan source checkout.

The benchmarks are not part of the installed package: they live in the repository's `benchmarks/`
folder and write their tables there (RESULTS*.md and CSVs beside them), so they belong to a checkout.
The command finds that folder from $FASTGAN_BENCHMARKS, else beside the imported `fastgan` package (an
editable install, or a checkout on the path); from a wheel without a checkout it says so.

Everything after `fastgan bench NAME` goes to the script unchanged (`fastgan bench ops --ops bias_act
--repeat 5`); a lone `-h`/`--help` prints this command's help, and `fastgan bench NAME -- --help` the
script's own options.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# name -> (script in benchmarks/, what it measures)
BENCHES = {
    "ops": ("bench_ops.py", "each fused op and backend against the eager reference, torch.compile of it and the "
            "copy floor; forward and forward+backward (writes RESULTS.md sections and results_<op>.csv)"),
    "fid": ("bench_fid.py", "FID trace-sqrt accuracy and speed of every path against scipy (RESULTS_fid.md)"),
    "train": ("bench_train.py", "seconds per kimg of the StyleGAN2 training loop, fastgan kernels against impl=ref"),
    "families": ("bench_families.py", "short training runs of every family with FID on the digits features "
                 "(RESULTS_families.md and the sample grids)"),
    "sweep": ("sweep_family.py", "short runs of one family's cpu preset with recipe overrides: FID and the digit-class "
              "histogram at fixed points (results/sweeps/)"),
    "gpu": ("bench_gpu.py", "the ops and a paper256 StyleGAN2 step on a CUDA GPU: cuda and triton against the "
            "reference, torch.compile and the memory floor (RESULTS_gpu.md)"),
}


def find_benchmarks() -> Path:
    """The benchmarks/ folder of a source checkout; FileNotFoundError saying where it looked otherwise."""
    env = os.environ.get("FASTGAN_BENCHMARKS")
    cands = [Path(env).expanduser()] if env else []
    cands.append(Path(__file__).resolve().parent.parent / "benchmarks")
    for c in cands:
        if (c / "harness.py").is_file():
            return c
    raise FileNotFoundError(
        "the benchmark scripts are not installed with the package; they live in the benchmarks/ folder of a "
        "fastgan source checkout. Run from a checkout (`pip install -e .` there), or point FASTGAN_BENCHMARKS at "
        "its benchmarks/ folder. Looked in: " + ", ".join(str(c) for c in cands))


def split_argv(argv: list) -> tuple[list, list]:
    """(what argparse parses, what goes to the script) for a command line that starts with `bench`."""
    if len(argv) < 2 or argv[0] != "bench" or argv[1] not in BENCHES:
        return argv, []
    rest = argv[2:]
    if rest in (["-h"], ["--help"]):
        return argv, []
    return argv[:2], rest[1:] if rest[:1] == ["--"] else rest


def _run(args) -> int:
    script = find_benchmarks() / BENCHES[args.bench][0]
    if not script.is_file():
        raise FileNotFoundError(f"{script} is missing from the checkout")
    env = dict(os.environ)
    # the scripts import fastgan: let them find the same one this command runs
    pkg_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.call([sys.executable, str(script), *args.script_args], env=env)


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run a benchmark of a source checkout (ops, fid, train, families, gpu)",
                              description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, (script, what) in BENCHES.items():
        q = sub.add_parser(name, help=what, description=f"benchmarks/{script}: {what}.",
                           usage=f"fastgan bench {name} [-h] [--] [SCRIPT ARGUMENTS ...]",
                           epilog=f"Arguments after `fastgan bench {name}` go to benchmarks/{script}; "
                                  f"`fastgan bench {name} -- --help` lists them.")
        q.set_defaults(func=_run, script_args=[])
