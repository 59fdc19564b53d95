"""A real StyleGAN2 code base's training step, unpatched vs patched by fastgan.compat, in one process.

    python benchmarks/bench_compat.py REPO_DIR [--threads 2] [--rounds 3] [--reps 3]

REPO_DIR is a checkout of NVIDIA's stylegan2-ada-pytorch or stylegan3 (git clone
https://github.com/NVlabs/stylegan2-ada-pytorch). Only its networks and loss are imported (torch and
numpy are enough; a missing `requests`, which dnnlib imports for downloads, is stubbed).

The step is the code base's own StyleGAN2Loss.accumulate_gradients plus Adam, in its four phases:
G main, G reg (path length, every 4 steps, gain 4), D main, D reg (R1, every 16 steps, gain 16), so
one amortised step costs t(Gmain) + t(Greg)/4 + t(Dmain) + t(Dreg)/16. The unpatched and patched
runs use two copies of the same networks (same initial weights, same inputs) and take turns, phase
by phase and round by round (the order flips every round), so a drift in the machine's speed lands
on both. Each phase time is the median of --reps calls after a warm-up. Before timing, the two
copies' outputs are compared (G with constant noise, then D).

Configuration (as benchmarks/bench_train.py): 32x32x3, z = w = 256, 2 mapping layers, channel_base
4096, channel_max 256, batch 16, R1 gamma 0.01, path-length weight 2, style mixing 0.9, minibatch-std
group 4, conv_clamp 256, float32 (num_fp16_res 0).
"""
from __future__ import annotations

import argparse
import copy
import inspect
import logging
import os
import statistics
import sys
import time
import types

HOWTO = """usage: python benchmarks/bench_compat.py REPO_DIR

REPO_DIR must be a checkout of a StyleGAN2 code base; get one with
    git clone https://github.com/NVlabs/stylegan2-ada-pytorch
(or https://github.com/NVlabs/stylegan3). Its networks need only torch and numpy."""

PHASES = (("Gmain", 1), ("Greg", 4), ("Dmain", 1), ("Dreg", 16))  # (phase, interval)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", nargs="?", help="checkout of stylegan2-ada-pytorch or stylegan3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="timed calls per phase per round (median)")
    ap.add_argument("--impl", default="auto", help="fastgan backend for the patched run")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    return ap.parse_args(argv)


def import_codebase(repo):
    """(codebase name, networks module, loss module) of the checkout at `repo`."""
    import fastgan.compat as fc

    name = fc.detect([repo])
    if name not in ("stylegan2-ada", "stylegan3"):
        raise SystemExit(f"{repo}: not a stylegan2-ada-pytorch or stylegan3 checkout "
                         f"(found {name or 'nothing'})\n\n{HOWTO}")
    sys.path.insert(0, os.path.abspath(repo))
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")  # dnnlib.util imports it for downloads only
    import importlib

    net_module = "training.networks" if name == "stylegan2-ada" else "training.networks_stylegan2"
    networks = importlib.import_module(net_module)
    loss = importlib.import_module("training.loss")
    return name, networks, loss


def build(networks, args, device):
    import torch

    torch.manual_seed(0)
    syn = dict(channel_base=4096, channel_max=256, num_fp16_res=0, conv_clamp=256)
    gkw = dict(z_dim=256, c_dim=0, w_dim=256, img_resolution=args.resolution, img_channels=3,
               mapping_kwargs=dict(num_layers=2))
    if networks.__name__ == "training.networks":  # stylegan2-ada takes a synthesis_kwargs dict
        gkw["synthesis_kwargs"] = syn
    else:  # stylegan3's networks_stylegan2
        gkw.update(syn)
    G = networks.Generator(**gkw).to(device)
    D = networks.Discriminator(c_dim=0, img_resolution=args.resolution, img_channels=3,
                               epilogue_kwargs=dict(mbstd_group_size=4), **syn).to(device)
    return G, D


def make_loss(loss_mod, G, D, device):
    cls = loss_mod.StyleGAN2Loss
    params = inspect.signature(cls).parameters
    kw = dict(r1_gamma=0.01, style_mixing_prob=0.9, pl_weight=2.0, pl_batch_shrink=2, pl_decay=0.01)
    if "G_mapping" in params:  # stylegan2-ada
        return cls(device=device, G_mapping=G.mapping, G_synthesis=G.synthesis, D=D, **kw)
    return cls(device=device, G=G, D=D, **kw)  # stylegan3


