"""Fixtures for fastgan.compat: the stand-in trees on sys.path, a cpp_extension tripwire, fastgan spies."""
import collections
import importlib
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.utils.cpp_extension

import fastgan.compat as fc
from fastgan.ops import reference

STANDINS = Path(__file__).resolve().parent / "standins"
ROOTS = ("torch_utils", "training", "op", "model")


def _purge():
    for name in list(sys.modules):
        if name.split(".")[0] in ROOTS:
            del sys.modules[name]


@pytest.fixture(autouse=True)
def tripwire(monkeypatch):
    """cpp_extension.load/load_inline replaced by a recorder: nothing here ever compiles. Yields the calls."""
    calls = []

    def fake(*args, **kwargs):
        calls.append(kwargs.get("name", args[0] if args else None))
        return types.SimpleNamespace(built=True)

    fake._fastgan_test_tripwire = True
    monkeypatch.setattr(torch.utils.cpp_extension, "load", fake)
    monkeypatch.setattr(torch.utils.cpp_extension, "load_inline", fake)
    yield calls


def _tree(kind, tripwire):
    path = str(STANDINS / kind)
    _purge()
    sys.path.insert(0, path)
    try:
        yield path
    finally:
        fc.unpatch()
        sys.path.remove(path)
        _purge()


@pytest.fixture
def nvidia_path(tripwire):
    """The NVIDIA stand-in tree on sys.path (nothing imported yet); unpatched and purged afterwards."""
    yield from _tree("nvidia", tripwire)


@pytest.fixture
def rosinality_path(tripwire):
    yield from _tree("rosinality", tripwire)


@pytest.fixture
def nv(nvidia_path):
    """The NVIDIA stand-in modules, imported before any patch."""
    names = ["torch_utils.ops.bias_act", "torch_utils.ops.upfirdn2d", "torch_utils.ops.conv2d_resample",
             "torch_utils.ops.fma", "torch_utils.ops.conv2d_gradfix", "torch_utils.custom_ops", "training.networks"]
    mods = {n.rsplit(".", 1)[1]: importlib.import_module(n) for n in names}
    return types.SimpleNamespace(**mods)


SPIED = {"fastgan.ops": ("bias_act", "upfirdn2d", "setup_filter", "filter2d", "upsample2d", "downsample2d",
                         "modulated_conv2d"),
         "fastgan.ops.modulated_conv2d": ("conv2d_resample",)}


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls that reach fastgan's public ops (the shims look them up at call time)."""
    counts = collections.Counter()
    for modname, attrs in SPIED.items():
        mod = importlib.import_module(modname)
        for attr in attrs:
            real = getattr(mod, attr)

            def wrapper(*args, __real=real, __name=attr, **kwargs):
                counts[__name] += 1
                return __real(*args, **kwargs)

            monkeypatch.setattr(mod, attr, wrapper)
    return counts


# ------------------------------------------------------------------ comparing with the reference
def image(n, c, h, w, layout, dtype=torch.float64, requires_grad=True):
    """Random [n, c, h, w] in a given memory layout: contiguous, channels_last or a strided view."""
    if layout == "strided":
        t = torch.randn(n, c, h + 3, 2 * w, dtype=dtype)[:, :, 1:h + 1, ::2]
    else:
        t = torch.randn(n, c, h, w, dtype=dtype)
        if layout == "channels_last":
            t = t.contiguous(memory_format=torch.channels_last)
    return t.detach().requires_grad_(requires_grad)


def grads_to_second_order(fn, inputs):
    """fn(*inputs), its gradient of a random projection, and the gradient of a function of that gradient."""
    y = fn(*inputs)
    g = torch.Generator().manual_seed(7)
    r = torch.randn(y.shape, dtype=y.dtype, generator=g)
    diff = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    g1 = torch.autograd.grad((y * r).sum() + 0.5 * (y * y).sum(), diff, create_graph=True)
    s = sum((a * a).sum() + (a * torch.tanh(t)).sum() for a, t in zip(g1, diff))
    g2 = torch.autograd.grad(s, diff, allow_unused=True)
    g2 = [torch.zeros_like(t) if v is None else v for v, t in zip(g2, diff)]
    return y, g1, g2


def assert_matches_reference(fn, ref, inputs, atol=1e-9, rtol=1e-7):
    """fn and the float64 reference agree in value, first- and second-order gradients."""
    y, g1, g2 = grads_to_second_order(fn, inputs)
    ref_inputs = [t.detach().to(torch.float64).requires_grad_(t.requires_grad) if isinstance(t, torch.Tensor) else t
                  for t in inputs]
    yr, g1r, g2r = grads_to_second_order(ref, ref_inputs)
    torch.testing.assert_close(y.to(torch.float64), yr, atol=atol, rtol=rtol)
    for a, b in zip(g1, g1r):
        torch.testing.assert_close(a.to(torch.float64), b, atol=atol, rtol=rtol)
    for a, b in zip(g2, g2r):
        torch.testing.assert_close(a.to(torch.float64), b, atol=atol, rtol=rtol)


@pytest.fixture
def ref():
    return reference
