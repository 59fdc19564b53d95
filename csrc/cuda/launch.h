// Launch helpers for the CUDA kernels: grid sizing and error reporting as exceptions.
#pragma once
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

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
