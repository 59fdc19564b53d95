"""Benchmark every fused op and backend against the eager reference, torch.compile of the
reference, and the copy floor; forward and forward+backward; median of repeated runs.

    python benchmarks/bench_ops.py [--ops bias_act,upfirdn2d] [--repeat 15] [--no-compile]

Writes one section per op into benchmarks/RESULTS.md and benchmarks/results_<op>.csv.

Adding an op: create benchmarks/op_cases/<op>.py defining CASES, a list of `Case`:
    Case(name="[32,256,32,32] lrelu+bias", make=lambda: (x, b),   # inputs (fresh random tensors)
         ref=lambda x, b: reference(...),                           # eager reference (differentiable)
         fused=lambda x, b, impl: fastgan.ops.op(x, b, impl=impl),  # the op on a backend
         floor_bytes=x.numel() * x.element_size())                  # bytes the copy floor moves
Tensors in `make()` that require grad get gradients in the forward+backward timing.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

# PyTorch's CPU allocator (glibc) maps every output above 32 MB afresh, so those pay page faults,
# which on this VM cost more than the kernels themselves. Transparent huge pages
# (THP_MEM_ALLOC_ENABLE=1, read by PyTorch's allocator) cut that cost for every contender alike, but
# make outputs of 2-32 MB dearer (measured: a 3.1 MB clone 0.37 -> 3.7 ms, 25 MB 4.8 -> 8.5 ms,
# 33.6 MB 43 -> 11 ms); pass --no-thp to measure with PyTorch's default.
if "--no-thp" not in sys.argv:
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
sys.modules.setdefault("bench_ops", sys.modules[__name__])
import op_cases  # noqa: E402

from fastgan.ops import _backend as B  # noqa: E402


@dataclass
class Case:
    name: str
    make: Callable[[], tuple]
    ref: Callable
    fused: Callable
    floor_bytes: Optional[int] = None  # default: bytes of the first input
    backward: bool = True


def _fwd_bwd(fn, inputs):
    outs = fn(*inputs)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    leaves = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    loss_terms = [o for o in outs if isinstance(o, torch.Tensor) and o.requires_grad]
    grads = [torch.ones_like(o) for o in loss_terms]
    torch.autograd.grad(loss_terms, leaves, grads)


def run_case(case: Case, backends, repeat: int, compile_ref: bool):
    inputs = case.make()
    nograd = tuple(t.detach() if isinstance(t, torch.Tensor) else t for t in inputs)
    floor_bytes = case.floor_bytes or nograd[0].numel() * nograd[0].element_size()
    src = torch.empty(floor_bytes // 4, dtype=torch.float32).normal_()
    dst = torch.empty_like(src)
    row = {"case": case.name}
    # the floor of an out-of-place op: allocate and copy the same bytes (src.clone());
    # the in-place copy (no allocation) is reported beside it
    row["copy_floor_fwd_ms"] = harness.time_fn(lambda: src.clone(), repeat=repeat) * 1e3
    row["copy_inplace_fwd_ms"] = harness.time_fn(lambda: dst.copy_(src), repeat=repeat) * 1e3
    impls = {"eager_ref": case.ref}
    if compile_ref:
        torch._dynamo.reset()
        impls["compiled_ref"] = torch.compile(case.ref)
    for b in backends:
        impls[b] = (lambda b: (lambda *a: case.fused(*a, impl=b)))(b)
    for label, fn in impls.items():
        with torch.no_grad():
            row[f"{label}_fwd_ms"] = harness.time_fn(lambda: fn(*nograd), repeat=repeat) * 1e3
        if case.backward:
            row[f"{label}_fwdbwd_ms"] = harness.time_fn(lambda: _fwd_bwd(fn, inputs), repeat=repeat) * 1e3
    return row


def load_cases(only=None):
    found = {}
    for m in pkgutil.iter_modules(op_cases.__path__):
        if only and m.name not in only:
            continue
        found[m.name] = importlib.import_module(f"op_cases.{m.name}").CASES
    if only:
        missing = set(only) - set(found)
        if missing:
            raise SystemExit(f"no benchmark cases for {sorted(missing)}; have {sorted(found)}")
    return found


def report(op: str, rows: list, backends: list) -> str:
    thp = os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"
    lines = [f"## {op}", "", f"Milliseconds, median; ratios measured in the same run ({harness.machine_line()}, "
             f"THP_MEM_ALLOC_ENABLE={'1' if thp else '0'}). Command: `python benchmarks/bench_ops.py --ops {op}`.", ""]
    header = ["case", "pass", "copy floor (clone)", "copy in place", "eager ref", "compiled ref"] + backends
    header += [f"{backends[0]} vs floor", f"{backends[0]} speed-up vs eager", f"{backends[0]} speed-up vs compiled"] if backends else []
    table = []
    for r in rows:
        for pas in ("fwd", "fwdbwd"):
            if f"eager_ref_{pas}_ms" not in r:
                continue
            vals = [r["case"], "forward" if pas == "fwd" else "forward+backward",
                    r["copy_floor_fwd_ms"] if pas == "fwd" else "", r["copy_inplace_fwd_ms"] if pas == "fwd" else "",
                    r[f"eager_ref_{pas}_ms"],
                    r.get(f"compiled_ref_{pas}_ms", "")]
            vals += [r[f"{b}_{pas}_ms"] for b in backends]
            if backends:
                ours = r[f"{backends[0]}_{pas}_ms"]
                vals += [f"{ours / r['copy_floor_fwd_ms']:.2f}x" if pas == "fwd" else "",
                         f"{r[f'eager_ref_{pas}_ms'] / ours:.2f}x",
                         f"{r[f'compiled_ref_{pas}_ms'] / ours:.2f}x" if f"compiled_ref_{pas}_ms" in r else ""]
            table.append(vals)
    return "\n".join(lines) + "\n" + harness.md_table(header, table) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", default="", help="comma-separated op names (default: all)")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile of the reference")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    p.add_argument("--no-thp", action="store_true", help="do not enable THP_MEM_ALLOC_ENABLE for the run")
    args = p.parse_args(argv)
    only = [o for o in args.ops.split(",") if o] or None
    backends = [b for b in ("cpu", "cuda") if B.unavailable_reason(b, "cpu") is None]
    for op, cases in load_cases(only).items():
        rows = []
        for case in cases:
            print(f"[{op}] {case.name} ...", flush=True)
            rows.append(run_case(case, backends, args.repeat, not args.no_compile))
        md = report(op, rows, backends)
        print(md)
        if not args.no_write:
            harness.write_section(op, md)
            harness.write_csv(harness.HERE / f"results_{op}.csv", rows)


if __name__ == "__main__":
    main()
