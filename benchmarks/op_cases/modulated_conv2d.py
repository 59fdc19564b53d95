"""modulated_conv2d cases: StyleGAN2 synthesis layers (3x3, lrelu, noise, bias, demodulation) at
batch 16, against the unfused reference composition x*s -> conv -> *dcoefs -> +noise -> bias_act.

Run directly for the CPU strategy comparison (written to RESULTS.md, section
modulated_conv2d_strategies):
    python benchmarks/op_cases/modulated_conv2d.py [--layers '16,512,32,32,1;16,512,32,32,2'] [--repeat 3]
"""
import argparse
import importlib
import math
import sys
from pathlib import Path

import torch

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import bench_ops  # noqa: F401  (sets THP_MEM_ALLOC_ENABLE like the harness)
from bench_ops import Case  # noqa: E402
from fastgan.ops import modulated_conv2d, reference, setup_filter  # noqa: E402

F = setup_filter([1, 3, 3, 1])
MC = importlib.import_module("fastgan.ops.modulated_conv2d")


def _make(n, c, res, up):
    def make():
        x = torch.randn(n, c, res, res)
        weight = torch.randn(c, c, 3, 3)
        styles = torch.randn(n, c) * 0.5 + 1
        noise = torch.randn(n, 1, res * up, res * up) * 0.1
        bias = torch.randn(c) * 0.1
        return tuple(t.requires_grad_() for t in (x, weight, styles, noise, bias))
    return make


def _kw(up):
    return dict(up=up, padding=1, resample_filter=F, flip_weight=up == 1, act="lrelu", clamp=256.0)


def _case(n, c, res, up):
    kw = _kw(up)
    return Case(
        name=f"[{n},{c},{res},{res}] 3x3{' up2' if up > 1 else ''}",
        make=_make(n, c, res, up),
        ref=lambda x, w, s, nz, b: reference.modulated_conv2d(x, w, s, nz, bias=b, fused_modconv=False, **kw),
        fused=lambda x, w, s, nz, b, impl: modulated_conv2d(x, w, s, nz, bias=b, fused_modconv=False, impl=impl,
                                                            **kw),
        floor_bytes=n * c * (res * up) ** 2 * 4,
    )


CASES = [_case(16, 512, 32, 1), _case(16, 512, 32, 2), _case(16, 256, 64, 1), _case(16, 256, 32, 2)]


# ------------------------------------------------------------------ strategy comparison
STRATEGIES = [
    # label, fused_modconv, STRATEGY overrides, description
    ("reference (eager)", None, {}, "x*s -> conv -> *dcoefs -> +noise -> bias_act, PyTorch ops"),
    ("per-sample weights, dcoefs in weights", True, {"fused_dcoefs": "weights", "winograd": False, "winograd_s2": False},
     "StyleGAN2's fused_modconv: grouped conv with w*s*dcoefs, fused epilogue"),
    ("per-sample weights, dcoefs in epilogue", True, {"fused_dcoefs": "epilogue", "winograd": False, "winograd_s2": False},
     "grouped conv with w*s, dcoefs folded into the fused epilogue"),
    ("modulate activations, NCHW", False, {"channels_last": False, "winograd": False, "winograd_s2": False},
     "x*s kernel -> oneDNN conv (shared weight) -> fused epilogue with dcoefs"),
    ("modulate activations, channels_last", False, {"channels_last": True, "winograd": False, "winograd_s2": False},
     "x*s kernel writing channels_last -> channels_last conv -> fused epilogue"),
    ("modulate activations, Winograd 3x3, up=2 on oneDNN", False,
     {"channels_last": False, "winograd": True, "winograd_s2": False},
     "x*s kernel -> Winograd F(4x4,3x3) conv (stride-1 layers; up=2 on oneDNN) -> fused epilogue"),
    ("modulate activations, Winograd 3x3 + phase-split up=2 (default)", False,
     {"channels_last": False, "winograd": True, "winograd_s2": True},
     "as above; up=2's transposed conv by output phase with Winograd F(3,2) (planes >= 24x24)"),
]


CONCLUSION = (
    "Reading: the convolution itself (PyTorch's, oneDNN) is most of a synthesis layer's forward+backward on this "
    "CPU, so the bare conv2d_resample row bounds what any fusion around it can reach over the unfused reference. "
    "The reference's extra cost is mostly materialising the per-sample weights [N, O, I, 3, 3] only to compute "
    "dcoefs, its separate elementwise passes and their autograd, and for up=2 its pad + depthwise-conv FIR filter. "
    "The CPU backend therefore uses the fastest strategy measured: modulate the activations (one x*s pass, whose "
    "backward is one pass plus one per-channel dot product), convolve with the shared NCHW weight, and fold dcoefs, "
    "noise, bias, activation, gain and clamp into one epilogue pass (backward: one pass giving the gradients of the "
    "convolution output, dcoefs, noise and bias); dcoefs come from styles^2 @ sum_k weight^2 without materialising "
    "w. fused_modconv=True keeps StyleGAN2's per-sample weights and grouped convolution (with dcoefs folded into the "
    "epilogue) for users who ask for it; fastgan.nn picks activation modulation on the CPU. channels_last speeds "
    "up some forwards but oneDNN's channels_last backward is slower here, so it is off. Fusing the input modulation "
    "into the previous layer's epilogue would save at most the x*s kernel time shown above per layer (a few "
    "milliseconds of seconds), so it is not done. Since oneDNN's direct convolution bounds every fusion around it, "
    "the stride-1 3x3 layers now replace it: Winograd F(4x4, 3x3) (fastgan.ops.cpu_conv.winograd) does a quarter of the "
    "multiplications in PyTorch's batched GEMM, with C++ data transforms and their adjoints as the backward "
    "(the 'bare Winograd' row is that convolution alone). For the up=2 layers, folding the FIR filter into a 4-phase 3x3 Winograd convolution was measured 1.4-4x slower at these sizes "
    "(its transformed weight is 4x larger and the GEMMs have few tiles). Instead, the transposed convolution "
    "itself is split by output phase (fastgan.ops.cpu_conv.winograd_s2): a 2x2, two 2-tap and a 1x1 convolution on the "
    "input, the first three with Winograd F(3, 2), ~5.6 instead of 9 multiplications per input pixel at 32x32; the "
    "FIR filter stays a separate pass. It is taken from 24x24 input planes up (below, it measured no faster than "
    "oneDNN). The 'bare phase-split conv2d_resample' row is that convolution plus the FIR filter alone. Timings "
    "move by 10-20% between runs on this shared 2-core VM.")


