"""torch.compile(fullgraph=True) with inductor through every op on the CPU backend, forward and gradients
(inductor compiles the backward too), against eager and against the float64 reference (the same case
table as tests/ops/test_cuda.py, which does this on the GPU)."""
import pytest
import torch

from fastgan.ops import _backend as B

from .test_cuda import COMPILE_CASES, _compare, _grads, _rel_err


@pytest.mark.slow
@pytest.mark.skipif(B.unavailable_reason("cpu", "cpu") is not None, reason=str(B.unavailable_reason("cpu", "cpu")))
@pytest.mark.parametrize("case", COMPILE_CASES, ids=[c.name for c in COMPILE_CASES])
def test_compile_inductor_fullgraph_cpu(case):
    import torch._dynamo

    torch._dynamo.reset()
    inputs = case.make(case.shapes["small"], torch.float32, "cpu")
    fwd = lambda *ins: case.run(*ins, impl="cpu")  # noqa: E731
    dy = torch.randn_like(fwd(*inputs))
    cfwd = torch.compile(fwd, fullgraph=True, backend="inductor")

    def step(f):
        out = f(*inputs)
        return (out,) + tuple(_grads(out, inputs, dy))

    eager, compiled = step(fwd), step(cfwd)
    assert len(compiled) == len(eager) > 1
    for i, (a, b) in enumerate(zip(compiled, eager)):
        if b is not None:
            assert _rel_err(a, b) <= 1e-5, f"{case.name}: compiled result {i} differs from eager"
    _compare(case, inputs, cfwd(*inputs), torch.float32)
