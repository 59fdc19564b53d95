// Kernels with the faults the emulator exists to catch (and two without), written as CUDA; the tests
// (tests/ops/test_cuda_emu.py) check that each fault is reported and each result is right.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/launch.h"

namespace fastgan_emu {
namespace {

__global__ void divergent_barrier(float* out) {
  if (threadIdx.x < 16) return;  // these never reach the barrier
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void warp_sum(float* out) {
  float v = float(threadIdx.x + 1);
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) out[threadIdx.x >> 5] = v;
}

__global__ void xor_max(float* out) {
  float v = float((threadIdx.x * 7) % 32);
  for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
  out[threadIdx.x] = v;
}

__global__ void exchange(float* out, bool barrier) {
  __shared__ float sh[64];
  FASTGAN_SHARED_FRESH(sh);
  sh[threadIdx.x] = float(threadIdx.x);
  if (barrier) __syncthreads();
  out[threadIdx.x] = sh[(threadIdx.x + 1) % blockDim.x];  // written by another thread
}

__global__ void unwritten_shared(float* out) {
  __shared__ float sh[64];
  FASTGAN_SHARED_FRESH(sh);
  if (threadIdx.x < 32) sh[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = sh[threadIdx.x];  // threads 32.. read what nobody wrote in this block
}

__global__ void shuffle_or_barrier(float* out) {
  if (threadIdx.x < 16) __syncthreads();
  else out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, 1);
}

__global__ void past_the_end(float* out) {
  out[threadIdx.x + 1] = 1.0f;  // the last thread writes one element past the buffer
}

__global__ void shared_past_the_end(float* out) {
  __shared__ float sh[32];
  sh[threadIdx.x] = 1.0f;  // a block of 33 threads: the last writes past the shared array
  __syncthreads();
  out[threadIdx.x] = sh[0];
}

std::string run(const char* name, const std::vector<float>& out) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return cudaGetErrorString(e);
  std::string r = "ok:";
  for (float v : out) r += " " + (std::isnan(v) ? std::string("nan") : std::to_string(int(v)));
  (void)name;
  return r;
}

}  // namespace

std::string selftest(const std::string& which) {
  std::vector<float> out(64, -1.0f);
  float* o = out.data();
  cudaStream_t s = nullptr;
  if (which == "divergent_barrier") FASTGAN_LAUNCH(1, 32, 0, s, divergent_barrier)(o);
  else if (which == "warp_sum") { out.resize(2); o = out.data(); FASTGAN_LAUNCH(1, 64, 0, s, warp_sum)(o); }
  else if (which == "xor_max") { out.resize(32); o = out.data(); FASTGAN_LAUNCH(1, 32, 0, s, xor_max)(o); }
  else if (which == "partial_warp_shuffle") FASTGAN_LAUNCH(1, 48, 0, s, warp_sum)(o);
  else if (which == "missing_barrier") FASTGAN_LAUNCH(1, 64, 0, s, exchange)(o, false);
  else if (which == "with_barrier") FASTGAN_LAUNCH(1, 64, 0, s, exchange)(o, true);
  else if (which == "unwritten_shared") FASTGAN_LAUNCH(2, 64, 0, s, unwritten_shared)(o);
  else if (which == "deadlock") FASTGAN_LAUNCH(1, 32, 0, s, shuffle_or_barrier)(o);
  else if (which == "block_too_large") FASTGAN_LAUNCH(1, 2048, 0, s, warp_sum)(o);
  else if (which == "grid_y_too_large") FASTGAN_LAUNCH(dim3(1, 70000), 32, 0, s, warp_sum)(o);
  else if (which == "out_of_bounds" || which == "shared_out_of_bounds") {
#if defined(__SANITIZE_ADDRESS__)
    std::vector<float> buf(64);  // its own heap block, so the write past it lands in ASan's red zone
    if (which == "out_of_bounds") FASTGAN_LAUNCH(1, 64, 0, s, past_the_end)(buf.data());
    else FASTGAN_LAUNCH(1, 33, 0, s, shared_past_the_end)(buf.data());
#else
    return "skipped: the emulator is not built with AddressSanitizer (scripts/emu_memcheck.sh)";
#endif
  }
  else throw std::invalid_argument("selftest: unknown case '" + which + "'");
  return run(which.c_str(), out);
}

}  // namespace fastgan_emu
