"""fastgan: fused GAN kernels under a thin PyTorch API, with GAN families, training and metrics."""
__version__ = "0.1.0"

from . import ops  # noqa: E402,F401
