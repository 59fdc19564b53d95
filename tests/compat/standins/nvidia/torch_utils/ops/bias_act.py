"""Stand-in for torch_utils.ops.bias_act: bias, activation, gain and clamp, plain PyTorch.

Documented semantics: act(x + b along dim) * gain, clamped to [-clamp, clamp]; alpha is the lrelu
slope (default 0.2); gain defaults to sqrt(2) for relu, lrelu and swish, else 1; elu and selu take
no alpha. impl is 'cuda' (a plugin on CUDA tensors) or 'ref'.
"""
import collections
import math

import torch
import torch.nn.functional as F

from .. import custom_ops

CALLS = collections.Counter()
SQRT2 = math.sqrt(2)
# name: (function of (x, alpha), default alpha, default gain)
_ACTS = {
    "linear": (lambda v, a: v, 0.0, 1.0),
    "relu": (lambda v, a: F.relu(v), 0.0, SQRT2),
    "lrelu": (lambda v, a: torch.where(v >= 0, v, v * a), 0.2, SQRT2),
    "tanh": (lambda v, a: torch.tanh(v), 0.0, 1.0),
    "sigmoid": (lambda v, a: torch.sigmoid(v), 0.0, 1.0),
    "elu": (lambda v, a: F.elu(v), 0.0, 1.0),
    "selu": (lambda v, a: F.selu(v), 0.0, 1.0),
    "softplus": (lambda v, a: F.softplus(v), 0.0, 1.0),
    "swish": (lambda v, a: v * torch.sigmoid(v), 0.0, SQRT2),
}
_plugin = None


def _init():
    global _plugin
    CALLS["_init"] += 1
    if _plugin is None:
        _plugin = custom_ops.get_plugin("bias_act_plugin", sources=["bias_act.cpp", "bias_act.cu"])
    return True


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, impl="cuda"):
    CALLS["bias_act"] += 1
    assert impl in ("ref", "cuda")
    if impl == "cuda" and x.device.type == "cuda" and _init():
        raise NotImplementedError("stand-in: no CUDA plugin")
    fn, def_alpha, def_gain = _ACTS[act]
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = b.shape[0]
        x = x + b.view(shape)
    y = fn(x, float(def_alpha if alpha is None else alpha))
    g = float(def_gain if gain is None else gain)
    if g != 1:
        y = y * g
    if clamp is not None:
        assert clamp >= 0
        y = torch.clamp(y, -clamp, clamp)
    return y
