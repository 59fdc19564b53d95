"""The engine's metric evaluation: the family's named metrics and its own ``evaluate``.

A family lists metric names of ``fastgan.metrics.api.TRAINING_METRICS`` (sample-based) or
``fastgan.metrics.network.NETWORK_METRICS`` (its networks over held-out inputs: the
image-to-image families' translation accuracy, PSNR/SSIM) in ``Family.metrics`` (images:
``fid_digits``).  A network metric runs for the built-in data (its held-out split) and is
skipped for data it cannot measure (a user's folder has no held-out split: ``fastgan metrics
--ckpt RUN --data DIR`` measures on given images).  A sample-based metric is computed on
``run.fid_samples`` samples of the sampling generator (the EMA copy) from latents of one
fixed seed, so the values of one run are comparable, against the real set :func:`real_images`.  The FID with
the digits features runs for image data, for the digit data (``mnist``, ``digits``) at the
end of training, for any data when ``fid_kimg`` is set; ``fid_status()`` says why not when
the digits classifier weights are missing.  ``Family.evaluate`` adds what the family
computes itself (NLL, column statistics ...).
"""
from __future__ import annotations

import os

import torch

from ..data import make_dataset
from ..metrics import digits
from ..metrics.api import TRAINING_METRICS
from ..metrics.network import NETWORK_METRICS, NotApplicable

__all__ = ["evaluate", "real_images", "fid_status", "check_metrics", "DIGIT_DATA", "EVAL_SEED"]

DIGIT_DATA = ("mnist", "digits")
EVAL_SEED = 2**31 - 1  # latents of the generated set; fixed so the metrics of one run are comparable


def fid_status() -> str | None:
    """None when the digits FID can run, else a one-line reason."""
    if not os.path.isfile(digits.WEIGHTS_PATH):
        return ("FID: not computed; the digits classifier weights are missing "
                "(python scripts/train_digits_classifier.py)")
    return None


def check_metrics(family) -> None:
    """Raise ValueError for a metric name no training metric has."""
    bad = [m for m in family.metrics if m not in TRAINING_METRICS and m not in NETWORK_METRICS]
    if bad:
        raise ValueError(f"model {family.name}: unknown metrics {bad}; known: "
                         f"{', '.join([*TRAINING_METRICS, *NETWORK_METRICS])}")


def real_images(trainer):
    """The real set metrics compare against: MNIST-5k's held-out split for ``mnist`` (loaded with
    the family's data options, so at the run's resolution), otherwise the training data."""
    if trainer.data_spec == "mnist":
        return make_dataset("mnist", split="heldout", **type(trainer.family).data_options(trainer.recipe))
    return trainer.dataset


def _applies(trainer, name: str) -> bool:
    if name == "fid_digits":
        return (trainer.data_spec in DIGIT_DATA or trainer.run.fid_kimg > 0) and fid_status() is None \
            and getattr(trainer.dataset, "get_batch", None) is not None \
            and len(getattr(trainer.dataset, "shape", ())) == 3
    return True


def evaluate(trainer) -> dict[str, float]:
    """``{name: value}`` of the family's metrics that apply to this run (none with ``run.fid`` off),
    and of its ``evaluate``."""
    fam, n, dev = trainer.family, trainer.run.fid_samples, trainer.device
    names = [m for m in fam.metrics if trainer.run.fid and m in TRAINING_METRICS and _applies(trainer, m)]
    out: dict[str, float] = {}
    caches = trainer.__dict__.setdefault("_metric_cache", {})
    for m in (m for m in fam.metrics if trainer.run.fid and m in NETWORK_METRICS):
        if os.path.isabs(trainer.data_spec):   # a user's folder: no held-out split to measure on
            continue
        nets = {**trainer.nets, **trainer.ema}
        try:
            res = NETWORK_METRICS[m](nets, trainer.data_spec, trainer.recipe, device=dev,
                                     cache=caches.setdefault(m, {}))
        except NotApplicable:
            continue
        out.update({k: float(v) for k, v in res.items()})
    if names:
        z = fam.latent(n, torch.Generator().manual_seed(EVAL_SEED)).to(dev)
        labels = fam.sample_labels(n, dev)

        def sample(i, b):
            return trainer.sample(z[i:i + b], None if labels is None else labels[i:i + b])
        for m in names:
            res = TRAINING_METRICS[m](sample, real_images(trainer), n=n, device=dev,
                                      cache=caches.setdefault(m, {}))
            out[m] = float(res)
            if m == "fid_digits" and trainer.data_spec in DIGIT_DATA:  # the same pass classifies the samples
                out["classes_digits"] = float(res.values["classes"])
    G = trainer.sampler
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            out.update({k: float(v) for k, v in fam.evaluate(G, trainer.dataset, dev).items()})
    finally:
        G.train(was_training)
    return out
