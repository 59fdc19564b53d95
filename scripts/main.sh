#!/usr/bin/env bash
# README command 1: set up, then train the default model on the embedded MNIST digits on
# the CPU and write samples, checkpoint, logs, loss plot and the final FID into out/main.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python scripts/main_job.py --out "${OUT:-out/main}" "$@"
