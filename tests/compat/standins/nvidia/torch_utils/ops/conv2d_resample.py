"""Stand-in for torch_utils.ops.conv2d_resample: the generic route of the documented semantics.

The padding is applied once, with respect to the upsampled image; up > 1 upsamples with the filter
(gain up**2) before the convolution, down > 1 filters and decimates after it; flip_weight=True
correlates with w as F.conv2d does.
"""
import collections

import torch.nn.functional as F

from . import upfirdn2d

CALLS = collections.Counter()


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    CALLS["conv2d_resample"] += 1
    fw, fh = upfirdn2d._fsize(f)
    x0, x1, y0, y1 = upfirdn2d._pads(padding)
    if up > 1:
        x0, x1, y0, y1 = x0 + (fw + up - 1) // 2, x1 + (fw - up) // 2, y0 + (fh + up - 1) // 2, y1 + (fh - up) // 2
    if down > 1:
        x0, x1 = x0 + (fw - down + 1) // 2, x1 + (fw - down) // 2
        y0, y1 = y0 + (fh - down + 1) // 2, y1 + (fh - down) // 2
    x = upfirdn2d.upfirdn2d(x, f if up > 1 else None, up=up, padding=[x0, x1, y0, y1], gain=up ** 2,
                            flip_filter=flip_filter)
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    if down > 1:
        x = upfirdn2d.upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x