class Runner:
    """One copy of the networks with its loss and Adam optimisers; runs a phase."""

    def __init__(self, loss_mod, G, D, device):
        import torch

        self.G, self.D = G, D
        self.loss = make_loss(loss_mod, G, D, device)
        self.opt = {"G": torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8),
                    "D": torch.optim.Adam(D.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)}
        self.params = inspect.signature(self.loss.accumulate_gradients).parameters

    def phase(self, phase, gain, real, z):
        net = phase[0]
        opt = self.opt[net]
        opt.zero_grad(set_to_none=True)
        module = self.G if net == "G" else self.D
        module.requires_grad_(True)
        c = real.new_zeros(real.shape[0], 0)
        kw = dict(phase=phase, real_img=real, real_c=c, gen_z=z, gen_c=c, gain=gain)
        if "sync" in self.params:
            kw["sync"] = True
        if "cur_nimg" in self.params:
            kw["cur_nimg"] = 0
        self.loss.accumulate_gradients(**kw)
        module.requires_grad_(False)
        opt.step()


def compare_outputs(fc, name, impl, a, b, z):
    import torch

    logging.getLogger("fastgan.compat").setLevel(logging.WARNING)
    with torch.no_grad():
        fc.unpatch(name)
        ya = a.G(z, None, noise_mode="const")
        da = a.D(ya, None)
        fc.patch(name, impl)
        yb = b.G(z, None, noise_mode="const")
        db = b.D(yb, None)
        fc.unpatch(name)
    logging.getLogger("fastgan.compat").setLevel(logging.NOTSET)
    return (ya - yb).abs().max().item(), ya.abs().max().item(), (da - db).abs().max().item(), da.abs().max().item()


def main(argv=None):
    args = parse_args(argv)
    if not args.repo:
        print(HOWTO)
        return 2
    if not os.path.isdir(args.repo):
        print(f"{args.repo}: no such directory\n\n{HOWTO}")
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    import fastgan.compat as fc

    name, networks, loss_mod = import_codebase(args.repo)
    device = torch.device(args.device)
    G, D = build(networks, args, device)
    runs = {"original": Runner(loss_mod, G, D, device),
            "fastgan": Runner(loss_mod, copy.deepcopy(G), copy.deepcopy(D), device)}
    g = torch.Generator(device="cpu").manual_seed(1)
    real = (torch.rand(args.batch, 3, args.resolution, args.resolution, generator=g) * 2 - 1).to(device)
    z = torch.randn(args.batch, 256, generator=g).to(device)
    dg, mg, dd, md = compare_outputs(fc, name, args.impl, runs["original"], runs["fastgan"], z)
    report = fc.patch(name, args.impl)
    fc.unpatch(name)
    logging.getLogger("fastgan.compat").setLevel(logging.WARNING)  # the many patch/unpatch lines below
    print(f"code base: {name} ({os.path.abspath(args.repo)}), torch {torch.__version__}, {args.threads} threads, "
          f"device {device}, batch {args.batch}, {args.resolution}x{args.resolution}")
    print(f"patched: {len(report.replaced)} replaced: {', '.join(report.replaced)}")
    print(f"same weights and inputs: max |G(z) difference| {dg:.2e} (max |G(z)| {mg:.2f}), "
          f"max |D difference| {dd:.2e} (max |D| {md:.2f})")

    def run_phase(mode, phase, interval, reps):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            runs[mode].phase(phase, interval, real, z)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def set_mode(mode):
        if mode == "fastgan":
            fc.patch(name, args.impl)
        else:
            fc.unpatch(name)

    for mode in ("original", "fastgan"):  # warm-up
        set_mode(mode)
        for phase, interval in PHASES:
            run_phase(mode, phase, interval, 1)
    table = {m: {p: [] for p, _ in PHASES} for m in runs}
    step = {m: [] for m in runs}
    for r in range(args.rounds):
        order = ("original", "fastgan") if r % 2 == 0 else ("fastgan", "original")
        per = {m: {} for m in runs}
        for phase, interval in PHASES:
            for mode in order:
                set_mode(mode)
                per[mode][phase] = run_phase(mode, phase, interval, args.reps)
                table[mode][phase].append(per[mode][phase])
        for m in runs:
            step[m].append(sum(per[m][p] / i for p, i in PHASES))
        print(f"round {r + 1}: amortised step original {step['original'][-1] * 1e3:.0f} ms, fastgan "
              f"{step['fastgan'][-1] * 1e3:.0f} ms, speed-up {step['original'][-1] / step['fastgan'][-1]:.2f}x",
              flush=True)
    fc.unpatch(name)
    print("\n| phase (interval) | original ms | fastgan ms | speed-up |\n|---|---|---|---|")
    for phase, interval in PHASES:
        a, b = statistics.median(table["original"][phase]), statistics.median(table["fastgan"][phase])
        print(f"| {phase} (1/{interval}) | {a * 1e3:.0f} | {b * 1e3:.0f} | {a / b:.2f}x |")
    a, b = statistics.median(step["original"]), statistics.median(step["fastgan"])
    ratios = [x / y for x, y in zip(step["original"], step["fastgan"])]
    print(f"| amortised step | {a * 1e3:.0f} | {b * 1e3:.0f} | {a / b:.2f}x |")
    print(f"\nspeed-up per round: {', '.join(f'{x:.2f}x' for x in ratios)}; "
          f"median {statistics.median(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
