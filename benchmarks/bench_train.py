"""Seconds per kimg of the StyleGAN2 training loop on the CPU: fastgan kernels vs ``impl=ref``.

The loop is the engine's: G main; G path length every 4 steps; D main; D R1 every 16 steps
(one full 16-step cycle per measurement, after a warm-up cycle).  Configuration (issue 8):
32x32x3, z = w = 256, 2 mapping layers, channel_base 4096, channel_max 256, batch 16, R1 γ 0.01,
path-length weight 2, style mixing 0.9, minibatch-std group 4.  Each backend runs in its own
subprocess so its peak memory (max RSS) is its own; both are measured in one invocation.

The backends take turns: both children build and warm up, then measure one cycle each in
alternation (cpu, ref, cpu, ref, ...; the idle one waits on a pipe), so a drift in the machine's
speed (this shared VM's varies by tens of percent over minutes) lands on both alike. The table
gives each backend's median cycle, and the speed-up of every round (cycle r of ref over cycle r of
the kernels) besides the ratio of the medians.

    .venv/bin/python benchmarks/bench_train.py [--cycles 3] [--threads 2] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = {"model.resolution": 32, "model.z_dim": 256, "model.w_dim": 256, "model.mapping_layers": 2,
          "model.channel_base": 4096, "model.channel_max": 256, "model.batch": 16, "model.r1_gamma": 0.01,
          "model.pl_weight": 2.0, "model.style_mixing": 0.9, "model.mbstd_group": 4, "model.kimg": 1e6}


class _Cifar32:
    """Random 3x32x32 uint8 images (the loop's cost does not depend on the pixels)."""

    name, shape, num_classes = "random32", (3, 32, 32), 0

    def __init__(self, n=256):
        import torch

        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], 0

    def get_batch(self, idx):
        import torch

        idx = torch.as_tensor(idx, dtype=torch.long)
        return self.x[idx], torch.zeros(len(idx), dtype=torch.long)

    def describe(self):
        return "random 3x32x32"


def child(backend: str, threads: int, out: str) -> None:
    """Build the trainer, run the warm-up cycle, then one measured 16-step cycle per "go" line on stdin,
    answering each with a JSON line; "stop" answers with the peak RSS and ends."""
    import torch

    from fastgan import ops
    from fastgan.train.engine import Trainer

    torch.set_num_threads(threads)
    ov = {**CONFIG, "run.out": out, "run.progress": False, "run.tensorboard": False, "run.fid": False,
          "run.snap_kimg": 0.0, "run.ckpt_kimg": 0.0, "run.overwrite": True, "run.threads": threads}
    with ops.use_backend(backend):
        t = Trainer("stylegan2", _Cifar32(), overrides=ov)
        for _ in range(16):  # warm-up cycle
            t.train_step()
        print(json.dumps({"ready": backend}), flush=True)
        for line in sys.stdin:
            if line.strip() != "go":
                break
            n0, t0 = t.nimg, time.perf_counter()
            for _ in range(16):
                t.train_step()
            dt = time.perf_counter() - t0
            print(json.dumps({"s_per_kimg": dt / ((t.nimg - n0) / 1000)}), flush=True)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def _answer(proc) -> dict:
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"bench_train child exited with code {proc.returncode}:\n{proc.stderr.read()[-3000:]}")
    return json.loads(line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=3, help="16-step cycles measured per backend, in alternation")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backends", default="cpu,ref")
    p.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.path.join("runs", "bench_train"))
    a = p.parse_args(argv)
    if a.cycles < 1:
        p.error(f"--cycles must be >= 1, got {a.cycles}")
    if a.child:
        child(a.child, a.threads, a.out)
        return 0
    backends = a.backends.split(",")
    procs = {}
    try:
        for b in backends:  # one at a time, so the warm-ups do not overlap either
            procs[b] = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", b, "--threads",
                                         str(a.threads), "--out", f"{a.out}-{b}"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _answer(procs[b])
        times = {b: [] for b in backends}
        for r in range(a.cycles):
            for b in backends:
                procs[b].stdin.write("go\n")
                procs[b].stdin.flush()
                times[b].append(_answer(procs[b])["s_per_kimg"])
                print(f"cycle {r + 1} {b}: {times[b][-1]:.1f} s/kimg", flush=True)
        peak = {}
        for b in backends:
            procs[b].stdin.write("stop\n")
            procs[b].stdin.flush()
            peak[b] = _answer(procs[b])["peak_rss_mb"]
            procs[b].wait()
    finally:
        for q in procs.values():
            if q.poll() is None:
                q.kill()
    med = {b: statistics.median(times[b]) for b in backends}
    lines = ["## StyleGAN2 training loop (bench_train.py)", "",
             "32x32x3, z=w=256, 2 mapping layers, channel_base 4096, channel_max 256, batch 16, R1 γ 0.01 every 16, "
             f"path length 2 every 4, style mixing 0.9, mbstd group 4; {a.threads} threads; after a 16-step warm-up, "
             f"{a.cycles} cycles of 16 steps per backend, the backends alternating cycle by cycle.", "",
             "| backend | s / kimg (median cycle) | cycles | peak RSS (MB) |", "|---|---|---|---|"]
    lines += [f"| {b} | {med[b]:.1f} | {', '.join(f'{t:.1f}' for t in times[b])} | {peak[b]:.0f} |" for b in backends]
    if "cpu" in med and "ref" in med:
        rounds = [r / c for r, c in zip(times["ref"], times["cpu"])]
        lines += ["", f"Speed-up of the kernels over `impl=ref`: {med['ref'] / med['cpu']:.2f}x (ratio of the medians; "
                      f"per round {', '.join(f'{x:.2f}x' for x in rounds)}; target 2x)."]
    md = "\n".join(lines)
    print(md)
    if not a.no_write:
        sys.path.insert(0, HERE)
        from harness import write_section

        write_section("train", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
