// Block-wide sums for the CUDA reductions (pixel_norm rows, minibatch_std parts, gradient
// penalties): warp shuffles, then one value per warp through shared memory. Every thread
// of the block must call it; the result is returned to all threads.
#pragma once
#include <cuda_runtime.h>

#include "cuda/launch.h"

namespace fastgan::cuda {

template <class A> __device__ __forceinline__ A warp_sum(A v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

template <class A> __device__ A block_sum(A v) {
  __shared__ A partial[32];
  __shared__ A total;
  FASTGAN_SHARED_FRESH(partial);
  FASTGAN_SHARED_FRESH(total);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    A w = lane < nwarps ? partial[lane] : A(0);
    w = warp_sum(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

}  // namespace fastgan::cuda
