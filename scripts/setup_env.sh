#!/usr/bin/env bash
# Create .venv (once) and install fastgan with its test extras into it. Idempotent: re-running
# only rebuilds what changed. Used by scripts/main.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
# pip's local-index warnings are noise here; real errors still fail the script
quiet() { grep -v -E "^WARNING: Location|^\s*$" || true; }
start=$(date +%s)
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | quiet
echo "setup: fastgan installed in .venv ($(( $(date +%s) - start )) s)"
