#!/usr/bin/env bash
# Create .venv (once) and install fastgan with its test extras into it. Idempotent: re-running
# only rebuilds what changed (build tools live in .venv, so the CMake build dir stays valid).
# Used by scripts/main.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
# pip's local-index warnings are noise here; real errors still fail the script
quiet() { grep -v -E "^WARNING: Location|^\s*$" || true; }
# the CUDA kernels are also built over the CPU emulator (fastgan._C_cuda_emu), so the tests run them here
export FASTGAN_BUILD_CUDA_EMU=${FASTGAN_BUILD_CUDA_EMU:-1}
start=$(date +%s)
.venv/bin/python -m pip install -q "setuptools>=68" wheel "nanobind>=2.0" "cmake>=3.24" ninja 2>&1 | quiet
.venv/bin/python -m pip install -q --no-build-isolation -e ".[test]" 2>&1 | quiet
.venv/bin/python -c "import fastgan._C" || { echo "setup: the C++ module did not build"; exit 1; }
echo "setup: fastgan installed in .venv ($(( $(date +%s) - start )) s)"
