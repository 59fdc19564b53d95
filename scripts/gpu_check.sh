#!/usr/bin/env bash
# The GPU run in one command: build fastgan with its CUDA module for this GPU, run every `cuda`-marked
# test on it, then benchmarks/bench_gpu.py. Everything it writes goes under $OUT (./gpu-out when unset).
#
#   bash scripts/gpu_check.sh                       # on a GPU machine: build, tests, bench
#   bash scripts/gpu_check.sh --only build,tests    # a subset of: build, tests, bench, sanitizer
#   bash scripts/gpu_check.sh --device cpu --tiny   # dry run without a GPU (tests/test_gpu_check.py, in CI)
#   GPU_CHECK_PYTEST_ARGS="-k upfirdn" bash scripts/gpu_check.sh --only build,tests   # a rerun of some tests
#
# Where it runs: the GPU machine has Python 3.12 with torch, triton, nvcc, cmake, ninja, nanobind, pytest,
# pytest-xdist and pytest-timeout already, and no package registry. What it lacks travels as wheels in
# .whl/ (ignored by git; `bash scripts/gpu_wheels.sh` fills it here) and is installed into /tmp/fastgan-site
# with pip --no-index. The build is in place (scripts/dev_build.sh into build/gpu-<python tag>), for the GPU's
# own architecture (sm_90 on an H200), so nothing built on another machine needs to run there.
#
# The tests run with FASTGAN_REQUIRE_GPU=1: a `cuda` test that skips fails (tests/conftest.py), and the run
# fails unless the JUnit report counts at least one test and no skip. TRITON_INTERPRET=0, so Triton compiles
# for the GPU. Each stage has a time limit (GPU_CHECK_BUILD_S 180, _TESTS_S 210, _BENCH_S 240, _SANITIZER_S 150),
# cut so that the whole run ends within GPU_CHECK_TOTAL_S (570 s), inside the device tool's 10 minutes; the bench
# writes its tables after every case, so a stage stopped at its limit still leaves what it measured.
#
# Files under $OUT (at most 8, for the device tool): gpu_check.log, cuda-tests.xml, resource_usage.txt,
# sanitizer.log, RESULTS_gpu.md, results_gpu_ops.csv, results_gpu_train.csv.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE=cuda
TINY=0
ONLY=build,tests,bench,sanitizer
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $DEVICE == cuda || $DEVICE == cpu ]] || { echo "gpu_check: --device must be cuda or cpu" >&2; exit 2; }
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
LOG=$OUT/gpu_check.log
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
T0=$(date +%s)
FAILED=()
stage() { [[ ",$ONLY," == *",$1,"* ]]; }
elapsed() { echo $(( $(date +%s) - T0 )); }
# a stage's time limit: its default, cut so that the whole run stays under GPU_CHECK_TOTAL_S
limit() { local left=$(( ${GPU_CHECK_TOTAL_S:-570} - $(elapsed) )); echo $(( $1 < left ? $1 : left )); }
say() { echo "== [$(elapsed) s] $*"; }
fail() { FAILED+=("$1"); say "FAILED: $1"; }

say "gpu_check: device $DEVICE, tiny $TINY, stages $ONLY, out $OUT"
if [[ $DEVICE == cuda ]]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || fail "nvidia-smi"
fi

# ---- wheels: packages the machine lacks, installed without a registry
if compgen -G ".whl/*.whl" >/dev/null; then
  say "installing $(ls .whl/*.whl | wc -l) wheel(s) from .whl into /tmp/fastgan-site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/fastgan-site \
    .whl/*.whl || fail "wheels"
  export PYTHONPATH=/tmp/fastgan-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
"$PY" - <<'EOF' || fail "environment"
import sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| GPU", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for name in ("triton", "nanobind", "pytest", "xdist", "numpy", "scipy"):
    try:
        m = __import__(name)
        print(" ", name, getattr(m, "__version__", "?"))
    except ImportError as e:
        print(" ", name, "MISSING:", e)
