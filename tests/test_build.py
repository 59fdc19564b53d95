"""The native modules: the CPU module is built; the CUDA module is built whenever nvcc is present
(FASTGAN_CUDA=auto) and exposes every op; `fastgan info` reports them."""
import os
import shutil
import subprocess
import sys

import pytest

from fastgan.ops import _backend as B


def test_cpu_module_built_with_openmp():
    mod, err = B._native_state()
    assert mod is not None, f"fastgan._C failed to import: {err}"
    assert mod.has_openmp
    assert hasattr(mod, "bias_act_fwd")


@pytest.mark.skipif(not (shutil.which("nvcc") or os.path.exists("/usr/local/cuda/bin/nvcc"))
                    or os.environ.get("FASTGAN_CUDA") == "0", reason="no nvcc: CUDA module not expected")
def test_cuda_module_compiled_with_every_op():
    mod, err = B._cuda_state()
    assert mod is not None, f"nvcc is present but fastgan._C_cuda failed to import: {err}"
    cpu = B.native_module()
    cpu_ops = {n for n in dir(cpu) if n.endswith(("_fwd", "_grad", "_bwd"))}
    cuda_ops = {n for n in dir(mod) if n.endswith(("_fwd", "_grad", "_bwd"))}
    assert "bias_act_fwd" in cuda_ops
    for arch in ("80", "86", "89", "90"):
        assert arch in mod.archs
    missing = cpu_ops - cuda_ops
    assert not missing, f"ops with a CPU kernel but no CUDA kernel: {sorted(missing)}"


@pytest.mark.cuda_emu
def test_emulator_module_has_every_cuda_entry_point():
    """fastgan._C_cuda_emu (FASTGAN_BUILD_CUDA_EMU=1) binds the same kernels as fastgan._C_cuda, from the same
    sources: every op with a CPU kernel, and, where the real module is built here too, exactly its entry points."""
    with B.cuda_emulation():
        emu, err = B._cuda_state()
    if emu is None:
        pytest.skip(f"the CUDA emulator is not built: {err}")
    assert emu.emulated is True and emu.archs == "emulated"
    ops_of = lambda m: {n for n in dir(m) if n.endswith(("_fwd", "_grad", "_bwd"))}  # noqa: E731
    missing = ops_of(B.native_module()) - ops_of(emu)
    assert not missing, f"ops with a CPU kernel but none in the emulated CUDA module: {sorted(missing)}"
    with B.cuda_emulation(False):
        real = B.cuda_module()
    if real is not None:
        assert real.emulated is False
        extra = {"set_schedule", "schedule", "stats", "reset_stats", "selftest", "sanitized"}
        public = lambda m: {n for n in dir(m) if not n.startswith("_")}  # noqa: E731
        assert public(emu) - extra == public(real), "the emulated and real CUDA modules bind different entry points"


def test_info_command_reports_modules():
    out = subprocess.run([sys.executable, "-m", "fastgan", "info", "--json"], capture_output=True, text=True,
                         check=True).stdout
    import json

    info = json.loads(out)
    assert info["cpu_module"]["built"] is True
    assert info["backends"]["cpu"]["cpu"] == "available"
    assert "torch" in info and "triton" in info


_PY_TYPE = {"Tensor": "int", "Tensor?": "int", "Acc": "int", "Acc?": "int", "int": "int", "float": "float", "bool": "bool",
            "Strides3": "collections.abc.Sequence[int]", "Strides4": "collections.abc.Sequence[int]",
            "Phases": "collections.abc.Sequence[int]"}


def _binding_params(fn):
    """The parameter types nanobind reports for a bound function, e.g. ['int', 'float', ...]."""
    sig = fn.__nb_signature__[0][0]  # "def name(arg0: int, arg1: float, /) -> None"
    inner = sig[sig.index("(") + 1:sig.rindex(")")]
    params, depth, cur = [], 0, ""
    for ch in inner:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            params.append(cur.strip())
            cur = ""
        else:
            cur += ch
    params.append(cur.strip())
    return [p.split(":", 1)[1].strip() for p in params if ":" in p]


def _declared_kernels():
    import fastgan.ops  # noqa: F401  (declares the public ops' kernels)
    from fastgan.ops import _op
    from fastgan.ops.cpu_conv import gemm, winograd, winograd_s2  # noqa: F401

    return _op.KERNELS


@pytest.mark.parametrize("backend", ["cpu", "cuda", pytest.param("cuda-emu", marks=pytest.mark.cuda_emu)])
def test_kernel_declarations_match_the_bindings(backend):
    """Every Kernel's typed argument list (fastgan/ops/_op.py) is the one its C++/CUDA entry point takes,
    with the dtype code in front (where declared) and the thread count / CUDA stream last."""
    with B.cuda_emulation(backend == "cuda-emu"):
        mod = B.native_module() if backend == "cpu" else B.cuda_module()
    backend = backend.removesuffix("-emu")
    if mod is None:
        pytest.skip(f"the {backend} module is not built")
    checked = 0
    for k in _declared_kernels():
        if backend not in k.backends:
            continue
        assert hasattr(mod, k.name), f"{backend} module has no entry point {k.name}"
        want = (["int"] if k.dtype_code else []) + [_PY_TYPE[t] for _, t in k.params] + ["int"]
        assert _binding_params(getattr(mod, k.name)) == want, f"{k!r} disagrees with its {backend} binding"
        checked += 1
    assert checked >= (20 if backend == "cpu" else 10)


def test_stride_arguments_must_have_their_length():
    """A Strides<4> argument given 3 strides is refused by the binding before any kernel runs."""
    mod = B.native_module()
    with pytest.raises(TypeError):
        mod.wino_weight(0, 0, 0, 1, 1, (9, 9, 3), 1)
    with pytest.raises(TypeError):
        mod.modconv_scale(0, 0, 0, 0, 1, 1, 1, (1, 1, 1, 1), (1, 1, 1), 1)
