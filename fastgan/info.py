"""`fastgan info`: versions, built modules, backends, CPU features, Triton status."""
from __future__ import annotations

import json
import os
import platform

import torch

import fastgan
from fastgan.ops import _backend as B


def collect() -> dict:
    info = {
        "fastgan": fastgan.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    mod, err = B._native_state()
    if mod is not None:
        info["cpu_module"] = {"built": True, "openmp": bool(mod.has_openmp), "native_isa_build": bool(mod.native_build),
                              "compiled_isa": mod.isa().split(), "compiler": mod.compiler()}
    else:
        info["cpu_module"] = {"built": False, "error": str(err)}
    cmod, cerr = B._cuda_state()
    if cmod is not None:
        info["cuda_module"] = {"built": True, "archs": cmod.archs, "cuda_runtime": cmod.runtime_version(),
                               "devices": cmod.device_count()}
    else:
        info["cuda_module"] = {"built": False, "error": str(cerr)}
    info["torch_cuda_available"] = torch.cuda.is_available()
    try:
        import triton  # optional: report its absence instead of failing

        info["triton"] = {"version": triton.__version__, "interpreter": B.triton_interpret(),
                          "usable_on_cpu_tensors": B.unavailable_reason("triton", "cpu") is None}
    except Exception as e:  # noqa: BLE001 - report any import failure
        info["triton"] = {"version": None, "error": str(e)}
    info["backends"] = {dev: {b: (B.unavailable_reason(b, dev) or "available") for b in B.BACKENDS}
                        for dev in ("cpu", "cuda")}
    info["cpu_flags"] = _cpu_flags()
    return info


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(flags & {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                                           "avx512_bf16", "avx512_fp16", "amx_tile"})
    except OSError:
        pass
    return [platform.machine()]


def _print(d, indent=0):
    for k, v in d.items():
        if isinstance(v, dict):
            print(" " * indent + f"{k}:")
            _print(v, indent + 2)
        else:
            if isinstance(v, list):
                v = " ".join(map(str, v)) or "-"
            print(" " * indent + f"{k}: {v}")


def run(args) -> int:
    info = collect()
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2))
    else:
        _print(info)
    return 0


def register(sub) -> None:
    p = sub.add_parser("info", help="versions, built modules, available backends, CPU features")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
