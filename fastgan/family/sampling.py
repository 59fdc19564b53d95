"""Samples from a ``(family, G)`` pair by seed: ``generate``, ``truncation_images``, and the
``0-63`` / ``1,5,9`` seed syntax of ``fastgan generate``.

Sample ``i`` of seed ``s`` always comes from the latent drawn by
``torch.Generator().manual_seed(s)``, so a seed names one sample regardless of
how many others are generated with it.
"""
from __future__ import annotations

import torch

__all__ = ["seed_latents", "generate", "truncation_images", "parse_seeds", "parse_floats"]


def parse_seeds(text: str) -> list[int]:
    """``"0-63"``, ``"1,5,9"`` or ``"0-3,10"`` -> a list of seeds."""
    seeds = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (None, None)
                lo, hi = int(lo), int(hi)
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
    except (ValueError, TypeError):
        raise ValueError(f"seeds must look like 0-63 or 1,5,9, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be non-negative and at least one, got {text!r}")
    return seeds


def parse_floats(text: str) -> list[float]:
    """``"1,0.7,0.5,0"`` -> ``[1.0, 0.7, 0.5, 0.0]``."""
    try:
        vals = [float(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"expected numbers like 1,0.7,0.5,0, got {text!r}") from None
    if not vals:
        raise ValueError(f"expected numbers like 1,0.7,0.5,0, got {text!r}")
    return vals


def seed_latents(family, seeds, device="cpu") -> torch.Tensor:
    """One latent per seed: the family's latent drawn from ``torch.Generator().manual_seed(seed)``."""
    return torch.cat([family.latent(1, torch.Generator().manual_seed(int(s))) for s in seeds]).to(device)


@torch.no_grad()
def generate(pair, seeds, *, trunc: float | None = None, labels=None, device="cpu",
             batch: int = 256) -> torch.Tensor:
    """Samples (images in [-1, 1]), one per seed, from a ``(family, G)`` pair.

    ``trunc`` = ψ in [0, 1]: the family's truncation (StyleGAN2: ``w_avg + ψ (w - w_avg)``, so
    ψ = 0 is the average image; other families scale z by ψ); None: no truncation."""
    family, G = pair
    if trunc is not None and not 0 <= trunc <= 1:
        raise ValueError(f"trunc must be in [0, 1], got {trunc}")
    seeds = list(seeds)
    if labels is None:
        labels = family.sample_labels(len(seeds))
    z = seed_latents(family, seeds, device)
    out = []
    for i in range(0, len(seeds), batch):
        lab = labels[i:i + batch].to(device) if labels is not None else None
        out.append(family.generate(G, z[i:i + batch], lab, trunc).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def truncation_images(pair, seeds, psis, *, labels=None, device="cpu") -> torch.Tensor:
    """The truncation grid's images, row-major: row i is seed ``seeds[i]``, column j is ψ = ``psis[j]``
    (``[len(seeds) * len(psis), C, H, W]``; save with ``save_grid(..., nrow=len(psis))``)."""
    psis = [float(p) for p in psis]
    if not psis:
        raise ValueError("psis must not be empty")
    cols = [generate(pair, seeds, trunc=p, labels=labels, device=device) for p in psis]  # each [R, C, H, W]
    return torch.stack(cols, dim=1).flatten(0, 1)
