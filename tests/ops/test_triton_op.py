"""The Triton backend registered through torch.library.triton_op (fastgan/ops/_op.py `fused_op`):

- on CPU tensors under TRITON_INTERPRET=1, every `fastgan::<op>_triton` op runs eagerly and matches
  the float64 reference, forward and backward (the backward ops are triton_ops too);
- traced as torch.compile traces (AOT autograd, fake CUDA tensors, no GPU needed, interpreter off),
  the graph of every triton op, forward and backward ops alike, holds the Triton kernels themselves
  (`triton_kernel_wrapper_functional`) and no opaque fastgan op, so inductor can fuse around them.
"""
import os
import subprocess
import sys

import pytest
import torch

import fastgan.ops as O
from fastgan.ops import reference

from .helpers import randn

pytestmark = pytest.mark.skipif(O.unavailable_reason("triton", "cpu") is not None,
                                reason="Triton is not importable or TRITON_INTERPRET is off")

TRITON_OPS = ("bias_act", "bias_act_grad", "pixel_norm", "pixel_norm_grad", "minibatch_std", "minibatch_std_grad",
              "grad_reduce", "grad_reduce_grad", "lerp_samples", "lerp_samples_grad", "upfirdn2d", "modconv_epilogue",
              "modconv_epilogue_grad")


@pytest.mark.parametrize("name", TRITON_OPS)
def test_registered_as_triton_op(name):
    from torch._library.custom_ops import OPDEFS

    opdef = OPDEFS[f"fastgan::{name}_triton"]
    # triton_op registers a FunctionalTensorMode rule that decomposes the op into its kernels
    assert opdef._torch_dispatch_fns, f"fastgan::{name}_triton has no decomposition rule: not a triton_op"


def _grads(out, leaves, seed_grad):
    return torch.autograd.grad(out, leaves, seed_grad)


@pytest.mark.parametrize("case", ["bias_act", "pixel_norm", "minibatch_std", "lerp_samples", "upfirdn2d"])
def test_triton_op_eager_matches_reference(case):
    """torch.ops.fastgan.<op>_triton called directly (autograd through its registered backward)."""
    x = randn(3, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    b = randn(6, dtype=torch.float64, requires_grad=True)
    f = O.setup_filter([1, 3, 3, 1]).double()
    ops = torch.ops.fastgan
    if case == "bias_act":
        leaves = (x, b)
        got = ops.bias_act_triton(x, b, 1, "lrelu", 0.2, 2 ** 0.5, -1.0, "triton")
        want = reference.bias_act(x, b, 1, "lrelu", 0.2, 2 ** 0.5, None)
    elif case == "pixel_norm":
        leaves = (x,)
        got, want = ops.pixel_norm_triton(x, 1, 1e-8, "triton"), reference.pixel_norm(x, 1, 1e-8)
    elif case == "minibatch_std":
        leaves = (x,)
        got, want = ops.minibatch_std_triton(x, 3, 2, 1e-8, "triton"), reference.minibatch_std(x, 3, 2, 1e-8)
    elif case == "lerp_samples":
        fake, a = randn(*x.shape, dtype=torch.float64, requires_grad=True), torch.rand(3, dtype=torch.float64)
        leaves = (x, fake)
        got, want = ops.lerp_samples_triton(x, fake, a, "triton"), reference.lerp_samples(x, fake, a)
    else:
        leaves = (x,)
        got = ops.upfirdn2d_triton(x, f, [2, 2], [1, 1], [2, 1, 2, 1], False, 4.0, "triton")
        want = reference.upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=4.0)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    seed = torch.randn_like(want)
    for g, w in zip(_grads(got, leaves, seed), _grads(want, leaves, seed)):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)


