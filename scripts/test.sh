#!/usr/bin/env bash
# README command 2: set up and run the test suite. Extra arguments go to pytest
# (e.g. -m "not slow" to skip the slow end-to-end tests locally).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/python -m fastgan info
# the emulated CUDA kernels were built above: a skipped `cuda_emu` test is a failure, not a silent skip
export FASTGAN_REQUIRE_EMU=${FASTGAN_REQUIRE_EMU:-1}
exec .venv/bin/python -m pytest -q -ra -p no:cacheprovider --timeout 900 "$@"
