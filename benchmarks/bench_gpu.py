"""The fused ops and a StyleGAN2 training step on a CUDA GPU: cuda and triton backends against the
eager reference, torch.compile of the reference and the memory floor.

    python benchmarks/bench_gpu.py [--out DIR] [--repeat 20] [--no-train] [--no-compile]
    python benchmarks/bench_gpu.py --device cpu --tiny --out /tmp/x     # dry run of every line, no GPU

Ops: StyleGAN2 shapes at batch 32 (256 and 512 channels, 32^2 to 256^2), forward and
forward+backward. Timing: CUDA events around each call after warm-up, L2 flushed before each
repeat (a 256 MB write outside the timed region), median of `--repeat`. The memory floor of a case
is the bytes it must move (inputs read once, outputs written once; forward+backward: the forward's,
plus reading the output gradient and the inputs again and writing the input gradients) divided by
the device-to-device copy bandwidth measured in the same run (bytes read + written).

Training: `Trainer("stylegan2")` with the paper256 preset at batch 32 on random 256x256 images, per
impl (cuda, triton, ref): one 16-step warm-up cycle, then `--train-cycles` measured 16-step cycles
(R1 every 16 steps and path length every 4, so lazy regularisation is amortised), as s/kimg.

Writes RESULTS_gpu.md, results_gpu_ops.csv and results_gpu_train.csv into --out (default:
benchmarks/ on a GPU, so the tables land beside RESULTS.md).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402

from fastgan import ops  # noqa: E402
from fastgan.ops import _backend as B  # noqa: E402
from fastgan.ops import reference  # noqa: E402


# ------------------------------------------------------------------ timing
class Timer:
    """Median milliseconds of fn(): CUDA events on a GPU (L2 flushed before each repeat), else wall time."""

    def __init__(self, device: torch.device, repeat: int, warmup: int = 3):
        self.device, self.repeat, self.warmup = device, repeat, warmup
        self.cuda = device.type == "cuda"
        self.flush = torch.empty(64 * 2**20 if self.cuda else 1, dtype=torch.float32, device=device)

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def __call__(self, fn: Callable) -> float:
        for _ in range(self.warmup):
            fn()
        self.sync()
        times = []
        for _ in range(self.repeat):
            if self.cuda:
                self.flush.zero_()
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def copy_bandwidth(timer: Timer, nbytes: int) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written."""
    src = torch.randn(nbytes // 4, device=timer.device)
    dst = torch.empty_like(src)
    ms = timer(lambda: dst.copy_(src))
    return 2 * nbytes / (ms * 1e-3)


# ------------------------------------------------------------------ cases
@dataclass
class Case:
    op: str
    name: str
    make: Callable          # (device, dtype) -> tuple of tensors; those that get gradients require grad
    fused: Callable         # (*inputs, impl) -> output
    ref: Callable           # (*inputs) -> output (the eager reference composition)
    memory_bound: bool = True
    compile: bool = False   # also time torch.compile of the reference (one case per op: compiling costs seconds)


def _t(shape, device, dtype, scale=1.0, grad=True):
    return (torch.randn(shape, device=device, dtype=dtype) * scale).requires_grad_(grad)


def _fir(device):
    return ops.setup_filter([1, 3, 3, 1], device=device)


def build_cases(tiny: bool) -> list[Case]:
    n = 4 if tiny else 32
    img = [(n, 8, 8, 8), (n, 4, 16, 16)] if tiny else [(n, 512, 32, 32), (n, 512, 64, 64), (n, 256, 128, 128),
                                                       (n, 256, 256, 256)]
    ups = [(n, 8, 8, 8)] if tiny else [(n, 512, 32, 32), (n, 256, 128, 128)]
    downs = [(n, 4, 16, 16)] if tiny else [(n, 512, 64, 64), (n, 256, 256, 256)]
    convs = [(n, 8, 8, 1), (n, 8, 8, 2)] if tiny else [(n, 512, 32, 1), (n, 512, 32, 2), (n, 256, 128, 1),
                                                       (n, 256, 64, 2)]
    mbstd = [(n, 8, 4, 4)] if tiny else [(n, 512, 4, 4), (n, 512, 8, 8)]
    res = 16 if tiny else 256
    cases = []
    for s in img:
        cases.append(Case("bias_act", f"{list(s)} lrelu+bias", lambda d, t, s=s: (_t(s, d, t), _t(s[1], d, t)),
                          lambda x, b, impl: ops.bias_act(x, b, act="lrelu", impl=impl),
                          lambda x, b: reference.bias_act(x, b, act="lrelu", alpha=0.2, gain=math.sqrt(2))))
    for s in ups:
        cases.append(Case("upfirdn2d", f"{list(s)} upsample2d x2", lambda d, t, s=s: (_t(s, d, t),),
                          lambda x, impl: ops.upsample2d(x, _fir(x.device), impl=impl),
                          lambda x: reference.upfirdn2d(x, _fir(x.device), (2, 2), (1, 1), (2, 1, 2, 1), False, 4)))
    for s in downs:
        cases.append(Case("upfirdn2d", f"{list(s)} downsample2d /2", lambda d, t, s=s: (_t(s, d, t),),
                          lambda x, impl: ops.downsample2d(x, _fir(x.device), impl=impl),
                          lambda x: reference.upfirdn2d(x, _fir(x.device), (1, 1), (2, 2), (1, 1, 1, 1), False, 1)))
    for bn, c, r, up in convs:
        def make(d, t, bn=bn, c=c, r=r, up=up):
            return (_t((bn, c, r, r), d, t), _t((c, c, 3, 3), d, t), (_t((bn, c), d, t, grad=False) * 0.5 + 1)
                    .requires_grad_(), _t((bn, 1, r * up, r * up), d, t, 0.1), _t(c, d, t, 0.1))
        kw = dict(up=up, padding=1, flip_weight=up == 1, act="lrelu", clamp=256.0, fused_modconv=False)
        cases.append(Case(
            "modulated_conv2d", f"[{bn},{c},{r},{r}] 3x3{' up2' if up > 1 else ''}", make,
            lambda x, w, s, nz, b, impl, kw=kw: ops.modulated_conv2d(
                x, w, s, nz, resample_filter=_fir(x.device) if kw["up"] > 1 else None, bias=b, impl=impl, **kw),
            lambda x, w, s, nz, b, kw=kw: reference.modulated_conv2d(
                x, w, s, nz, resample_filter=_fir(x.device) if kw["up"] > 1 else None, bias=b, **kw),
            memory_bound=False))
    for s in [(n, 16)] + img[:1] if tiny else [(n, 512), (n, 512, 32, 32), (n, 256, 128, 128)]:
        cases.append(Case("pixel_norm", f"{list(s)}", lambda d, t, s=s: (_t(s, d, t),),
                          lambda x, impl: ops.pixel_norm(x, impl=impl), reference.pixel_norm))
    for s in mbstd:
        cases.append(Case("minibatch_std", f"{list(s)} group 4", lambda d, t, s=s: (_t(s, d, t),),
                          lambda x, impl: ops.minibatch_std(x, 4, impl=impl), lambda x: reference.minibatch_std(x, 4)))
    g = (n, 3, res, res)
    last = {c.op: c for c in cases}
    for c in last.values():
        c.compile = True
    cases += [
        Case("grad_penalty", f"grad_sq_norm {list(g)}", lambda d, t: (_t(g, d, t),),
             lambda x, impl: ops.grad_sq_norm(x, impl=impl), reference.grad_sq_norm),
        Case("grad_penalty", f"grad_norm_penalty {list(g)}", lambda d, t: (_t(g, d, t, 0.01),),
             lambda x, impl: ops.grad_norm_penalty(x, impl=impl), reference.grad_norm_penalty),
        Case("grad_penalty", f"path_length_norm [{n}, 14, {16 if tiny else 512}]", lambda d, t: (_t((n, 14, 16 if tiny else 512), d, t),),
             lambda x, impl: ops.path_length_norm(x, impl=impl), reference.path_length_norm),
        Case("grad_penalty", f"lerp_samples {list(g)}",
             lambda d, t: (_t(g, d, t), _t(g, d, t), torch.rand(n, device=d, dtype=t).requires_grad_()),
             lambda r, f, a, impl: ops.lerp_samples(r, f, a, impl=impl), reference.lerp_samples, compile=True),
    ]
    return cases


def _nbytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts if isinstance(t, torch.Tensor))


