#!/usr/bin/env bash
# Fill .whl/ (ignored by git) with the wheels scripts/gpu_check.sh installs on the GPU machine, which has
# Python 3.12 and no package registry. Run here, where pip reaches PyPI; then name .whl in the run's carry.
# Everything else gpu_check.sh needs is in that machine's image (torch, triton, nvcc, cmake, ninja, pytest,
# pytest-xdist, numpy, scipy, safetensors, ...); nanobind is there too, but its version is unknown, and the
# build needs >= 2.0, so the one this project builds with here travels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl "nanobind==${NANOBIND_VERSION:-3.1.0}"
ls -la .whl
