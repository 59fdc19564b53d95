"""The shipped digits classifier, for the metrics: defined in :mod:`fastgan.nn.digits` (a network
the families use too, e.g. IC-GAN's instance features)."""
from ..nn.digits import PREPROCESS_ID, WEIGHTS_PATH, DigitsFeatures, DigitsNet, preprocess_digits  # noqa: F401

__all__ = ["DigitsNet", "DigitsFeatures", "WEIGHTS_PATH", "PREPROCESS_ID", "preprocess_digits"]