def _fwd_bwd(fn, inputs):
    out = fn(*inputs)
    leaves = [t for t in inputs if t.requires_grad]
    torch.autograd.grad(out, leaves, torch.ones_like(out))


def run_case(case: Case, impls: list, timer: Timer, bandwidth: float, dtype, row: dict | None = None,
             compile_backend: str | None = None) -> dict:
    """Time the eager reference and each impl (or, given `compile_backend`, only the compiled reference,
    into the case's existing `row`)."""
    inputs = case.make(timer.device, dtype)
    nograd = tuple(t.detach() for t in inputs)
    if row is None:
        with torch.no_grad():
            out = case.ref(*nograd)
        in_b, out_b = _nbytes(nograd), _nbytes([out])
        grad_b = _nbytes([t for t in inputs if t.requires_grad])
        mb = case.memory_bound
        row = {"op": case.op, "case": case.name, "dtype": str(dtype).split(".")[-1],
               "floor_fwd_ms": (in_b + out_b) / bandwidth * 1e3 if mb else float("nan"),
               "floor_fwdbwd_ms": (2 * in_b + 2 * out_b + grad_b) / bandwidth * 1e3 if mb else float("nan")}
        contenders = {"eager_ref": case.ref}
        for impl in impls:
            contenders[impl] = (lambda impl: lambda *a: case.fused(*a, impl=impl))(impl)
    else:
        torch._dynamo.reset()
        contenders = {"compiled_ref": torch.compile(case.ref, backend=compile_backend)}
    for label, fn in contenders.items():
        try:
            with torch.no_grad():
                row[f"{label}_fwd_ms"] = timer(lambda: fn(*nograd))
            row[f"{label}_fwdbwd_ms"] = timer(lambda: _fwd_bwd(fn, inputs))
        except Exception as e:  # one failing contender must not hide the others' numbers
            msg = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            print(f"  {label} failed: {msg}", flush=True)
            row.setdefault("errors", []).append(f"{label}: {msg}")
            row.setdefault(f"{label}_fwd_ms", float("nan"))
            row.setdefault(f"{label}_fwdbwd_ms", float("nan"))
    return row


