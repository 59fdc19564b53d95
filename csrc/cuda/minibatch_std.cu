// minibatch_std on CUDA: one block per (group m, part f). Its threads walk the c*HW elements of
// the part; each loads the G members of an element, computes the group mean and standard
// deviation, and copies the members into y (forward) or writes dx (backward). A block-wide
// sum gives the part's statistic (forward) or the incoming gradient of it (backward), so the
// result does not depend on thread scheduling. Geometry and math: fastgan/minibatch_std.h.
#include <type_traits>

#include "cuda/block_reduce.cuh"
#include "cuda/launch.h"
#include "cuda/minibatch_std.h"
#include "fastgan/minibatch_std.h"

namespace fastgan::cuda {
namespace {

constexpr int kThreads = 256;

// group mean and standard deviation of element (ch, p) of group m
template <class T, class A>
__device__ __forceinline__ void group_stats(const T* x, const MbstdGeom& s, int64_t m, int64_t ch, int64_t p, A eps,
                                            A& mu, A& sd) {
  const A inv_g = A(1) / A(s.G);
  mu = 0;
  for (int64_t g = 0; g < s.G; ++g) mu += A(load(x, s.x_at(m + g * s.M, ch, p)));
  mu *= inv_g;
  A dev = 0;
  for (int64_t g = 0; g < s.G; ++g) {
    const A d = A(load(x, s.x_at(m + g * s.M, ch, p))) - mu;
    dev += d * d;
  }
  sd = mbstd_sd(dev, inv_g, eps);
}

template <class T>
__global__ void fwd_kernel(const T* __restrict__ x, T* __restrict__ y, MbstdGeom s, acc_t<T> eps) {
  using A = acc_t<T>;
  const int64_t m = blockIdx.x / s.F, f = blockIdx.x % s.F, part = s.c * s.HW;
  A total = 0;
  for (int64_t j = threadIdx.x; j < part; j += blockDim.x) {
    const int64_t ch = f * s.c + j / s.HW, p = j % s.HW;
    A mu, sd;
    group_stats(x, s, m, ch, p, eps, mu, sd);
    total += sd;
    for (int64_t g = 0; g < s.G; ++g) {
      const int64_t n = m + g * s.M;
      y[s.y_at(n, ch, p)] = x[s.x_at(n, ch, p)];
    }
  }
  const A stat = block_sum(total) / A(part);
  for (int64_t j = threadIdx.x; j < s.G * s.HW; j += blockDim.x)
    store(y, s.y_stat(m + (j / s.HW) * s.M, f, j % s.HW), stat);
}

template <class T>
__global__ void grad_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, MbstdGeom s,
                            acc_t<T> eps) {
  using A = acc_t<T>;
  const int64_t m = blockIdx.x / s.F, f = blockIdx.x % s.F, part = s.c * s.HW;
  A gs = 0;
  for (int64_t j = threadIdx.x; j < s.G * s.HW; j += blockDim.x)
    gs += A(load(dy, s.y_stat(m + (j / s.HW) * s.M, f, j % s.HW)));
  const A coef = block_sum(gs) / (A(part) * A(s.G));
  for (int64_t j = threadIdx.x; j < part; j += blockDim.x) {
    const int64_t ch = f * s.c + j / s.HW, p = j % s.HW;
    A mu, sd;
    group_stats(x, s, m, ch, p, eps, mu, sd);
    const A inv_sd = A(1) / sd;
    for (int64_t g = 0; g < s.G; ++g) {
      const int64_t n = m + g * s.M, i = s.x_at(n, ch, p);
      store(dx, i, mbstd_grad_elem(A(load(dy, s.y_at(n, ch, p))), A(load(x, i)), mu, inv_sd, coef));
    }
  }
}

MbstdGeom checked_geom(int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F, bool cl) {
  check(N > 0 && C > 0 && HW > 0 && G > 0 && F > 0, "minibatch_std: sizes must be positive");
  check(N % G == 0, "minibatch_std: the group size must divide N");
  check(C % F == 0, "minibatch_std: num_channels must divide C");
  check((N / G) * F <= 2147483647LL, "minibatch_std: too many (group, part) blocks");
  return mbstd_geom(N, C, HW, G, F, cl);
}

}  // namespace

void minibatch_std_fwd(int dtype, const void* x, void* y, int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F,
                       double eps, bool channels_last, void* stream) {
  const MbstdGeom s = checked_geom(N, C, HW, G, F, channels_last);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    FASTGAN_LAUNCH(unsigned(s.M * s.F), kThreads, 0, (cudaStream_t)stream, fwd_kernel<T>)((const T*)x, (T*)y, s, acc_t<T>(eps));
    return 0;
  });
  check_launch("minibatch_std_fwd");
}

void minibatch_std_grad(int dtype, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t HW,
                        int64_t G, int64_t F, double eps, bool channels_last, void* stream) {
  const MbstdGeom s = checked_geom(N, C, HW, G, F, channels_last);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    FASTGAN_LAUNCH(unsigned(s.M * s.F), kThreads, 0, (cudaStream_t)stream, grad_kernel<T>)((const T*)dy, (const T*)x, (T*)dx, s,
                                                                                acc_t<T>(eps));
    return 0;
  });
  check_launch("minibatch_std_grad");
}

}  // namespace fastgan::cuda
