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


def test_info_command_reports_modules():
    out = subprocess.run([sys.executable, "-m", "fastgan", "info", "--json"], capture_output=True, text=True,
                         check=True).stdout
    import json

    info = json.loads(out)
    assert info["cpu_module"]["built"] is True
    assert info["backends"]["cpu"]["cpu"] == "available"
    assert "torch" in info and "triton" in info
