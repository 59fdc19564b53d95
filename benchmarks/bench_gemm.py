"""fastgan's own float32 GEMM (fastgan.ops.cpu_conv.gemm.bmm) against torch.bmm (MKL) at the Winograd shapes of the
training benchmark, and the cpu backend's 1x1 convolution (one GEMM) against F.conv2d (oneDNN).

Both contenders alternate call by call on the same operands, so a drift in this shared VM's speed hits
both alike; each cell is the median. The Winograd operands are in the layouts the convolutions use: U
[P, O, I] contiguous, V [P, I, T] stored channel-major ([I][P][T]), the backward's transposed views as
they come (dX: U^T @ dM, dW: dM @ V^T); T is the tile count plus the 8 zero pad columns, which
fastgan's GEMM skips (n_valid) and torch.bmm multiplies.

    .venv/bin/python benchmarks/bench_gemm.py [--threads 2] [--no-write]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# (transform points, out channels, in channels, tiles): F(4x4,3x3) at 32/16/8/4 px planes and the
# phase split's 2x2 (16 points) and 2-tap (4 points) products, batch 16 (bench_train.py's model)
WINOGRAD = [(36, 128, 128, 1024), (36, 256, 256, 256), (36, 256, 256, 64), (36, 256, 257, 16),
            (16, 256, 128, 576), (4, 128, 256, 1728)]
# (batch, in channels, out channels, plane): the resnet D's skips, ToRGB, FromRGB
CONV1X1 = [(16, 128, 256, 16), (16, 256, 256, 8), (16, 256, 256, 4), (16, 128, 3, 32), (16, 3, 128, 32)]


def _alternate(fns, rounds=15):
    """Median seconds of each fn, called in turn round by round after two warm-up rounds."""
    times = [[] for _ in fns]
    for r in range(rounds + 2):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            if r >= 2:
                times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def winograd_rows():
    from fastgan.ops.cpu_conv.gemm import bmm

    rows = []
    for p, o, i, t in WINOGRAD:
        cols = t + 8
        g = torch.Generator().manual_seed(p + o + i + t)
        u = torch.randn(p, o, i, generator=g)
        v = torch.randn(i, p, cols, generator=g).permute(1, 0, 2)
        v[:, :, t:] = 0
        dm = torch.randn(o, p, cols, generator=g).permute(1, 0, 2)
        dm[:, :, t:] = 0
        cases = {"fwd U @ V": (u, v, None, t), "dX U^T @ dM": (u.transpose(1, 2), dm, None, t),
                 "dW dM @ V^T": (dm, v.transpose(1, 2), t, None)}
        for name, (a, b, kv, nv) in cases.items():
            ours = bmm(a, b, kv, nv)
            err = ((ours.double() - torch.bmm(a.double(), b.double())).abs().max()
                   / torch.bmm(a.double().abs(), b.double().abs()).max()).item()
            flops = 2 * p * o * i * t
            t_mkl, t_ours = _alternate([lambda: torch.bmm(a, b), lambda: bmm(a, b, kv, nv)])
            rows.append([f"[{p}, {o}, {i}] x {t} tiles", name, f"{t_mkl * 1e3:.2f}", f"{t_ours * 1e3:.2f}",
                         f"{t_mkl / t_ours:.2f}x", f"{flops / t_ours / 1e9:.0f}", f"{err:.1e}"])
    return rows


def conv1x1_rows():
    from fastgan.ops.cpu_conv.gemm import conv1x1

    rows = []
    for n, c, o, hw in CONV1X1:
        g = torch.Generator().manual_seed(n + c + o + hw)
        x = torch.randn(n, c, hw, hw, generator=g).requires_grad_()
        w = torch.randn(o, c, 1, 1, generator=g).requires_grad_()
        dy = torch.randn(n, o, hw, hw, generator=g)

        def fb(f):
            return lambda: torch.autograd.grad(f(), (x, w), dy)

        t_dnn, t_ours = _alternate([fb(lambda: F.conv2d(x, w)), fb(lambda: conv1x1(x, w))])
        rows.append([f"{c} -> {o} at {hw}x{hw}", f"{t_dnn * 1e3:.2f}", f"{t_ours * 1e3:.2f}", f"{t_dnn / t_ours:.2f}x"])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    sys.path.insert(0, HERE)
    from harness import machine_line, md_table, write_section

    from fastgan.ops.cpu_conv import gemm

    if not gemm.native_available():
        print("this build has no AVX2/FMA GEMM (FASTGAN_NATIVE=0?): nothing to compare")
        return 1
    w = md_table(["products", "GEMM", "torch.bmm ms", "fastgan ms", "speed-up", "fastgan GFLOP/s", "max rel. err"],
                 winograd_rows())
    c = md_table(["1x1 conv, batch 16", "F.conv2d fwd+bwd ms", "fastgan fwd+bwd ms", "speed-up"], conv1x1_rows())
    md = "\n".join([
        "## Batched GEMM (bench_gemm.py)", "",
        f"Median of 15 alternating calls ({machine_line()}). Command: `python benchmarks/bench_gemm.py`. "
        "GFLOP/s count the tiles only (not the pad columns); the error is relative to the largest |a| @ |b| "
        "entry, against float64.", "", w, "",
        "The cpu backend's unpadded 1x1 convolution (`fastgan.ops.cpu_conv.gemm.conv1x1`: one GEMM, the weight a "
        "stride-0 batch) against oneDNN, forward+backward:", "", c])
    print(md)
    if not a.no_write:
        write_section("gemm", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
