#include "bindings/registry.h"
#include "cuda/grad_penalty.h"

namespace nb = nanobind;

FASTGAN_BIND(grad_penalty) {
  m.def("grad_reduce_fwd", [](int dtype, uintptr_t g, uintptr_t out, uintptr_t r, int64_t N, int64_t K, int mode,
                              double target, bool one_sided, double inv_sqrt_l, uintptr_t stream) {
    fastgan::cuda::grad_reduce_fwd(dtype, (const void*)g, (void*)out, (void*)r, N, K, mode, target, one_sided,
                                   inv_sqrt_l, (void*)stream);
  });
  m.def("grad_reduce_grad", [](int dtype, uintptr_t dout, uintptr_t dr, uintptr_t r, uintptr_t g, uintptr_t dg,
                               int64_t N, int64_t K, int mode, double target, bool one_sided, double inv_sqrt_l,
                               uintptr_t stream) {
    fastgan::cuda::grad_reduce_grad(dtype, (const void*)dout, (const void*)dr, (const void*)r, (const void*)g,
                                    (void*)dg, N, K, mode, target, one_sided, inv_sqrt_l, (void*)stream);
  });
  m.def("lerp_samples_fwd", [](int dtype, uintptr_t real, uintptr_t fake, uintptr_t alpha, uintptr_t out, int64_t N,
                               int64_t K, uintptr_t stream) {
    fastgan::cuda::lerp_samples_fwd(dtype, (const void*)real, (const void*)fake, (const void*)alpha, (void*)out, N, K,
                                    (void*)stream);
  });
  m.def("lerp_samples_grad", [](int dtype, uintptr_t dout, uintptr_t real, uintptr_t fake, uintptr_t alpha,
                                uintptr_t d_real, uintptr_t d_fake, uintptr_t d_alpha, int64_t N, int64_t K,
                                uintptr_t stream) {
    fastgan::cuda::lerp_samples_grad(dtype, (const void*)dout, (const void*)real, (const void*)fake,
                                     (const void*)alpha, (void*)d_real, (void*)d_fake, (void*)d_alpha, N, K,
                                     (void*)stream);
  });
}
