"""The NVTX switch (fastgan/ops/profiling.py), on the CPU: torch.cuda.is_available and the
torch.cuda.nvtx functions are replaced by recorders, so the test sees exactly which ranges a
fused op call would open on a GPU machine, and that none open while the switch is off."""
import os
import subprocess
import sys

import pytest
import torch

import fastgan.ops as O
from fastgan.ops import _dispatch, profiling

from .helpers import randn

pytestmark = pytest.mark.skipif(O.unavailable_reason("cpu", "cpu") is not None, reason="fastgan._C is not built")


@pytest.fixture
def nvtx(monkeypatch):
    """A log of ('push', name) / ('pop',) events, with CUDA reported available; the switch is off after."""
    log = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda.nvtx, "range_push", lambda name: log.append(("push", name)))
    monkeypatch.setattr(torch.cuda.nvtx, "range_pop", lambda: log.append(("pop",)))
    yield log
    O.set_nvtx(False)


def _balanced(log):
    depth = 0
    for ev in log:
        depth += 1 if ev[0] == "push" else -1
        assert depth >= 0
    return depth == 0


@pytest.mark.parametrize("direct", [True, False])
def test_ranges_per_op_forward_and_backward(nvtx, direct):
    x = randn(3, 5, 4, 7, requires_grad=True)
    b = randn(5, requires_grad=True)
    assert O.set_nvtx(True) is True
    with O.use_direct_dispatch(direct):
        y = O.bias_act(x, b, act="lrelu", impl="cpu")
        z = O.pixel_norm(y, impl="cpu")
        nvtx_fwd = list(nvtx)
        z.square().sum().backward()
    assert nvtx_fwd == [("push", "fastgan::bias_act"), ("pop",), ("push", "fastgan::pixel_norm"), ("pop",)]
    pushed = [ev[1] for ev in nvtx if ev[0] == "push"]
    assert "fastgan::pixel_norm_grad" in pushed and "fastgan::bias_act_grad" in pushed
    assert _balanced(nvtx)
    # the ranges change nothing in the results
    O.set_nvtx(False)
    x2 = x.detach().clone().requires_grad_()
    b2 = b.detach().clone().requires_grad_()
    O.pixel_norm(O.bias_act(x2, b2, act="lrelu", impl="cpu"), impl="cpu").square().sum().backward()
    assert torch.equal(x.grad, x2.grad) and torch.equal(b.grad, b2.grad)


def test_off_emits_nothing_and_restores_the_plain_call(nvtx):
    plain = _dispatch.DirectOp.__call__
    O.set_nvtx(True)
    assert _dispatch.DirectOp.__call__ is not plain
    O.set_nvtx(False)
    assert _dispatch.DirectOp.__call__ is plain
    O.bias_act(randn(2, 3, 5), randn(3), impl="cpu")
    with O.nvtx_range("phase"):
        pass
    assert nvtx == []
    assert not profiling.nvtx_enabled() and not profiling.nvtx_active()


def test_no_cuda_means_no_ranges(nvtx, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert O.set_nvtx(True) is False
    assert profiling.nvtx_enabled() and not profiling.nvtx_active()
    O.pixel_norm(randn(2, 3, 5), impl="cpu")
    with O.nvtx_range("phase"):
        pass
    assert nvtx == []


def test_nvtx_range_and_use_nvtx(nvtx):
    with O.use_nvtx(True):
        with O.nvtx_range("G step"):
            O.minibatch_std(randn(4, 3, 5, 5), 2, 1, impl="cpu")
    assert nvtx == [("push", "G step"), ("push", "fastgan::minibatch_std"), ("pop",), ("pop",)]
    assert not profiling.nvtx_enabled()
    with pytest.raises(RuntimeError, match="boom"):
        with O.use_nvtx(True), O.nvtx_range("phase"):
            raise RuntimeError("boom")
    assert _balanced(nvtx) and not profiling.nvtx_enabled()


def test_nvtx_range_enabled_overrides_the_switch(nvtx, monkeypatch):
    with O.nvtx_range("forced", enabled=True):
        pass
    with O.use_nvtx(True), O.nvtx_range("skipped", enabled=False):
        pass
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with O.nvtx_range("no cuda", enabled=True):
        pass
    assert nvtx == [("push", "forced"), ("pop",)]


def test_kernel_error_pops_the_range(nvtx, monkeypatch):
    O.set_nvtx(True)
    op = _dispatch.DIRECT_OPS["fastgan::pixel_norm"]
    monkeypatch.setattr(op, "impl", lambda *a: (_ for _ in ()).throw(RuntimeError("kernel failed")))
    with pytest.raises(RuntimeError, match="kernel failed"):
        op(randn(2, 3), 1, 1e-8, "cpu")
    assert nvtx == [("push", "fastgan::pixel_norm"), ("pop",)]


def test_bad_arguments():
    with pytest.raises(TypeError, match="enabled"):
        O.set_nvtx("yes")
    with pytest.raises(TypeError, match="name"):
        with O.nvtx_range(3):
            pass


@pytest.mark.parametrize("value, expect", [("1", True), ("0", False), ("", False)])
def test_environment_switch(value, expect):
    code = ("import torch; torch.cuda.is_available = lambda: True\n"
            "import fastgan.ops as O; from fastgan.ops import profiling\n"
            "print(profiling.nvtx_enabled(), profiling.nvtx_active())")
    env = dict(os.environ, FASTGAN_NVTX=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(expect), str(expect)]
