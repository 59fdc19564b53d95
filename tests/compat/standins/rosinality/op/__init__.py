"""Stand-in for rosinality's op package (tests of fastgan.compat)."""
from .fused_act import FusedLeakyReLU, fused_leaky_relu  # noqa: F401
from .upfirdn2d import upfirdn2d  # noqa: F401
