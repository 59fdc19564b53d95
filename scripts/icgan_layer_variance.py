"""Where a DCGAN or IC-GAN generator's variety lives, layer by layer.

    PYTHONPATH=. python scripts/icgan_layer_variance.py RUN [RUN ...]

For 256 samples (IC-GAN: each around a stored instance drawn uniformly) prints, after every
layer of G (eval mode), the variance across samples (mean over channels and positions) and the
total variance per channel over samples and positions (what a BatchNorm normalises by).  The
difference is a spatial pattern shared by every sample: the unconditional DCGAN's first layer
has none (its input z has zero mean), a G fed a constant input can make one.  A collapsed G has
an across-sample variance near 0 at its output.  For an IC-GAN run it also prints the output
variance across z for a fixed instance and across instances for a fixed z (averaged over 16 of
each): which input G's variety comes from.
"""
from __future__ import annotations

import sys

import torch

from fastgan.models import load_generator


@torch.no_grad()
def layer_variance(run: str, n: int = 256, seed: int = 0):
    family, G = load_generator(run)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=g)
    if hasattr(G, "bank"):
        idx = torch.randint(0, G.bank.shape[0], (n,), generator=g)
        x, net = torch.cat([z, G.embed(G.bank[idx])], 1), G.body.net
    else:
        x, net = z, G.net
    rows = []
    for i, m in enumerate(net):
        x = m(x)
        if x.ndim == 4:
            rows.append((i, type(m).__name__, tuple(x.shape[1:]), x.var(0).mean().item(),
                         x.var(dim=(0, 2, 3)).mean().item()))
    return rows


@torch.no_grad()
def z_and_h_variance(run: str, m: int = 16, seed: int = 0):
    """Output variance over z (instance fixed) and over instances (z fixed), each averaged over m."""
    family, G = load_generator(run)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(m, G.z_dim, generator=g)
    idx = torch.randperm(G.bank.shape[0], generator=g)[:m]
    out = family.generate(G, z.repeat(m, 1), idx.repeat_interleave(m)).reshape(m, m, -1)   # [instance, z, pixels]
    return out.var(1).mean().item(), out.var(0).mean().item()


def main():
    torch.set_num_threads(1)
    for run in sys.argv[1:]:
        print(run)
        for i, name, shape, across, total in layer_variance(run):
            print(f"  {i:2d} {name:16s} {str(shape):14s} across samples {across:.5f}  total {total:.5f}")
        if hasattr(load_generator(run)[1], "bank"):
            vz, vh = z_and_h_variance(run)
            print(f"  output variance over z (instance fixed) {vz:.5f}, over instances (z fixed) {vh:.5f}")


if __name__ == "__main__":
    main()
