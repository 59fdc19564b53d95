"""fastgan.metrics: exact fast FID, IS, KID, precision/recall, density/coverage, MMD, mode coverage.

Every metric returns a :class:`MetricResult`: a float (the primary value) that also carries
``.values`` (all numbers) and ``.conventions`` (feature network and weights id, preprocessing,
covariance convention, sample counts, seeds, numerical path, eps...).

Periodic FID from a training loop::

    from fastgan import metrics
    real = metrics.compute_stats("mnist", features="digits")       # FIDStats; keep this object
    fid = metrics.compute_fid(lambda b: G(torch.randn(b, 128)), real, features="digits", n=5000)
    float(fid), fid.conventions["path"]

``compute_fid(fake, real, features=..., n=...)``: ``fake`` is a generator function
``f(batch_size) -> images in [-1, 1]`` (or any image source: data set, array, iterable of batches,
folder/zip path); ``real`` is :class:`FIDStats` (its Cholesky factor is cached on the object, so
later calls skip it), a stats ``.npz``, or an image source.  ``features`` is ``"digits"`` (the
shipped MNIST classifier, offline), ``"inception"`` (FID InceptionV3; weights from
``$FASTGAN_INCEPTION_WEIGHTS``/the cache, sha256-checked), ``"module:pkg.mod:attr"`` or an
``nn.Module``.  ``fid_digits(sample, real, n=...)`` is the training metric ``fastgan.train`` runs
(``TRAINING_METRICS``, named by a family's ``metrics``).

``compute_metrics(real, fake, ["fid", "kid", "is", "pr", "dc", "modes"], ...)`` computes several
from one feature pass; ``compute_stats(source, ...)`` gives FIDStats to save and reuse.

Lower level: :func:`frechet_distance`, :func:`trace_sqrt_product` (the float64 Cholesky/sygst/
eigvalsh algorithm, see ``fastgan.metrics.fid``), :class:`FIDStats`, :class:`StreamingMoments`
(float64 moments for any batch split, DDP all-reduce), :func:`inception_score`,
:func:`kernel_inception_distance`, :func:`precision_recall`, :func:`density_coverage`,
:func:`mode_coverage`, :func:`mmd2` (differentiable, GMMN's loss, from ``fastgan.losses``) and
:func:`mmd`; ``fastgan.metrics.mixture.mode_stats`` for the toy Gaussian mixtures.
"""
from ._result import MetricResult
from .api import METRICS, compute_fid, compute_metrics, compute_stats, fid_digits
from .features import FeatureExtractor, get_extractor
from .fid import fid_from_stats, frechet_distance, trace_sqrt_product
from .mmd import mmd, mmd2
from .scores import (density_coverage, inception_score, kernel_inception_distance, mode_coverage,
                     precision_recall)
from .stats import FIDStats, StreamingMoments

__all__ = ["MetricResult", "METRICS", "compute_fid", "compute_metrics", "compute_stats", "fid_digits",
           "FeatureExtractor", "get_extractor", "fid_from_stats", "frechet_distance", "trace_sqrt_product",
           "mmd", "mmd2", "density_coverage", "inception_score", "kernel_inception_distance",
           "mode_coverage", "precision_recall", "FIDStats", "StreamingMoments",
           "bleu", "entropy_rate", "nll_oracle", "nll_test"]
from .sequence import bleu, entropy_rate, nll_oracle, nll_test
