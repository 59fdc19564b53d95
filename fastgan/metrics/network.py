"""Metrics of a family's trained networks on held-out data: ``NETWORK_METRICS``.

Sample-based metrics (``TRAINING_METRICS``: FID of generated images) do not fit the
image-to-image families, which have no latent space: their quality is measured by running
the networks over held-out inputs.  A family names these metrics in ``Family.metrics``
beside (or instead of) the sample-based ones; the engine (``fastgan.train.metrics_hook``)
computes them at the end of a run and every ``fid_kimg``, and ``fastgan metrics --ckpt RUN``
from a checkpoint.

Each entry is ``fn(nets, data, recipe, *, device, cache) -> {name: float}``: ``nets`` the
family's networks by name (the EMA copies where there are some), ``data`` a built-in data name
(its held-out split is used) or a path of held-out images, ``recipe`` the run's recipe and
``cache`` a dict kept between calls of one run.  It raises :class:`NotApplicable` when it
cannot measure on that data (the engine then skips it; the CLI reports the reason).

* ``digits_translation`` (CycleGAN): on the digits demo (A = MNIST, B = MNIST-M) the shipped
  digits classifier's accuracy on ``G_BA(B)``, on both cycle reconstructions and on the
  untranslated images, the accuracy on ``G_BA(B)`` split by the digit's polarity in B (dark on
  light, light on dark), and the digits FID of ``G_BA(B)`` and of B against real A
  (:func:`fastgan.metrics.translation.digits_translation`).
* ``sr_quality`` (SRGAN): PSNR and SSIM (Y channel, border crop = scale) of the network and of
  bicubic upscaling on whole held-out images (:func:`fastgan.metrics.image_quality.evaluate_sr`):
  the demos' held-out split (``photos``: flower.jpg; ``mnist``: the 500 held-out digits), or
  the HR images of a folder/zip.
"""
from __future__ import annotations

import os

import torch

from ..data.mnistm import digits_pair
from ..data.paired import SR_DEMOS, HRImages, sr_demo
from .image_quality import evaluate_sr
from .translation import digits_translation

__all__ = ["NETWORK_METRICS", "NotApplicable", "digits_translation_metric", "sr_quality"]


class NotApplicable(ValueError):
    """A network metric cannot be measured on the given data (the message says why)."""


def _net(nets: dict, name: str, metric: str) -> torch.nn.Module:
    if name not in nets:
        raise ValueError(f"{metric} needs the network {name!r}; have {sorted(nets)}")
    return nets[name]


def digits_translation_metric(nets, data, recipe, *, device=None, cache=None) -> dict[str, float]:
    """The digits demo's translation accuracies and FIDs (see the module doc)."""
    if data != "digits":
        raise NotApplicable(f"digits_translation measures the digits demo (--data digits, MNIST <-> MNIST-M) "
                            f"against its labels; got data {data!r}")
    cache = {} if cache is None else cache
    if "pair" not in cache:
        (xa, ya), (xb, yb) = digits_pair("heldout")
        cache["pair"] = (torch.from_numpy(xa), ya, torch.from_numpy(xb), yb)
    A, ya, B, yb = cache["pair"]
    G_AB, G_BA = _net(nets, "G_AB", "digits_translation"), _net(nets, "G_BA", "digits_translation")
    if G_BA.in_channels != A.shape[1]:
        raise NotApplicable(f"digits_translation: the networks take {G_BA.in_channels} channels, the digits "
                            f"demo has {A.shape[1]}")
    return digits_translation(G_AB, G_BA, A, ya, B, yb, device=device, paired=True)


def sr_quality(nets, data, recipe, *, device=None, cache=None) -> dict[str, float]:
    """PSNR/SSIM of SR(LR) and of bicubic upscaling against the HR images (see the module doc)."""
    cache = {} if cache is None else cache
    G = _net(nets, "G", "sr_quality")
    if data not in cache:
        if data in SR_DEMOS:
            cache[data] = sr_demo(data, "heldout").images
        elif isinstance(data, (str, os.PathLike)) and os.path.exists(data):
            # at least SSIM's 11x11 window after the border crop
            cache[data] = HRImages(os.fspath(data), channels=G.channels, min_size=11 + 2 * recipe.scale).images
        else:
            raise NotApplicable(f"sr_quality needs held-out HR images: a demo ({', '.join(SR_DEMOS)}) or a "
                                f"folder/zip; got {data!r}")
    res = evaluate_sr(G, cache[data], recipe.scale, device=device)
    return {k: float(v) for k, v in res.items() if k != "images"}


# metrics a family names in ``Family.metrics`` computed from its networks (the module doc)
NETWORK_METRICS = {"digits_translation": digits_translation_metric, "sr_quality": sr_quality}
