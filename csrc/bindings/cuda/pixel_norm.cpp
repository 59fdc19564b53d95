#include "bindings/registry.h"
#include "cuda/pixel_norm.h"

namespace nb = nanobind;

FASTGAN_BIND(pixel_norm) {
  m.def("pixel_norm_fwd", [](int dtype, uintptr_t x, uintptr_t y, int64_t outer, int64_t C, int64_t inner, double eps,
                             uintptr_t stream) {
    fastgan::cuda::pixel_norm_fwd(dtype, (const void*)x, (void*)y, outer, C, inner, eps, (void*)stream);
  });
  m.def("pixel_norm_grad", [](int dtype, uintptr_t dy, uintptr_t x, uintptr_t dx, int64_t outer, int64_t C,
                              int64_t inner, double eps, uintptr_t stream) {
    fastgan::cuda::pixel_norm_grad(dtype, (const void*)dy, (const void*)x, (void*)dx, outer, C, inner, eps,
                                   (void*)stream);
  });
}