def _ratio(a, b) -> str:
    return "" if not (a == a and b == b and b > 0) else f"{a / b:.2f}x"  # blank where either is NaN


def ops_table(rows, impls, compiled: bool) -> str:
    header = ["op", "case", "pass", "floor", "eager ref"] + (["compiled ref"] if compiled else []) + impls
    header += [f"{i} / floor" for i in impls] + [f"{i} speed-up vs eager" for i in impls]
    header += [f"{i} speed-up vs compiled" for i in impls] if compiled else []
    table = []
    for r in rows:
        r = {k: (float("nan") if v == "" else v) for k, v in r.items()}
        for pas, label in (("fwd", "forward"), ("fwdbwd", "forward+backward")):
            fl = r[f"floor_{pas}_ms"]
            vals = [r["op"], r["case"], label, "" if math.isnan(fl) else fl, r[f"eager_ref_{pas}_ms"]]
            vals += [r.get(f"compiled_ref_{pas}_ms", "")] if compiled else []
            vals += [r[f"{i}_{pas}_ms"] for i in impls]
            vals += [_ratio(r[f"{i}_{pas}_ms"], fl) for i in impls]
            vals += [_ratio(r[f"eager_ref_{pas}_ms"], r[f"{i}_{pas}_ms"]) for i in impls]
            if compiled:
                vals += [_ratio(r.get(f"compiled_ref_{pas}_ms", float("nan")), r[f"{i}_{pas}_ms"]) for i in impls]
            table.append(vals)
    return harness.md_table(header, table)


# ------------------------------------------------------------------ training step
class RandomImages:
    """Random uint8 images (a training step's cost does not depend on the pixels)."""

    num_classes = 0

    def __init__(self, res: int, n: int = 256):
        self.name, self.shape = f"random{res}", (3, res, res)
        self.x = torch.randint(0, 256, (n, 3, res, res), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], 0

    def get_batch(self, idx):
        idx = torch.as_tensor(idx, dtype=torch.long)
        return self.x[idx], torch.zeros(len(idx), dtype=torch.long)

    def describe(self):
        return f"random 3x{self.shape[1]}x{self.shape[2]}"


