"""Stand-in for StyleGAN3's torch_utils.ops.filtered_lrelu: bias, upsample with fu, leaky ReLU with
gain and clamp, downsample with fd; the reference route calls the module's bias_act and upfirdn2d."""
import collections

import numpy as np

from .. import custom_ops
from . import bias_act, upfirdn2d

CALLS = collections.Counter()
_plugin = None


def _init():
    global _plugin
    CALLS["_init"] += 1
    if _plugin is None:
        _plugin = custom_ops.get_plugin("filtered_lrelu_plugin", sources=["filtered_lrelu.cpp"])
    return True


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2, clamp=None,
                   flip_filter=False, impl="cuda"):
    CALLS["filtered_lrelu"] += 1
    if impl == "cuda" and x.device.type == "cuda" and _init():
        raise NotImplementedError("stand-in: no CUDA plugin")
    x = bias_act.bias_act(x, b)
    x = upfirdn2d.upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2, flip_filter=flip_filter)
    x = bias_act.bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d.upfirdn2d(x, fd, down=down, flip_filter=flip_filter)
