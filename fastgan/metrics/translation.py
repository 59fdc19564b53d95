"""Does a digit translation keep the digit?  Measured with the shipped digits classifier.

For the CycleGAN digits demo (A = MNIST, B = MNIST-M, see ``fastgan.data.mnistm``):

* ``acc_G_BA(B)``: the classifier's accuracy on ``G_BA(B)`` (MNIST-M translated to
  MNIST) against the true labels, beside ``acc_B``, the trivial baseline of the
  untranslated MNIST-M images (the classifier averages colour channels to grey);
* ``acc_cycle_A`` / ``acc_cycle_B``: accuracy on the cycle reconstructions
  ``G_BA(G_AB(A))`` (against A's labels; baseline ``acc_A``) and ``G_AB(G_BA(B))``;
* ``fid_G_BA(B)``: FID (digits features) of ``G_BA(B)`` against the real A images, beside
  ``fid_B``, the FID of the untranslated B images against the same A images;
* with ``paired=True`` (B[i] is A[i] blended over a photo, as in the held-out split):
  ``acc_G_BA(B)_dark`` and ``acc_G_BA(B)_light``, the accuracy on G_BA(B) split by the digit's
  polarity in B (:func:`dark_digits`: darker or lighter than its background), and
  ``dark_fraction``.  MNIST-M inverts a digit where its patch is bright (|patch - digit|), so
  about a third of its digits are dark on a light background, which G_BA must invert.

Networks are evaluated in eval mode under ``no_grad``; their modes are restored.
"""
from __future__ import annotations

import torch

from .api import compute_metrics
from .digits import DigitsFeatures

__all__ = ["translate_images", "classifier_accuracy", "digits_translation", "dark_digits"]

_CLASSIFIERS: dict = {}


def _classifier(features, device):
    if features is not None:
        return features
    key = str(device)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = DigitsFeatures().to(device)
    return _CLASSIFIERS[key]


def _as_float(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a [N, C, H, W] tensor, got {type(images).__name__} "
                         f"{tuple(getattr(images, 'shape', ()))}")
    return images.float() * (2.0 / 255.0) - 1.0 if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def translate_images(G: torch.nn.Module, images: torch.Tensor, *, batch: int = 250, device=None) -> torch.Tensor:
    """``G`` over ``images`` (uint8 or [-1, 1]) in batches, in eval mode -> float [-1, 1] on the CPU."""
    device = torch.device(device) if device is not None else next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        x = _as_float(images)
        return torch.cat([G(x[i:i + batch].to(device)).float().clamp(-1, 1).cpu() for i in range(0, len(x), batch)])
    finally:
        G.train(was_training)


@torch.no_grad()
def _right(images: torch.Tensor, labels, *, features=None, batch: int = 500, device="cpu") -> torch.Tensor:
    """Per image, whether the classifier labels it right: a bool [N] on the CPU."""
    x = _as_float(images)
    labels = torch.as_tensor(labels)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {tuple(labels.shape)}")
    net = _classifier(features, device)
    pred = torch.cat([net(x[i:i + batch].to(device))[1].argmax(1).cpu() for i in range(0, len(x), batch)])
    return pred == labels.cpu()


def classifier_accuracy(images: torch.Tensor, labels: torch.Tensor, *, features=None, batch: int = 500,
                        device="cpu") -> float:
    """Fraction of ``images`` the digits classifier (or ``features``, returning ``(feats, logits)``) labels right."""
    return float(_right(images, labels, features=features, batch=batch, device=device).double().mean())


def dark_digits(A: torch.Tensor, B: torch.Tensor, threshold: int = 128) -> torch.Tensor:
    """For paired uint8 images (B[i] is the digit A[i] blended over a background): a bool [N], True
    where B's mean grey over A's strokes (A > ``threshold``) is below its mean over the rest."""
    if not (isinstance(A, torch.Tensor) and isinstance(B, torch.Tensor)) or A.dtype != torch.uint8 \
            or B.dtype != torch.uint8 or A.ndim != 4 or B.ndim != 4:
        raise ValueError("A and B must be uint8 [N, C, H, W] tensors")
    if A.shape[0] != B.shape[0] or A.shape[2:] != B.shape[2:]:
        raise ValueError(f"A and B must be paired image for image, got shapes {tuple(A.shape)} and {tuple(B.shape)}")
    stroke = A.float().mean(1) > threshold
    grey = B.float().mean(1)
    n_fg = stroke.sum((1, 2)).clamp(min=1)
    n_bg = (~stroke).sum((1, 2)).clamp(min=1)
    fg = (grey * stroke).sum((1, 2)) / n_fg
    bg = (grey * ~stroke).sum((1, 2)) / n_bg
    return fg < bg


def digits_translation(G_AB: torch.nn.Module, G_BA: torch.nn.Module, A: torch.Tensor, A_labels, B: torch.Tensor,
                       B_labels, *, device=None, fid: bool = True, paired: bool = False) -> dict[str, float]:
    """The accuracies and FIDs of the module doc for held-out ``A``/``B`` images with their labels;
    ``paired``: B[i] is A[i] blended (uint8 both), which adds the split by the digit's polarity."""
    device = torch.device(device) if device is not None else next(G_BA.parameters()).device
    fake_A = translate_images(G_BA, B, device=device)
    cyc_B = translate_images(G_AB, fake_A, device=device)
    cyc_A = translate_images(G_BA, translate_images(G_AB, A, device=device), device=device)
    acc = lambda x, y: classifier_accuracy(x, y, device=device)  # noqa: E731
    right = _right(fake_A, B_labels, device=device)   # per image: the polarity split reuses it
    out = {"acc_A": acc(A, A_labels), "acc_B": acc(B, B_labels), "acc_G_BA(B)": float(right.double().mean()),
           "acc_cycle_A": acc(cyc_A, A_labels), "acc_cycle_B": acc(cyc_B, B_labels)}
    if paired:
        dark = dark_digits(A, B)
        for key, m in (("dark", dark), ("light", ~dark)):
            out[f"acc_G_BA(B)_{key}"] = float(right[m].double().mean()) if m.any() else float("nan")
        out["dark_fraction"] = float(dark.double().mean())
    if fid:
        real_A = _as_float(A)
        for key, fake in (("fid_B", _as_float(B)), ("fid_G_BA(B)", fake_A)):
            out[key] = float(compute_metrics(real_A, fake, ("fid",), features="digits", device=device)["fid"])
    return out
