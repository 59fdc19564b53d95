// bias_act on CUDA: a grid-stride loop over the dense input; the activation code is uniform
// per launch so its switch does not diverge. Math shared with the CPU kernel
// (fastgan/activations.h).
#include <limits>
#include <type_traits>

#include "cuda/bias_act.h"
#include "cuda/launch.h"
#include "fastgan/activations.h"

namespace fastgan::cuda {
namespace {

template <class T>
__global__ void fwd_kernel(const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ y, int64_t n,
                           int64_t C, int64_t inner, int act, acc_t<T> alpha, acc_t<T> gain, acc_t<T> clamp) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    A v = A(load(x, i));
    if (b) v += A(load(b, (i / inner) % C));
    store(y, i, clamp_(gain * act_eval<0>(act, v, alpha), clamp));
  }
}

template <int ORDER, class T>
__global__ void grad_kernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ b,
                            T* __restrict__ dx, int64_t n, int64_t C, int64_t inner, int act, acc_t<T> alpha,
                            acc_t<T> gain, acc_t<T> clamp, bool clamped) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    A v = A(load(x, i));
    if (b) v += A(load(b, (i / inner) % C));
    A d = A(load(dy, i)) * gain * act_eval<ORDER>(act, v, alpha);
    if (clamped) {
      const A yv = gain * act_eval<0>(act, v, alpha);
      if (yv < -clamp || yv > clamp) d = A(0);
    }
    store(dx, i, d);
  }
}

constexpr int kThreads = 256;

}  // namespace

void bias_act_fwd(int dtype, const void* x, const void* b, void* y, int64_t outer, int64_t C, int64_t inner,
                  int act, double alpha, double gain, double clamp, void* stream) {
  const int64_t n = outer * C * inner;
  if (n == 0) return;
  const double c = clamp < 0 ? std::numeric_limits<double>::infinity() : clamp;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    FASTGAN_LAUNCH(grid_for(n, kThreads), kThreads, 0, (cudaStream_t)stream, fwd_kernel<T>)(
        (const T*)x, (const T*)b, (T*)y, n, C, inner, act, A(alpha), A(gain), A(c));
    return 0;
  });
  check_launch("bias_act_fwd");
}

void bias_act_grad(int dtype, const void* dy, const void* x, const void* b, void* dx, int64_t outer, int64_t C,
                   int64_t inner, int act, double alpha, double gain, double clamp, int order, void* stream) {
  const int64_t n = outer * C * inner;
  if (n == 0) return;
  check(order >= 1 && order <= 3, "bias_act: derivative order must be 1, 2 or 3");
  const bool clamped = clamp >= 0;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    auto launch = [&](auto kernel) {
      FASTGAN_LAUNCH(grid_for(n, kThreads), kThreads, 0, (cudaStream_t)stream, kernel)(
          (const T*)dy, (const T*)x, (const T*)b, (T*)dx, n, C, inner, act, A(alpha), A(gain), A(clamp), clamped);
    };
    if (order == 1) launch(grad_kernel<1, T>);
    else if (order == 2) launch(grad_kernel<2, T>);
    else launch(grad_kernel<3, T>);
    return 0;
  });
  check_launch("bias_act_grad");
}

}  // namespace fastgan::cuda
