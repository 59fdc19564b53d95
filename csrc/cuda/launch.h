// Launch helpers for the CUDA kernels: the launch itself, grid sizing and error reporting as exceptions.
#pragma once
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

// FASTGAN_LAUNCH(grid, block, smem, stream, kernel)(args...) is kernel<<<grid, block, smem, stream>>>(args...);
// in the emulated build (csrc/emu) it runs the kernel on the CPU's fibers instead.
// FASTGAN_SHARED_FRESH(v), after the declaration of a __shared__ variable v: in the emulated build, v
// starts every block as NaN bytes (real shared memory starts undefined); nothing in the CUDA build.
#if defined(FASTGAN_CUDA_EMU)
#define FASTGAN_LAUNCH(grid, block, smem, stream, ...) \
  ::fastgan_emu::launch(grid, block, smem, stream, __VA_ARGS__, #__VA_ARGS__)
#define FASTGAN_SHARED_FRESH(v) ::fastgan_emu::fresh_shared(&(v), sizeof(v))
#else
#define FASTGAN_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define FASTGAN_SHARED_FRESH(v) ((void)0)
#endif

namespace fastgan::cuda {

inline void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("fastgan CUDA ") + what + ": " + cudaGetErrorString(e));
}

inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535LL * 32));
}

}  // namespace fastgan::cuda
