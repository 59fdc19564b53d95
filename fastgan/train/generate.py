"""Images from a checkpoint: ``load_generator`` and ``generate`` (``fastgan generate``).

Sample ``i`` of seed ``s`` always comes from the latent drawn by
``torch.Generator().manual_seed(s)``, so a seed names one image regardless of
how many others are generated with it.
"""
from __future__ import annotations

import torch

from . import checkpoint as ckpt
from .config import RunConfig, apply_overrides
from .family import DataInfo

__all__ = ["load_generator", "generate", "truncation_images", "parse_seeds", "parse_floats"]


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


def load_generator(path: str, *, device="cpu", ema: bool = True):
    """``(family, G)`` from a checkpoint file or run directory; G is in eval mode."""
    from .. import models

    state = ckpt.load(ckpt.find(path))
    fam_cls = models.get(state["model"])
    recipe, _ = apply_overrides(fam_cls.Recipe(), RunConfig(),
                                {f"model.{k}": v for k, v in state["recipe"].items()})
    info = state["data_info"]
    family = fam_cls(recipe, DataInfo(tuple(info["shape"]), int(info["num_classes"]), info.get("name", "")))
    nets = family.build()
    name = family.generator_net
    G = nets[name]
    source = state["ema"] if ema and name in state["ema"] else state["nets"]
    G.load_state_dict(source[name])
    return family, G.to(device).eval().requires_grad_(False)


@torch.no_grad()
def generate(path_or_pair, seeds, *, trunc: float | None = None, labels=None, device="cpu",
             batch: int = 256) -> torch.Tensor:
    """Images in [-1, 1], one per seed, from a checkpoint (or a ``(family, G)`` pair).

    ``trunc`` = ψ in [0, 1]: the family's truncation (StyleGAN2: ``w_avg + ψ (w - w_avg)``, so
    ψ = 0 is the average image; other families scale z by ψ); None: no truncation."""
    family, G = load_generator(path_or_pair, device=device) if isinstance(path_or_pair, str) else path_or_pair
    if trunc is not None and not 0 <= trunc <= 1:
        raise ValueError(f"trunc must be in [0, 1], got {trunc}")
    seeds = list(seeds)
    if family.conditional and labels is None:
        labels = torch.arange(len(seeds)) % max(family.data.num_classes, 1)
    z = torch.cat([family.latent(1, torch.Generator().manual_seed(int(s))) for s in seeds]).to(device)
    out = []
    for i in range(0, len(seeds), batch):
        lab = labels[i:i + batch].to(device) if labels is not None else None
        out.append(family.generate(G, z[i:i + batch], lab, trunc).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def truncation_images(path_or_pair, seeds, psis, *, labels=None, device="cpu") -> torch.Tensor:
    """The truncation grid's images, row-major: row i is seed ``seeds[i]``, column j is ψ = ``psis[j]``
    (``[len(seeds) * len(psis), C, H, W]``; save with ``save_grid(..., nrow=len(psis))``)."""
    pair = load_generator(path_or_pair, device=device) if isinstance(path_or_pair, str) else path_or_pair
    psis = [float(p) for p in psis]
    if not psis:
        raise ValueError("psis must not be empty")
    cols = [generate(pair, seeds, trunc=p, labels=labels, device=device) for p in psis]  # each [R, C, H, W]
    return torch.stack(cols, dim=1).flatten(0, 1)
