// The gradient-penalty family on CUDA. Per-sample reductions use one block per sample (a
// block-wide sum, then thread 0 applies the finish), which keeps them deterministic; the
// elementwise passes are grid-stride loops that read the per-sample coefficient.
// Math shared with the CPU kernels: fastgan/grad_penalty.h.
#include <cmath>
#include <type_traits>

#include "cuda/block_reduce.cuh"
#include "cuda/grad_penalty.h"
#include "cuda/launch.h"
#include "fastgan/grad_penalty.h"

namespace fastgan::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kReduceThreads = 1024;

// 1024-thread blocks: __launch_bounds__ keeps the compiler under 64 registers per thread, so a launch can
// never fail with "too many resources requested" after a change to the shared math.
template <class T>
__global__ void __launch_bounds__(kReduceThreads) reduce_kernel(const T* __restrict__ g, acc_t<T>* __restrict__ out, acc_t<T>* __restrict__ r,
                              int64_t N, int64_t K, int mode, acc_t<T> target, bool one_sided, acc_t<T> isl) {
  using A = acc_t<T>;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    A s = 0;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const A v = A(load(g, n * K + k));
      s += v * v;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
      out[n] = grad_reduce_value(mode, s, target, one_sided, isl);
      r[n] = sqrt(s);
    }
  }
}

template <class T>
__global__ void scale_kernel(const acc_t<T>* __restrict__ dout, const acc_t<T>* __restrict__ dr,
                             const acc_t<T>* __restrict__ r, const T* __restrict__ g, T* __restrict__ dg, int64_t N,
                             int64_t K, int mode, acc_t<T> target, bool one_sided, acc_t<T> isl) {
  using A = acc_t<T>;
  const int64_t total = N * K;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / K;
    const A k = grad_reduce_coef(mode, dout[n], dr ? dr[n] : A(0), r[n], target, one_sided, isl);
    store(dg, i, A(load(g, i)) * k);
  }
}

template <class T>
__global__ void lerp_kernel(const T* __restrict__ real, const T* __restrict__ fake, const T* __restrict__ alpha,
                            T* __restrict__ out, int64_t N, int64_t K) {
  using A = acc_t<T>;
  const int64_t total = N * K;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    store(out, i, lerp_sample(A(load(real, i)), A(load(fake, i)), A(load(alpha, i / K))));
}

// one block per sample: writes d_real / d_fake and reduces d_alpha
template <class T>
__global__ void __launch_bounds__(kReduceThreads) lerp_grad_kernel(const T* __restrict__ dout, const T* __restrict__ real, const T* __restrict__ fake,
                                 const T* __restrict__ alpha, T* __restrict__ d_real, T* __restrict__ d_fake,
                                 T* __restrict__ d_alpha, int64_t N, int64_t K) {
  using A = acc_t<T>;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const A a = A(load(alpha, n));
    A s = 0;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const int64_t i = n * K + k;
      const A go = A(load(dout, i));
      if (d_real) store(d_real, i, go * (A(1) - a));
      if (d_fake) store(d_fake, i, go * a);
      if (d_alpha) s += go * (A(load(fake, i)) - A(load(real, i)));
    }
    if (d_alpha) {
      s = block_sum(s);
      if (threadIdx.x == 0) store(d_alpha, n, s);
    }
  }
}

inline unsigned sample_blocks(int64_t N) { return unsigned(std::min<int64_t>(std::max<int64_t>(N, 1), 65535LL * 32)); }

}  // namespace

void grad_reduce_fwd(int dtype, const void* g, void* out, void* r, int64_t N, int64_t K, int mode, double target,
                     bool one_sided, int64_t num_ws, void* stream) {
  const double inv_sqrt_l = 1.0 / std::sqrt(double(num_ws));
  check(mode >= kSqNorm && mode <= kPathLength, "grad_reduce: unknown mode");
  if (N == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    FASTGAN_LAUNCH(sample_blocks(N), kReduceThreads, 0, (cudaStream_t)stream, reduce_kernel<T>)(
        (const T*)g, (A*)out, (A*)r, N, K, mode, A(target), one_sided, A(inv_sqrt_l));
    return 0;
  });
  check_launch("grad_reduce_fwd");
}

void grad_reduce_grad(int dtype, const void* dout, const void* dr, const void* r, const void* g, void* dg, int64_t N,
                      int64_t K, int mode, double target, bool one_sided, int64_t num_ws, void* stream) {
  const double inv_sqrt_l = 1.0 / std::sqrt(double(num_ws));
  check(mode >= kSqNorm && mode <= kPathLength, "grad_reduce: unknown mode");
  if (N * K == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    FASTGAN_LAUNCH(grid_for(N * K, kThreads), kThreads, 0, (cudaStream_t)stream, scale_kernel<T>)(
        (const A*)dout, (const A*)dr, (const A*)r, (const T*)g, (T*)dg, N, K, mode, A(target), one_sided,
        A(inv_sqrt_l));
    return 0;
  });
  check_launch("grad_reduce_grad");
}

void lerp_samples_fwd(int dtype, const void* real, const void* fake, const void* alpha, void* out, int64_t N,
                      int64_t K, void* stream) {
  if (N * K == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    FASTGAN_LAUNCH(grid_for(N * K, kThreads), kThreads, 0, (cudaStream_t)stream, lerp_kernel<T>)(
        (const T*)real, (const T*)fake, (const T*)alpha, (T*)out, N, K);
    return 0;
  });
  check_launch("lerp_samples_fwd");
}

void lerp_samples_grad(int dtype, const void* dout, const void* real, const void* fake, const void* alpha,
                       void* d_real, void* d_fake, void* d_alpha, int64_t N, int64_t K, void* stream) {
  if (N == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    FASTGAN_LAUNCH(sample_blocks(N), kReduceThreads, 0, (cudaStream_t)stream, lerp_grad_kernel<T>)(
        (const T*)dout, (const T*)real, (const T*)fake, (const T*)alpha, (T*)d_real, (T*)d_fake, (T*)d_alpha, N, K);
    return 0;
  });
  check_launch("lerp_samples_grad");
}

}  // namespace fastgan::cuda