def compare(shape, up, repeat):
    import harness

    n, c, res = shape[0], shape[1], shape[2]
    inputs = _make(n, c, res, up)()
    kw = _kw(up)
    saved = dict(MC.STRATEGY)
    rows = []
    for label, fused, over, desc in STRATEGIES:
        MC.STRATEGY.update(over)
        if fused is None:
            fn = lambda x, w, s, nz, b: reference.modulated_conv2d(x, w, s, nz, bias=b, fused_modconv=False, **kw)  # noqa
        else:
            fn = (lambda f: lambda x, w, s, nz, b: modulated_conv2d(x, w, s, nz, bias=b, fused_modconv=f, impl="cpu",
                                                                    **kw))(fused)
        nograd = tuple(t.detach() for t in inputs)
        with torch.no_grad():
            fwd = harness.time_fn(lambda: fn(*nograd), repeat=repeat, warmup=1) * 1e3

        def fb():
            y = fn(*inputs)
            torch.autograd.grad(y, inputs, torch.ones_like(y))
        fwdbwd = harness.time_fn(fb, repeat=repeat, warmup=1) * 1e3
        rows.append([label, fwd, fwdbwd, desc])
        MC.STRATEGY.clear()
        MC.STRATEGY.update(saved)
        print(rows[-1], flush=True)
    base = rows[0]
    table = [[r[0], r[1], r[2], f"{base[2] / r[2]:.2f}x", r[3]] for r in rows]
    # the bare convolution (forward + input and weight gradients): what no fusion around it can remove
    x, w = inputs[0].detach(), inputs[1].detach()
    upf = lambda *a, **k: MC.upfirdn2d(*a, impl="cpu", **k)  # noqa: E731

    def bare(conv):
        def fb():
            xx, ww = x.requires_grad_(), w.requires_grad_()
            y = conv(xx, ww)
            torch.autograd.grad(y, (xx, ww), torch.ones_like(y))
        return harness.time_fn(fb, repeat=repeat, warmup=1) * 1e3

    conv = bare(lambda a, b: reference.conv2d_resample(a, b, F, up, 1, 1, flip_weight=up == 1, upfirdn=upf))
    table.append(["bare conv2d_resample (fwd+bwd, no modulation)", "", conv, f"{base[2] / conv:.2f}x",
                  "oneDNN's convolution alone: the bound on any fusion around it"])
    if up == 2:
        s2 = bare(lambda a, b: reference.conv2d_resample(a, b, F, up, 1, 1, flip_weight=False, upfirdn=upf,
                                                         conv_up=MC._conv_up_cpu))
        table.append(["bare phase-split conv2d_resample (fwd+bwd)", "", s2, f"{base[2] / s2:.2f}x",
                      "winograd_s2's transposed convolution + the FIR filter alone"])
    if up == 1:
        wino = bare(lambda a, b: MC.winograd.conv2d_3x3(a, b, 1))
        table.append(["bare Winograd 3x3 (fwd+bwd, no modulation)", "", wino, f"{base[2] / wino:.2f}x",
                      "the Winograd convolution alone"])
    # what fusing the input modulation into the previous layer's epilogue could save at most
    s = inputs[2].detach()
    scale = harness.time_fn(lambda: MC._scale_op(x, s, False, "cpu"), repeat=repeat, warmup=1) * 1e3
    dot = harness.time_fn(lambda: MC._chandot_op(x, x, "cpu"), repeat=repeat, warmup=1) * 1e3
    return table, scale, dot


def main():
    import harness

    p = argparse.ArgumentParser()
    p.add_argument("--layers", default="16,512,32,32,1;16,512,32,32,2",
                   help="semicolon-separated N,C,H,W,up synthesis layers")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args()
    md = ["## modulated_conv2d strategies (CPU)", "",
          f"Synthesis layers (3x3, lrelu, noise, bias, demodulation), milliseconds, median of {a.repeat} "
          f"({harness.machine_line()}). Command: `python benchmarks/op_cases/modulated_conv2d.py "
          f"--layers '{a.layers}'`.", ""]
    for spec in a.layers.split(";"):
        *shape, up = [int(v) for v in spec.split(",")]
        table, scale, dot = compare(shape, up, a.repeat)
        md += [f"**{shape} 3x3{' up2' if up > 1 else ''}**", "",
               harness.md_table(["strategy", "forward", "forward+backward", "speed-up vs reference (fwd+bwd)",
                                 "what runs"], table).rstrip("\n") + "\n",
               f"The input modulation kernel alone takes {scale:.1f} ms forward and its style-gradient reduction "
               f"{dot:.1f} ms: the most that fusing it into the previous layer's epilogue could save per layer.", ""]
    text = "\n".join(md + [CONCLUSION, ""])
    print(text)
    if not a.no_write:
        harness.write_section("modulated_conv2d_strategies", text)


if __name__ == "__main__":
    main()
