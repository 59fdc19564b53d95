from .norm import MinibatchStd, PixelNorm  # noqa: F401
from .resample import Blur, Downsample2d, Upsample2d  # noqa: F401
from .conv import EqualizedConv2d, EqualizedLinear, ModulatedConv2d, ToRGB  # noqa: F401
