"""Stand-in for op.upfirdn2d: compiles its extension at import; pad=(p0, p1) pads both axes by p0 before, p1 after."""
import collections
import inspect
from collections import abc

import torch.nn.functional as F
from torch.utils.cpp_extension import load

CALLS = collections.Counter()
if not getattr(inspect.unwrap(load), "_fastgan_test_tripwire", False):  # only ever the tests' tripwire
    raise RuntimeError("stand-in op.upfirdn2d: imported without the tests' tripwire; refusing to build")
upfirdn2d_op = load("upfirdn2d", sources=["upfirdn2d.cpp", "upfirdn2d_kernel.cu"])


def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
    CALLS["upfirdn2d"] += 1
    ux, uy = tuple(up) if isinstance(up, abc.Iterable) else (up, up)
    dx, dy = tuple(down) if isinstance(down, abc.Iterable) else (down, down)
    x0, x1, y0, y1 = (pad[0], pad[1], pad[0], pad[1]) if len(pad) == 2 else pad
    if input.device.type != "cpu":
        return upfirdn2d_op.upfirdn2d(input, kernel, ux, uy, dx, dy, x0, x1, y0, y1)
    n, c, h, w = input.shape
    z = input.new_zeros(n * c, 1, h * uy, w * ux)
    z[:, :, ::uy, ::ux] = input.reshape(n * c, 1, h, w)
    z = F.pad(z, [x0, x1, y0, y1])
    y = F.conv2d(z, kernel.flip([0, 1])[None, None].to(input.dtype))
    y = y[:, :, ::dy, ::dx]
    return y.reshape(n, c, *y.shape[2:])
