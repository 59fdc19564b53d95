#!/usr/bin/env bash
# Incremental in-place build of the native modules for development (after `pip install -e .`).
# Usage: scripts/dev_build.sh [cuda]   (FASTGAN_CUDA semantics: pass "cuda" to build _C_cuda too)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CUDA=OFF; [[ "${1:-}" == "cuda" ]] && CUDA=ON
BDIR=${FASTGAN_DEV_BUILD_DIR:-build/dev}
cmake -S . -B "$BDIR" -GNinja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PY" \
  -Dnanobind_DIR="$($PY -c 'import nanobind; print(nanobind.cmake_dir())')" \
  -DFASTGAN_OUTPUT_DIR="$PWD/fastgan" -DFASTGAN_CUDA=$CUDA \
  -DCMAKE_CUDA_ARCHITECTURES="${FASTGAN_CUDA_ARCHS:-80-real;86-real;89-real;90-real;90-virtual}" >/dev/null
cmake --build "$BDIR" --parallel "${FASTGAN_BUILD_JOBS:-2}"