def train_step_time(impl: str, device: torch.device, tiny: bool, cycles: int) -> dict:
    from fastgan.train.engine import Trainer

    cycle = 2 if tiny else 16
    model = ({"model.preset": "mnist32", "model.batch": 4, "model.r1_interval": 2, "model.pl_interval": 2}
             if tiny else {"model.preset": "paper256", "model.batch": 32})
    with tempfile.TemporaryDirectory() as out:
        ov = {**model, "model.kimg": 1e6, "run.out": out, "run.device": str(device), "run.progress": False,
              "run.tensorboard": False, "run.fid": False, "run.snap_kimg": 0.0, "run.ckpt_kimg": 0.0,
              "run.overwrite": True, "run.grid": 4}
        timer = Timer(device, 1, 0)
        with ops.use_backend(impl):
            t = Trainer("stylegan2", RandomImages(32 if tiny else 256, 16 if tiny else 256), overrides=ov)
            if timer.cuda:
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            for _ in range(cycle):  # warm-up: cuDNN autotuning, Triton compilation, allocator growth
                t.train_step()
            timer.sync()
            warm = time.perf_counter() - t0
            per = []
            for _ in range(cycles):
                n0, t0 = t.nimg, time.perf_counter()
                for _ in range(cycle):
                    t.train_step()
                timer.sync()
                per.append((time.perf_counter() - t0) / ((t.nimg - n0) / 1000))
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if timer.cuda else float("nan")
        del t
    if timer.cuda:
        torch.cuda.empty_cache()
    return {"impl": impl, "s_per_kimg": statistics.median(per), "cycles": per, "warmup_s": warm, "peak_gib": peak,
            "batch": model["model.batch"], "preset": model["model.preset"], "steps_per_cycle": cycle}


def train_table(rows) -> str:
    table = [[r["impl"], r["s_per_kimg"], ", ".join(f"{c:.3g}" for c in r["cycles"]), r["warmup_s"], r["peak_gib"]]
             for r in rows]
    md = harness.md_table(["impl", "s / kimg (median cycle)", "cycles", "warm-up cycle (s)", "peak GiB"], table)
    by = {r["impl"]: r["s_per_kimg"] for r in rows}
    if "ref" in by:
        md += "\n\n" + "; ".join(f"`impl={i}` is {by['ref'] / v:.2f}x faster than `impl=ref`"
                                 for i, v in by.items() if i != "ref") + " (goal: cuda at least 1.3x)."
    return md


