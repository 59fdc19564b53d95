// pixel_norm on CUDA. Rows (inner == 1): one block per row, a block-wide sum, then the scale.
// Planes (inner > 1): one thread per (outer, pixel) column walks the C channels twice (sums,
// then writes); consecutive threads read consecutive pixels, so loads coalesce.
// Math shared with the CPU kernel: fastgan/pixel_norm.h.
#include <type_traits>

#include "cuda/block_reduce.cuh"
#include "cuda/launch.h"
#include "cuda/pixel_norm.h"
#include "fastgan/pixel_norm.h"

namespace fastgan::cuda {
namespace {

constexpr int kThreads = 256;

template <bool GRAD, class T>
__global__ void rows_kernel(const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ out, int64_t outer,
                            int64_t C, acc_t<T> eps) {
  using A = acc_t<T>;
  const A inv_c = A(1) / A(C);
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const int64_t base = o * C;
    A ss = 0, dot = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const A v = A(load(x, base + j));
      ss += v * v;
      if (GRAD) dot += v * A(load(dy, base + j));
    }
    ss = block_sum(ss);
    if (GRAD) dot = block_sum(dot);
    const A r = pixel_norm_scale(ss, inv_c, eps), k = pixel_norm_grad_coef(r, dot, inv_c);
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const A v = A(load(x, base + j));
      store(out, base + j, GRAD ? pixel_norm_grad_elem(A(load(dy, base + j)), v, r, k) : v * r);
    }
  }
}

template <bool GRAD, class T>
__global__ void columns_kernel(const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ out,
                               int64_t outer, int64_t C, int64_t inner, acc_t<T> eps) {
  using A = acc_t<T>;
  const A inv_c = A(1) / A(C);
  const int64_t n = outer * inner;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (idx / inner) * C * inner + idx % inner;
    A ss = 0, dot = 0;
    for (int64_t c = 0; c < C; ++c) {
      const A v = A(load(x, base + c * inner));
      ss += v * v;
      if (GRAD) dot += v * A(load(dy, base + c * inner));
    }
    const A r = pixel_norm_scale(ss, inv_c, eps), k = pixel_norm_grad_coef(r, dot, inv_c);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = base + c * inner;
      const A v = A(load(x, i));
      store(out, i, GRAD ? pixel_norm_grad_elem(A(load(dy, i)), v, r, k) : v * r);
    }
  }
}

template <bool GRAD>
void launch(int dtype, const void* x, const void* dy, void* out, int64_t outer, int64_t C, int64_t inner, double eps,
            void* stream) {
  if (outer * C * inner == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    auto s = (cudaStream_t)stream;
    if (inner == 1) {
      const unsigned blocks = unsigned(std::min<int64_t>(outer, 65535LL * 32));
      FASTGAN_LAUNCH(blocks, kThreads, 0, s, rows_kernel<GRAD, T>)((const T*)x, (const T*)dy, (T*)out, outer, C, A(eps));
    } else {
      FASTGAN_LAUNCH(grid_for(outer * inner, kThreads), kThreads, 0, s, columns_kernel<GRAD, T>)(
          (const T*)x, (const T*)dy, (T*)out, outer, C, inner, A(eps));
    }
    return 0;
  });
  check_launch(GRAD ? "pixel_norm_grad" : "pixel_norm_fwd");
}

}  // namespace

void pixel_norm_fwd(int dtype, const void* x, void* y, int64_t outer, int64_t C, int64_t inner, double eps,
                    void* stream) {
  launch<false>(dtype, x, nullptr, y, outer, C, inner, eps, stream);
}

void pixel_norm_grad(int dtype, const void* dy, const void* x, void* dx, int64_t outer, int64_t C, int64_t inner,
                     double eps, void* stream) {
  launch<true>(dtype, x, dy, dx, outer, C, inner, eps, stream);
}

}  // namespace fastgan::cuda
