"""Build driver: setuptools runs CMake, CMake builds the nanobind modules.

Environment:
  FASTGAN_CUDA=auto|0|1     build fastgan._C_cuda (auto: when nvcc is found)
  FASTGAN_CUDA_ARCHS=...    CMake CUDA architectures (default "80-real;86-real;89-real;90-real;90-virtual")
  FASTGAN_NATIVE=1|0        compile the CPU module for this machine's ISA (default 1)
  FASTGAN_BUILD_TYPE=Release|Debug
  FASTGAN_BUILD_JOBS=N      parallel compile jobs
  FASTGAN_BUILD_NATIVE=0    build no native module at all (a pure-Python package: ref and triton backends)
  FASTGAN_BUILD_CUDA_EMU=1  also build fastgan._C_cuda_emu: the CUDA kernels compiled as C++ over csrc/emu's
                            emulator, so the tests run them on the CPU (no nvcc or GPU needed; default 0)
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


def _find_nvcc():
    cand = os.environ.get("CUDACXX") or shutil.which("nvcc")
    if not cand:
        for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
            if home and Path(home, "bin", "nvcc").exists():
                cand = str(Path(home, "bin", "nvcc"))
                break
    return cand


def _cuda_compiler():
    mode = os.environ.get("FASTGAN_CUDA", "auto").lower()
    if mode not in ("auto", "0", "1"):
        raise ValueError(f"FASTGAN_CUDA must be auto, 0 or 1, got {mode!r}")
    nvcc = _find_nvcc() if mode != "0" else None
    if mode == "1" and not nvcc:
        raise RuntimeError("FASTGAN_CUDA=1 but no nvcc was found (set CUDACXX or CUDA_HOME)")
    return nvcc


NVCC = _cuda_compiler()
CUDA_EMU = os.environ.get("FASTGAN_BUILD_CUDA_EMU", "0")
if CUDA_EMU not in ("0", "1"):
    raise ValueError(f"FASTGAN_BUILD_CUDA_EMU must be 0 or 1, got {CUDA_EMU!r}")
CUDA_EMU = CUDA_EMU == "1"


class CMakeBuild(build_ext):
    """One CMake build makes every module; the first extension triggers it."""

    def build_extension(self, ext):
        if ext.name != "fastgan._C":
            return  # built together with fastgan._C
        import nanobind

        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_temp = Path(os.environ.get("FASTGAN_BUILD_DIR", ROOT / "build" / f"cmake-py{sys.version_info[0]}{sys.version_info[1]}")).resolve()
        # The build dir persists so re-installs are incremental; a cache made with other build
        # tools (pip's isolated build env lives in a new temp dir each time) is started afresh.
        tools = f"{shutil.which('cmake')}\n{shutil.which('ninja')}\n{sys.executable}\n"
        stamp = build_temp / "fastgan-build-tools.txt"
        if build_temp.exists() and (not stamp.exists() or stamp.read_text() != tools):
            shutil.rmtree(build_temp)
        build_temp.mkdir(parents=True, exist_ok=True)
        stamp.write_text(tools)
        nvcc = NVCC
        args = [
            f"-DCMAKE_BUILD_TYPE={os.environ.get('FASTGAN_BUILD_TYPE', 'Release')}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dnanobind_DIR={nanobind.cmake_dir()}",
            f"-DFASTGAN_OUTPUT_DIR={out_dir}",
            f"-DFASTGAN_NATIVE={'ON' if os.environ.get('FASTGAN_NATIVE', '1') == '1' else 'OFF'}",
            f"-DFASTGAN_CUDA={'ON' if nvcc else 'OFF'}",
            f"-DFASTGAN_CUDA_EMU={'ON' if CUDA_EMU else 'OFF'}",
        ]
        if nvcc:
            args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
            args.append("-DCMAKE_CUDA_ARCHITECTURES=" + os.environ.get("FASTGAN_CUDA_ARCHS", "80-real;86-real;89-real;90-real;90-virtual"))
        if shutil.which("ninja"):
            args.append("-GNinja")
        jobs = os.environ.get("FASTGAN_BUILD_JOBS", str(os.cpu_count() or 2))
        t0 = time.time()
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_temp), *args], check=True)
        subprocess.run(["cmake", "--build", str(build_temp), "--parallel", jobs], check=True)
        print(f"fastgan: native build took {time.time() - t0:.1f} s (CUDA module: {'yes' if nvcc else 'no'}, emulator: {'yes' if CUDA_EMU else 'no'})")


# fastgan.compat's FASTGAN_PATCH hook: one line at the root of site-packages, inert unless the variable is set.
PTH = ROOT / "fastgan" / "compat" / "fastgan-compat.pth"


class BuildPy(build_py):
    """Also puts fastgan-compat.pth at the root of the wheel, i.e. into site-packages."""

    def run(self):
        super().run()
        self.copy_file(str(PTH), os.path.join(self.build_lib, PTH.name))

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH.name)]


class _WithPth:
    """An editable-install strategy that also writes fastgan-compat.pth into the editable wheel."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        wheel.writestr(PTH.name, PTH.read_bytes())

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)


class EditableWheel(editable_wheel):
    """`pip install -e .` gets the .pth hook too (an editable wheel otherwise holds only the path finder)."""

    def _select_strategy(self, name, tag, build_lib):
        return _WithPth(super()._select_strategy(name, tag, build_lib))


if os.environ.get("FASTGAN_BUILD_NATIVE", "1") not in ("0", "1"):
    raise ValueError(f"FASTGAN_BUILD_NATIVE must be 0 or 1, got {os.environ['FASTGAN_BUILD_NATIVE']!r}")
if os.environ.get("FASTGAN_BUILD_NATIVE", "1") == "0":  # pure-Python package: the ref and triton backends only
    _exts = []
else:
    _exts = [CMakeExtension("fastgan._C")] + ([CMakeExtension("fastgan._C_cuda")] if NVCC else [])
    _exts += [CMakeExtension("fastgan._C_cuda_emu")] if CUDA_EMU else []
setup(ext_modules=_exts, cmdclass={"build_ext": CMakeBuild, "build_py": BuildPy, "editable_wheel": EditableWheel})
