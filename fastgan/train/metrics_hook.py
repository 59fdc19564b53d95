"""FID during and after training, with the digits features of ``fastgan.metrics``.

The metrics issue owns the FID and the feature network; this hook only adapts a
trainer to them: ``fid_samples`` images from the sampling generator (the EMA copy)
with latents from a fixed seed, against the statistics of real images (computed once
per run and cached): for ``mnist`` the 500 held-out digits of MNIST-5k, which the run
never trains on, prepared like the training images (the family's resolution); for
other data (``digits`` has no held-out split, a user's data set) the training images.
It runs for digit data (``mnist``, ``digits``) at the end of training, and every
``fid_kimg`` when that is set.
When the pieces are missing (the digits classifier weights not trained yet, or an
older ``fastgan.metrics``), ``fid_status()`` says why and training goes on.
"""
from __future__ import annotations

import torch

DIGIT_DATA = ("mnist", "digits")
_FID_SEED = 2**31 - 1  # latents of the generated set; fixed so FIDs of one run are comparable


def fid_status() -> str | None:
    """None when the digits FID can run, else a one-line reason."""
    try:
        import os

        from ..metrics import FIDStats, fid_from_stats  # noqa: F401
        from ..metrics import digits
    except ImportError as e:
        return f"FID: not computed; it comes with the metrics issue (fastgan.metrics: {e})"
    if not os.path.isfile(digits.WEIGHTS_PATH):
        return ("FID: not computed; the digits classifier weights are not trained yet "
                "(python scripts/train_digits_classifier.py, from the metrics issue)")
    return None


FID_UNAVAILABLE = "FID: not computed; it comes with the metrics issue"


def real_images(trainer):
    """The real set FID compares against: MNIST-5k's held-out split for ``mnist`` (loaded with
    the family's data options, so at the run's resolution), otherwise the training data."""
    if trainer.data_spec == "mnist":
        from ..data import make_dataset

        return make_dataset("mnist", split="heldout", **type(trainer.family).data_options(trainer.recipe))
    return trainer.dataset


def _features(net, images_iter) -> torch.Tensor:
    feats = [net(x)[0].double().cpu() for x in images_iter]
    return torch.cat(feats)


@torch.no_grad()
def fid_for_trainer(trainer) -> dict:
    """``{"fid_digits": value}`` or ``{}`` (not digit data, or FID unavailable)."""
    if not trainer.run.fid or (trainer.data_spec not in DIGIT_DATA and trainer.run.fid_kimg <= 0):
        return {}
    if fid_status() is not None or getattr(trainer.dataset, "get_batch", None) is None:
        return {}
    if len(getattr(trainer.dataset, "shape", ())) != 3:
        return {}
    from ..metrics import FIDStats, fid_from_stats
    from ..metrics.digits import DigitsFeatures

    cache = trainer.__dict__.setdefault("_fid_cache", {})
    if "net" not in cache:
        cache["net"] = DigitsFeatures().to(trainer.device)
    net = cache["net"]
    if "real" not in cache:
        data = real_images(trainer)
        n = len(data)
        real = _features(net, (data.get_batch(torch.arange(i, min(i + 500, n)))[0] for i in range(0, n, 500)))
        cache["real"] = FIDStats.from_features(real.numpy(), net.feature_id, net.preprocess_id)
    fam, n = trainer.family, trainer.run.fid_samples
    z = fam.latent(n, torch.Generator().manual_seed(_FID_SEED)).to(trainer.device)
    labels = (torch.arange(n, device=trainer.device) % fam.data.num_classes
              if fam.conditional and fam.data.num_classes else None)
    fake = _features(net, (trainer.sample(z[i:i + 500], None if labels is None else labels[i:i + 500])
                           for i in range(0, n, 500)))
    fake_stats = FIDStats.from_features(fake.numpy(), net.feature_id, net.preprocess_id)
    return {"fid_digits": float(fid_from_stats(cache["real"], fake_stats))}
