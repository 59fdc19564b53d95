"""Seconds per kimg of the StyleGAN2 training loop on the CPU: fastgan kernels vs ``impl=ref``.

The loop is the engine's: G main; G path length every 4 steps; D main; D R1 every 16 steps
(one full 16-step cycle per measurement, after a warm-up cycle).  Configuration (issue 8):
32x32x3, z = w = 256, 2 mapping layers, channel_base 4096, channel_max 256, batch 16, R1 γ 0.01,
path-length weight 2, style mixing 0.9, minibatch-std group 4.  Each backend runs in its own
subprocess so its peak memory (max RSS) is its own; both are measured in one invocation.

    .venv/bin/python benchmarks/bench_train.py [--cycles 1] [--threads 2] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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


def child(backend: str, cycles: int, threads: int, out: str) -> dict:
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
        n0, t0 = t.nimg, time.perf_counter()
        for _ in range(16 * cycles):
            t.train_step()
        dt = time.perf_counter() - t0
    return {"backend": backend, "s_per_kimg": dt / ((t.nimg - n0) / 1000), "steps": 16 * cycles,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=1, help="16-step cycles measured per backend")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backends", default="cpu,ref")
    p.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.path.join("runs", "bench_train"))
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.cycles, a.threads, a.out)))
        return 0
    rows = []
    for b in a.backends.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", b, "--cycles", str(a.cycles),
               "--threads", str(a.threads), "--out", a.out]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            print(res.stderr[-3000:], file=sys.stderr)
            return res.returncode
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    by = {r["backend"]: r for r in rows}
    lines = ["## StyleGAN2 training loop (bench_train.py)", "",
             "32x32x3, z=w=256, 2 mapping layers, channel_base 4096, channel_max 256, batch 16, R1 γ 0.01 every 16, "
             f"path length 2 every 4, style mixing 0.9, mbstd group 4; {a.threads} threads, "
             f"{16 * a.cycles} measured steps per backend (after 16 warm-up steps), one run.", "",
             "| backend | s / kimg | peak RSS (MB) |", "|---|---|---|"]
    lines += [f"| {r['backend']} | {r['s_per_kimg']:.1f} | {r['peak_rss_mb']:.0f} |" for r in rows]
    if "cpu" in by and "ref" in by:
        lines += ["", f"Speed-up of the kernels over `impl=ref`: {by['ref']['s_per_kimg'] / by['cpu']['s_per_kimg']:.2f}x "
                      "(target 2x)."]
    md = "\n".join(lines)
    print(md)
    if not a.no_write:
        sys.path.insert(0, HERE)
        from harness import write_section

        write_section("train", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
