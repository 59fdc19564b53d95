"""Helpers the classic families share: DCGAN's initialisation, Keras' parameter counts and
best-of-n sampling."""
from __future__ import annotations

import torch
from torch import nn

from ..family.gan import critic_output

__all__ = ["init_normal", "keras_param_counts", "best_of_n"]


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """Radford et al.'s init: conv/linear weights N(0, std), norm scales N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def keras_param_counts(module: nn.Module) -> tuple[int, int]:
    """``(trainable, non_trainable)`` as Keras' ``model.summary()`` counts them.

    Keras counts BatchNorm's moving mean and variance as non-trainable weights, so
    non-trainable = frozen parameters + floating-point buffers (running statistics;
    PyTorch's integer ``num_batches_tracked`` has no Keras counterpart)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    stats = sum(b.numel() for b in module.buffers() if b.is_floating_point())
    return trainable, frozen + stats


@torch.no_grad()
def best_of_n(G: nn.Module, D: nn.Module, z: torch.Tensor, k: int, labels: torch.Tensor | None = None,
              batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` of ``len(z)`` samples that D scores highest: ``(images [k, ...], scores [k])``.

    The source drew 16 x 64 images and kept the best 64 this way.  Both networks
    run in eval mode (BatchNorm running statistics, no dropout) and are put back
    in their previous mode."""
    if not isinstance(z, torch.Tensor) or z.ndim < 2:
        raise ValueError(f"z must be a [n, z_dim] tensor, got {getattr(z, 'shape', type(z).__name__)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(z):
        raise ValueError(f"k must be an int in [1, n={len(z)}], got {k!r}")
    if labels is not None and len(labels) != len(z):
        raise ValueError(f"labels must have one entry per latent ({len(z)}), got {len(labels)}")
    modes = G.training, D.training
    G.eval(), D.eval()
    try:
        imgs, scores = [], []
        for i in range(0, len(z), batch):
            lab = None if labels is None else labels[i:i + batch]
            x = G(z[i:i + batch]) if lab is None else G(z[i:i + batch], lab)
            imgs.append(x)
            scores.append(critic_output(D, x, lab).reshape(len(x), -1).mean(1))
    finally:
        G.train(modes[0]), D.train(modes[1])
    imgs, scores = torch.cat(imgs), torch.cat(scores)
    top = scores.topk(k).indices
    return imgs[top], scores[top]
