#!/usr/bin/env bash
# The CPU's compute-sanitizer: every emulated CUDA kernel test (pytest -m cuda_emu) with the CUDA
# emulator built under AddressSanitizer and UBSan. An out-of-bounds read or write of a tensor, of
# shared memory or of a fiber's stack, or undefined behaviour (overflowing signed index math, a bad
# shift), stops the run with ASan's report, naming the kernel's source line.
#
#   bash scripts/emu_memcheck.sh [pytest args...]     (after scripts/setup_env.sh)
#
# The sanitized module is built apart (build/emu-memcheck) and loaded through FASTGAN_CUDA_EMU_MODULE;
# the installed fastgan is left as it is. GCC's libasan is preloaded into Python, since the
# interpreter itself is not built with it; leak checking is off (Python and torch keep memory).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BUILD=${FASTGAN_MEMCHECK_BUILD:-build/emu-memcheck}
start=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(realpath "$PY")" \
  -Dnanobind_DIR="$("$PY" -c 'import nanobind; print(nanobind.cmake_dir())')" \
  -DFASTGAN_OUTPUT_DIR="$PWD/$BUILD/out" -DFASTGAN_CUDA=OFF -DFASTGAN_CUDA_EMU=ON \
  -DFASTGAN_EMU_SANITIZE=address,undefined > "$BUILD.cmake.log" 2>&1 || { cat "$BUILD.cmake.log"; exit 1; }
cmake --build "$BUILD" --target _C_cuda_emu > "$BUILD.build.log" 2>&1 || { tail -50 "$BUILD.build.log"; exit 1; }
mod=$(ls "$BUILD"/out/_C_cuda_emu*.so)
echo "emu_memcheck: sanitized emulator built in $(( $(date +%s) - start )) s: $mod"
preload=""
for lib in libasan.so libubsan.so libstdc++.so; do
  path=$(${CXX:-g++} -print-file-name=$lib)
  [[ -f "$path" ]] || { echo "emu_memcheck: $lib not found (GCC with sanitizers needed)"; exit 1; }
  preload="$preload $path"
done
export LD_PRELOAD="${preload# }"
# reports go to files (pytest captures stderr, and a process ASan stops leaves no captured output behind)
reports="$PWD/$BUILD/reports"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=0:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export FASTGAN_CUDA_EMU_MODULE="$PWD/$mod" FASTGAN_REQUIRE_EMU=1
rc=0
"$PY" -m pytest -q -p no:cacheprovider -m "cuda_emu and not slow" tests/ops/test_cuda.py tests/ops/test_cuda_emu.py "$@" || rc=$?
# ASan's warning that swapcontext is not fully supported is expected (the emulator announces each fiber switch);
# a report of the faulty kernels that test_memcheck_reports_out_of_bounds runs on purpose is expected too
found=0
for f in "$reports"/*; do
  [[ -f "$f" ]] || continue
  if grep -q -E "ERROR: AddressSanitizer|runtime error:" "$f" && ! grep -q "past_the_end" "$f"; then
    echo "emu_memcheck: sanitizer report $f:"; cat "$f"; found=1
  fi
done
if (( found )); then echo "emu_memcheck: FAILED: memory errors or undefined behaviour above"; exit 1; fi
(( rc == 0 )) && echo "emu_memcheck: no memory error, no undefined behaviour" || echo "emu_memcheck: pytest failed (rc $rc)"
exit $rc
