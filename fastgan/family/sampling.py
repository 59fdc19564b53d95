"""Samples from a ``(family, G)`` pair by seed: ``generate``, ``truncation_images``, and the
``0-63`` / ``1,5,9`` seed syntax of ``fastgan generate``.

Sample ``i`` of seed ``s`` always comes from the latent drawn by
``torch.Generator().manual_seed(s)``, so a seed names one sample regardless of
how many others are generated with it.
"""
from __future__ import annotations

import torch

from .gan import critic_output

__all__ = ["seed_latents", "generate", "best_of", "truncation_images", "parse_seeds", "parse_floats"]


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
def best_of(pair, D: torch.nn.Module, seeds, keep: int, *, trunc: float | None = None, labels=None,
            device="cpu", batch: int = 256) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Best-of-N sampling: of the samples of ``seeds`` (the candidates), the ``keep`` that the
    discriminator ``D`` scores highest, best first: ``(images, scores, seeds kept)``.

    The score of an image is D's raw output (its logit where D ends with a Sigmoid; the mean
    where D outputs a map).  The Keras DCGAN of ``dcgan-mnist``'s source drew 16 x 64 samples
    and kept the best 64.  D runs in eval mode and is put back in its previous mode."""
    seeds = list(seeds)
    if not isinstance(D, torch.nn.Module):
        raise TypeError(f"D must be a torch.nn.Module (the discriminator), got {type(D).__name__}")
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= len(seeds):
        raise ValueError(f"keep must be an int in [1, {len(seeds)}] (the number of candidate seeds), got {keep!r}")
    family, _ = pair
    if labels is None:
        labels = family.sample_labels(len(seeds))
    if labels is not None and len(labels) != len(seeds):
        raise ValueError(f"labels must have one entry per seed ({len(seeds)}), got {len(labels)}")
    imgs = generate(pair, seeds, trunc=trunc, labels=labels, device=device, batch=batch)
    was = D.training
    D.eval()
    try:
        scores = torch.cat([critic_output(D, imgs[i:i + batch].to(device),
                                          None if labels is None else labels[i:i + batch].to(device))
                            .reshape(len(imgs[i:i + batch]), -1).float().mean(1).cpu()
                            for i in range(0, len(imgs), batch)])
    finally:
        D.train(was)
    top = scores.topk(keep).indices
    return imgs[top], scores[top], [seeds[i] for i in top.tolist()]


@torch.no_grad()
def truncation_images(pair, seeds, psis, *, labels=None, device="cpu") -> torch.Tensor:
    """The truncation grid's images, row-major: row i is seed ``seeds[i]``, column j is ψ = ``psis[j]``
    (``[len(seeds) * len(psis), C, H, W]``; save with ``save_grid(..., nrow=len(psis))``)."""
    psis = [float(p) for p in psis]
    if not psis:
        raise ValueError("psis must not be empty")
    cols = [generate(pair, seeds, trunc=p, labels=labels, device=device) for p in psis]  # each [R, C, H, W]
    return torch.stack(cols, dim=1).flatten(0, 1)
