// The modulated convolution's epilogue on CUDA: a grid-stride loop over the dense convolution
// output (contiguous or channels_last); per-element math shared with the CPU kernel
// (fastgan/modulated_conv2d.h). The activation code is uniform per launch.
#include <limits>
#include <type_traits>

#include "cuda/launch.h"
#include "cuda/modulated_conv2d.h"
#include "fastgan/modulated_conv2d.h"

namespace fastgan::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
struct Epi {
  const T *c, *d, *noise, *b;
  int64_t noise_sn, O, P;
  bool cl;
  // z and the dcoef of element i
  FASTGAN_DEV void at(int64_t i, acc_t<T>* z, acc_t<T>* dv) const {
    using A = acc_t<T>;
    int64_t n, o, p;
    if (cl) { o = i % O; const int64_t r = i / O; n = r / P; p = r % P; }
    else { p = i % P; const int64_t q = i / P; o = q % O; n = q / O; }
    *dv = d ? A(load(d, n * O + o)) : A(1);
    const A nz = noise ? A(load(noise, n * noise_sn + p)) : A(0);
    const A bv = b ? A(load(b, o)) : A(0);
    *z = epi_z(A(load(c, i)), *dv, nz, bv);
  }
};

template <class T>
__global__ void fwd_kernel(Epi<T> e, T* __restrict__ y, int64_t n, int act, EpiParams<acc_t<T>> ep) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    A z, dv;
    e.at(i, &z, &dv);
    store(y, i, epi_fwd(act, z, ep));
  }
}

template <class T>
__global__ void grad_kernel(Epi<T> e, const T* __restrict__ dy, T* __restrict__ dc, T* __restrict__ u, int64_t n,
                            int act, EpiParams<acc_t<T>> ep) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    A z, dv;
    e.at(i, &z, &dv);
    const A uv = epi_u(act, A(load(dy, i)), z, ep);
    store(dc, i, uv * dv);
    store(u, i, uv);
  }
}

template <class T>
EpiParams<acc_t<T>> params(double alpha, double gain, double clamp) {
  using A = acc_t<T>;
  return EpiParams<A>{A(alpha), A(gain), clamp < 0 ? std::numeric_limits<A>::infinity() : A(clamp)};
}

}  // namespace

void modconv_epilogue_fwd(int dtype, const void* c, const void* d, const void* noise, int64_t noise_sn,
                          const void* b, void* y, int64_t N, int64_t O, int64_t P, bool channels_last, int act,
                          double alpha, double gain, double clamp, void* stream) {
  const int64_t n = N * O * P;
  if (n == 0) return;
  check(act >= 0 && act < kNumActs, "modulated_conv2d: unknown activation code");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const Epi<T> e{(const T*)c, (const T*)d, (const T*)noise, (const T*)b, noise_sn, O, P, channels_last};
    FASTGAN_LAUNCH(grid_for(n, kThreads), kThreads, 0, (cudaStream_t)stream, fwd_kernel<T>)(e, (T*)y, n, act,
                                                                                 params<T>(alpha, gain, clamp));
    return 0;
  });
  check_launch("modconv_epilogue_fwd");
}

void modconv_epilogue_grad(int dtype, const void* dy, const void* c, const void* d, const void* noise,
                           int64_t noise_sn, const void* b, void* dc, void* u, int64_t N, int64_t O, int64_t P,
                           bool channels_last, int act, double alpha, double gain, double clamp, void* stream) {
  const int64_t n = N * O * P;
  if (n == 0) return;
  check(act >= 0 && act < kNumActs, "modulated_conv2d: unknown activation code");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const Epi<T> e{(const T*)c, (const T*)d, (const T*)noise, (const T*)b, noise_sn, O, P, channels_last};
    FASTGAN_LAUNCH(grid_for(n, kThreads), kThreads, 0, (cudaStream_t)stream, grad_kernel<T>)(
        e, (const T*)dy, (T*)dc, (T*)u, n, act, params<T>(alpha, gain, clamp));
    return 0;
  });
  check_launch("modconv_epilogue_grad");
}

}  // namespace fastgan::cuda