# ------------------------------------------------------------------ main
def environment(device) -> str:
    lines = [f"torch {torch.__version__}"]
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        lines.append(f"{p.name}, {p.multi_processor_count} SMs, {p.total_memory / 2**30:.0f} GiB, "
                     f"CUDA {torch.version.cuda}")
    try:
        import triton

        lines.append(f"triton {triton.__version__}")
    except ImportError:
        lines.append("no triton")
    mod = B.cuda_module()
    lines.append(f"fastgan._C_cuda archs {getattr(mod, 'archs', None)}" if mod else "fastgan._C_cuda not built")
    return ", ".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (a dry run of every line)")
    p.add_argument("--tiny", action="store_true", help="tiny shapes and a tiny model (for the dry run)")
    p.add_argument("--out", default=None, help="where RESULTS_gpu.md and the CSVs go (default: benchmarks/)")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--ops", default="", help="comma-separated op names (default: all)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile of the reference")
    p.add_argument("--no-train", action="store_true", help="skip the training-step benchmark")
    p.add_argument("--train-cycles", type=int, default=2)
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for the whole run: op cases stop early enough to leave --train-reserve seconds per "
                        "training impl; what is left out is listed in RESULTS_gpu.md")
    p.add_argument("--train-reserve", type=float, default=40.0)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda, but torch sees no CUDA GPU (use --device cpu --tiny for a dry run)")
    out = Path(a.out) if a.out else HERE
    out.mkdir(parents=True, exist_ok=True)
    dtype = getattr(torch, a.dtype)
    impls = [i for i in ("cuda", "triton") if B.unavailable_reason(i, device.type) is None]
    if device.type == "cpu":  # the dry run: Triton's interpreter is far too slow to time, and tests cover it
        impls = [i for i in ("cpu",) if B.unavailable_reason(i, "cpu") is None]
    # a dry run traces the compiled reference without code generation, so it stays fast
    compile_backend = None if a.no_compile else ("inductor" if device.type == "cuda" and not a.tiny else "aot_eager")
    timer = Timer(device, a.repeat)
    bw = copy_bandwidth(timer, 2**30 if device.type == "cuda" and not a.tiny else 2**22)
    print(f"{environment(device)}\ncopy bandwidth {bw / 1e12:.3f} TB/s (read + write)", flush=True)
    only = {o for o in a.ops.split(",") if o}
    t_start = time.perf_counter()
    left = lambda: (a.budget or float("inf")) - (time.perf_counter() - t_start)  # noqa: E731
    head = ["# GPU benchmarks (bench_gpu.py)", "",
            f"{environment(device)}; {time.strftime('%Y-%m-%d')}. Command: `python benchmarks/bench_gpu.py"
            f"{' --device ' + a.device if a.device != 'cuda' else ''}{' --tiny' if a.tiny else ''}`.", ""]
    rows, trows, skipped = [], [], []

    def write():
        """Rewrite the tables after every case, so a run stopped at its time limit keeps what it measured."""
        md = head + ["## Ops", "",
                     f"Milliseconds, median of {a.repeat} after warm-up, "
                     f"{'CUDA events, L2 flushed before each repeat' if device.type == 'cuda' else 'wall clock'}; "
                     f"{a.dtype}. Floor: the bytes the op must move over the measured copy bandwidth, "
                     f"{bw / 1e12:.3f} TB/s (read + write); blank for the convolutions, which are compute-bound. "
                     f"Compiled ref: `torch.compile(reference, backend={compile_backend!r})`, timed for one case "
                     "per op.", "", ops_table(rows, impls, bool(compile_backend))]
        errors = [f"- {r['case']}: {e}" for r in rows for e in r.get("errors", [])]
        md += (["", "Failures:", ""] + errors) if errors else []
        md += ["", "Not measured (time budget): " + "; ".join(skipped)] if skipped else []
        if trows:
            md += ["", "## StyleGAN2 training step", "",
                   f"`Trainer('stylegan2')`, preset {trows[0]['preset']}, batch {trows[0]['batch']}, random images; "
                   f"{trows[0]['steps_per_cycle']}-step cycles (lazy R1 and path length amortised) after one "
                   "warm-up cycle.", "", train_table(trows)]
        keys = list(dict.fromkeys(k for r in rows for k in r))
        harness.write_csv(out / "results_gpu_ops.csv", [{k: r.get(k, "") for k in keys} for r in rows])
        if trows:
            harness.write_csv(out / "results_gpu_train.csv",
                              [{**r, "cycles": " ".join(f"{c:.4g}" for c in r["cycles"])} for r in trows])
        text = "\n".join(md) + "\n"
        (out / "RESULTS_gpu.md").write_text(text)
        return text

    # order: every case eagerly, then the training step, then torch.compile of the reference (compiling
    # costs seconds per case), so a tight budget loses the compiled column first
    train_impls = [] if a.no_train else (impls if device.type == "cuda" else ["cpu"]) + ["ref"]
    cases = [c for c in build_cases(a.tiny) if not only or c.op in only]
    for case in cases:
        if left() < a.train_reserve * len(train_impls):
            skipped.append(f"{case.op} {case.name}")
            continue
        print(f"[{case.op}] {case.name} ...", flush=True)
        rows.append(run_case(case, impls, timer, bw, dtype))
        write()
    # on the CPU (the dry run) Triton would run in its interpreter: too slow for a training step
    for impl in train_impls:
        if left() < 0.5 * a.train_reserve:
            skipped.append(f"training step impl={impl}")
            continue
        print(f"[train] impl={impl} ...", flush=True)
        try:
            trows.append(train_step_time(impl, device, a.tiny, a.train_cycles))
        except Exception as e:
            skipped.append(f"training step impl={impl} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            print(f"  failed: {e}", flush=True)
        write()
    by_name = {r["case"]: r for r in rows}
    for case in cases:
        if compile_backend and case.compile and case.name in by_name:
            if left() < 15:
                skipped.append(f"compiled reference of {case.op} {case.name}")
                continue
            print(f"[{case.op}] {case.name}: torch.compile of the reference ...", flush=True)
            run_case(case, impls, timer, bw, dtype, row=by_name[case.name], compile_backend=compile_backend)
            write()
    print(write())
    return 1 if any(r.get("errors") for r in rows) or any("failed" in s for s in skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
