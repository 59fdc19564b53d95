"""Per-call overhead of the fastgan op API on tiny CPU tensors: the public function on the direct
eager route (fastgan/ops/_dispatch.py) and through the registered custom op, against the op's
implementation called bare (the kernel plus its output allocation, no checks, no dispatch).

    python benchmarks/bench_dispatch.py [--calls 2000] [--rounds 9] [--no-write]

Microseconds per call, median over rounds of `calls` back-to-back calls. "forward" runs under
no_grad; "forward, grad" has inputs that require grad (builds the autograd node); "fwd+bwd" adds
autograd.grad. Writes the section `dispatch` of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

import fastgan.ops as O  # noqa: E402
from fastgan.ops import _dispatch  # noqa: E402


def _impl(name):
    return _dispatch.DIRECT_OPS[f"fastgan::{name}"].impl


def cases():
    """(label, inputs, public fn, bare implementation call) per op; inputs are [4, 8, 4, 4]-sized."""
    x, b, g = torch.randn(4, 8, 4, 4), torch.randn(8), torch.randn(4, 3, 4, 4)
    real, fake, alpha = torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4), torch.rand(4)
    f = O.setup_filter([1, 3, 3, 1])
    up = [2, 2], [1, 1], [2, 1, 2, 1]
    return [
        ("bias_act lrelu+bias", (x, b), lambda x, b: O.bias_act(x, b, act="lrelu", impl="cpu"),
         lambda x, b: _impl("bias_act")(x, b, 1, "lrelu", 0.2, 2 ** 0.5, -1.0, "cpu")),
        ("pixel_norm", (x,), lambda x: O.pixel_norm(x, impl="cpu"),
         lambda x: _impl("pixel_norm")(x, 1, 1e-8, "cpu")),
        ("minibatch_std G=4 F=1", (x,), lambda x: O.minibatch_std(x, 4, 1, impl="cpu"),
         lambda x: _impl("minibatch_std")(x, 4, 1, 1e-8, "cpu")),
        ("grad_sq_norm", (g,), lambda g: O.grad_sq_norm(g, impl="cpu"),
         lambda g: _impl("grad_reduce")(g, "sq_norm", 0.0, False, 1, "cpu")[0]),
        ("grad_norm_penalty", (g,), lambda g: O.grad_norm_penalty(g, impl="cpu"),
         lambda g: _impl("grad_reduce")(g, "norm_penalty", 1.0, False, 1, "cpu")[0]),
        ("lerp_samples", (real, fake, alpha), lambda r, f_, a: O.lerp_samples(r, f_, a, impl="cpu"),
         lambda r, f_, a: _impl("lerp_samples")(r, f_, a, "cpu")),
        ("upsample2d", (x,), lambda x: O.upsample2d(x, f, impl="cpu"),
         lambda x: _impl("upfirdn2d")(x, f, *up, False, 4.0, "cpu")),
    ]


def per_call_us(fn, calls, rounds):
    for _ in range(max(50, calls // 10)):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(times)


def _fwd_bwd(fn, inputs):
    out = fn(*inputs)
    torch.autograd.grad(out, inputs, torch.ones_like(out))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args(argv)
    header = ["op", "pass", "implementation", "public, direct", "public, registered op", "direct overhead",
              "registered overhead"]
    rows = []
    for label, inputs, public, bare in cases():
        leaves = tuple(t.clone().requires_grad_() for t in inputs)
        passes = [("forward", inputs, torch.no_grad, lambda: bare(*inputs), lambda: public(*inputs)),
                  ("forward, grad", leaves, torch.enable_grad, None, lambda: public(*leaves)),
                  ("fwd+bwd", leaves, torch.enable_grad, None, lambda: _fwd_bwd(public, leaves))]
        for pas, _, mode, bare_call, call in passes:
            print(f"[dispatch] {label} {pas} ...", flush=True)
            with mode():
                base = per_call_us(bare_call, args.calls, args.rounds) if bare_call else None
                with _dispatch.use_direct_dispatch(True):
                    direct = per_call_us(call, args.calls, args.rounds)
                with _dispatch.use_direct_dispatch(False):
                    registered = per_call_us(call, args.calls, args.rounds)
            rows.append([label, pas, "" if base is None else base, direct, registered,
                         "" if base is None else direct - base, "" if base is None else registered - base])
    md = "\n".join([
        "## dispatch", "",
        f"Microseconds per call on [4, 8, 4, 4]-sized CPU tensors, impl='cpu', median of {args.rounds} rounds of "
        f"{args.calls} calls ({harness.machine_line()}). \"implementation\" is the function under "
        "`@custom_op` called bare; \"public, direct\" the public function on the direct eager route, \"public, "
        "registered op\" the same with `use_direct_dispatch(False)`. Command: `python benchmarks/bench_dispatch.py`.",
        "", harness.md_table(header, rows)])
    print(md)
    if not args.no_write:
        harness.write_section("dispatch", md)


if __name__ == "__main__":
    main()