EOF

# ---- 1. build
# the build tools: nvcc (also when only /usr/local/cuda/bin has it), and cmake and ninja, which pip puts beside
# the interpreter or inside their packages
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH; fi
TOOLS=$("$PY" -c '
import os, sys
dirs = [os.path.dirname(sys.executable)]
for mod, attr in (("ninja", "BIN_DIR"), ("cmake", "CMAKE_BIN_DIR")):
    try:
        dirs.append(getattr(__import__(mod), attr))
    except Exception:
        pass
print(":".join(d for d in dirs if d and os.path.isdir(d)))')
[[ -n $TOOLS ]] && export PATH=$PATH:$TOOLS
echo "build tools: nvcc $(command -v nvcc || echo MISSING), cmake $(command -v cmake || echo MISSING), ninja $(command -v ninja || echo MISSING)"
PYTAG=$("$PY" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
if stage build; then
  if [[ $DEVICE == cuda ]]; then
    ARCH=$("$PY" -c 'import torch; m, n = torch.cuda.get_device_capability(0); print(f"{m}{n}-real")') || ARCH=90-real
    say "build: fastgan._C and fastgan._C_cuda for $ARCH"
    b0=$(date +%s)
    if FASTGAN_DEV_BUILD_DIR=build/gpu-$PYTAG FASTGAN_CUDA_ARCHS=$ARCH PYTHON=$PY \
        FASTGAN_BUILD_JOBS=$(nproc) timeout "$(limit "${GPU_CHECK_BUILD_S:-180}")" bash scripts/dev_build.sh cuda; then
      say "build took $(( $(date +%s) - b0 )) s"
    else
      fail "build"
    fi
  elif "$PY" -c "import fastgan._C" 2>/dev/null; then
    say "build: dry run, fastgan._C is already built; the GPU run builds with:"
    echo "   FASTGAN_DEV_BUILD_DIR=build/gpu-$PYTAG FASTGAN_CUDA_ARCHS=90-real PYTHON=$PY bash scripts/dev_build.sh cuda"
  else
    say "build: dry run, CPU module only"
    FASTGAN_DEV_BUILD_DIR=build/gpu-dry-$PYTAG PYTHON=$PY timeout "${GPU_CHECK_BUILD_S:-240}" \
      bash scripts/dev_build.sh || fail "build"
  fi
  "$PY" -m fastgan info || fail "fastgan info"
  SO=$(ls fastgan/_C_cuda*.so 2>/dev/null | head -1)
  if [[ -n $SO ]] && command -v cuobjdump >/dev/null; then
    cuobjdump --dump-resource-usage "$SO" >"$OUT/resource_usage.txt" 2>&1 || fail "cuobjdump"
    say "register and shared-memory use per kernel: resource_usage.txt ($(grep -c 'Function' "$OUT/resource_usage.txt") kernels)"
  else
    echo "no CUDA module or no cuobjdump here: resource usage not read" >"$OUT/resource_usage.txt"
  fi
fi

# ---- 2. correctness: every cuda-marked test
if stage tests; then
  mapfile -t FILES < <(grep -rlE "pytest\.mark\.cuda|mark\.cuda\b" tests --include='test_*.py' | sort)
  [[ -n ${FASTGAN_CUDA_TESTS:-} ]] && read -r -a FILES <<<"$FASTGAN_CUDA_TESTS"
  say "tests: pytest -m cuda over ${FILES[*]}"
  XDIST=()
  # 12 workers on the 16 cores; each compiles Triton kernels and inductor graphs itself, single-threaded
  if [[ $DEVICE == cuda ]] && "$PY" -c "import xdist" 2>/dev/null; then
    XDIST=(-n "${GPU_CHECK_WORKERS:-12}")
    export TORCHINDUCTOR_COMPILE_THREADS=1
  fi
  TIMEOUT=()
  "$PY" -c "import pytest_timeout" 2>/dev/null && TIMEOUT=(--timeout 150)
  read -r -a EXTRA <<<"${GPU_CHECK_PYTEST_ARGS:-}"   # e.g. GPU_CHECK_PYTEST_ARGS="-k modulated" for a rerun
  if [[ $DEVICE == cuda ]]; then export FASTGAN_REQUIRE_GPU=1 TRITON_INTERPRET=0; fi
  timeout "$(limit "${GPU_CHECK_TESTS_S:-210}")" "$PY" -m pytest -m cuda -q -rfEs -p no:cacheprovider "${XDIST[@]}" "${TIMEOUT[@]}" "${EXTRA[@]}" \
    --junitxml="$OUT/cuda-tests.xml" "${FILES[@]}"
  rc=$?
  [[ $rc == 124 ]] && say "tests: stopped at the time limit"
  "$PY" - "$OUT/cuda-tests.xml" "$DEVICE" <<'EOF' || fail "tests"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print("cuda tests:", n)
if n["tests"] == 0:
    sys.exit("no cuda test was collected")
if sys.argv[2] == "cuda" and (n["failures"] or n["errors"] or n["skipped"]):
    sys.exit("cuda tests failed, errored or skipped on the GPU")
if sys.argv[2] == "cpu" and n["skipped"] != n["tests"]:
    sys.exit("without a GPU every cuda test must skip")
EOF
  unset FASTGAN_REQUIRE_GPU
fi

# ---- 3. speed (a budget, so the run ends inside its limit with what it measured written)
if stage bench; then
  LIMIT=$(limit "${GPU_CHECK_BENCH_S:-240}")
  say "bench: benchmarks/bench_gpu.py (limit $LIMIT s)"
  ARGS=(--device "$DEVICE" --out "$OUT" --budget $(( LIMIT - 20 )))
  [[ $TINY == 1 ]] && ARGS+=(--tiny --repeat 2)
  TRITON_INTERPRET=$([[ $DEVICE == cpu ]] && echo 1 || echo 0) timeout "$LIMIT" \
    "$PY" benchmarks/bench_gpu.py "${ARGS[@]}" || fail "bench"
fi

# ---- 4. compute-sanitizer memcheck: every op once, small, cuda and triton, forward and backward
if stage sanitizer; then
  LIMIT=$(limit "${GPU_CHECK_SANITIZER_S:-150}")
  if [[ $DEVICE == cuda ]] && command -v compute-sanitizer >/dev/null && (( LIMIT >= 40 )); then
    say "compute-sanitizer memcheck over every op (limit $LIMIT s)"
    TRITON_INTERPRET=0 timeout "$LIMIT" compute-sanitizer --tool memcheck --error-exitcode 3 "$PY" - \
      >"$OUT/sanitizer.log" 2>&1 <<'EOF'
import torch
from tests.ops import test_cuda as T
for backend in T.GPU_BACKENDS:
    for case in T.CASES:
        inputs = case.make(case.shapes["odd"], torch.float32, "cuda")
        y = case.run(*inputs, impl=backend)
        torch.autograd.grad(y, [t for t in inputs if t.requires_grad], torch.randn_like(y))
        torch.cuda.synchronize()
        print("memcheck ran", backend, case.name, flush=True)
EOF
    rc=$?
    tail -4 "$OUT/sanitizer.log"
    case $rc in
      0) say "sanitizer: no error reported" ;;
      124) say "sanitizer: stopped at the time limit (sanitizer.log has what it ran)" ;;
      *) fail "sanitizer (exit $rc; see sanitizer.log)" ;;
    esac
  else
    echo "sanitizer: not run (device $DEVICE, $(command -v compute-sanitizer || echo no compute-sanitizer), $LIMIT s left)" \
      | tee "$OUT/sanitizer.log"
  fi
fi

say "done in $(elapsed) s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  say "FAILED stages: ${FAILED[*]}"
  exit 1
fi
say "all stages passed"