_TRACE = r'''
import math
import torch
from torch._functorch.aot_autograd import aot_function
from torch._subclasses.fake_tensor import FakeTensorMode
from functorch.compile import make_boxed_func
import fastgan.ops as O
from fastgan.ops import _backend

_backend.unavailable_reason = lambda backend, device_type: None  # fake CUDA tensors only: nothing runs
ops = torch.ops.fastgan
graphs = []
def record(gm, example_inputs):
    graphs.append(gm.code)
    return make_boxed_func(gm.forward)

def t(*shape):
    return torch.empty(*shape, device="cuda")

S = (4, 8, 5, 5)
cases = {
    "bias_act": lambda: ((t(*S), t(8)), lambda x, b: O.bias_act(x, b, act="lrelu", impl="triton")),
    "bias_act_grad": lambda: ((t(*S), t(*S), t(8)),
                              lambda dy, x, b: ops.bias_act_grad_triton(dy, x, b, 1, "lrelu", 0.2, math.sqrt(2), -1.0,
                                                                        1, "triton")[0]),
    "pixel_norm": lambda: ((t(*S),), lambda x: O.pixel_norm(x, impl="triton")),
    "pixel_norm_grad": lambda: ((t(*S), t(*S)), lambda dy, x: ops.pixel_norm_grad_triton(dy, x, 1, 1e-8, "triton")),
    "minibatch_std": lambda: ((t(*S),), lambda x: O.minibatch_std(x, 2, 1, impl="triton")),
    "minibatch_std_grad": lambda: ((t(4, 9, 5, 5), t(*S)),
                                   lambda dy, x: ops.minibatch_std_grad_triton(dy, x, 2, 1, 1e-8, "triton")),
    "grad_norm_penalty": lambda: ((t(*S),), lambda g: O.grad_norm_penalty(g, impl="triton")),
    "grad_reduce_grad": lambda: ((t(4), t(4), t(*S)),
                                 lambda dout, r, g: ops.grad_reduce_grad_triton(dout, None, r, g, "norm_penalty", 1.0,
                                                                                False, 1, "triton")),
    "lerp_samples": lambda: ((t(*S), t(*S), t(4)), lambda r, f, a: O.lerp_samples(r, f, a, impl="triton")),
    "lerp_samples_grad": lambda: ((t(*S), t(*S), t(*S), t(4)),
                                  lambda d, r, f, a: ops.lerp_samples_grad_triton(d, r, f, a, [True, True, True],
                                                                                  "triton")[0]),
    "upsample2d": lambda: ((t(*S), t(4)), lambda x, f: O.upsample2d(x, f, impl="triton")),
    "modconv_epilogue": lambda: ((t(*S), t(4, 8), t(4, 25), t(8)),
                                lambda c, d, n, b: ops.modconv_epilogue_triton(c, d, n, b, "lrelu", 0.2, math.sqrt(2),
                                                                               -1.0, "triton")),
    "modconv_epilogue_grad": lambda: ((t(*S), t(*S), t(4, 8), t(8)),
                                     lambda dy, c, d, b: ops.modconv_epilogue_grad_triton(
                                         dy, c, d, None, b, "lrelu", 0.2, math.sqrt(2), -1.0, "triton")[0]),
}
for name, make in cases.items():
    graphs.clear()
    with FakeTensorMode():
        inputs, fn = make()
        aot_function(fn, fw_compiler=record)(*inputs)
    print(f"=== {name}")
    print(graphs[0])
'''


def test_compile_sees_the_triton_kernels():
    """One subprocess (TRITON_INTERPRET is read at import) traces every triton op's graph."""
    env = dict(os.environ, TRITON_INTERPRET="0", TORCH_LOGS="-all")
    proc = subprocess.run([sys.executable, "-c", _TRACE], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    graphs = dict(part.split("\n", 1) for part in proc.stdout.split("=== ")[1:])
    assert len(graphs) == 13, sorted(graphs)
    for name, graph in graphs.items():
        assert "triton_kernel_wrapper_functional" in graph, (name, graph)
        assert "torch.ops.fastgan." not in graph, (name, graph)
