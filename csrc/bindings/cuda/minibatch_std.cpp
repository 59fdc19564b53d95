#include "bindings/registry.h"
#include "cuda/minibatch_std.h"

namespace nb = nanobind;

FASTGAN_BIND(minibatch_std) {
  m.def("minibatch_std_fwd", [](int dtype, uintptr_t x, uintptr_t y, int64_t N, int64_t C, int64_t HW, int64_t G,
                                int64_t F, double eps, bool channels_last, uintptr_t stream) {
    fastgan::cuda::minibatch_std_fwd(dtype, (const void*)x, (void*)y, N, C, HW, G, F, eps, channels_last,
                                     (void*)stream);
  });
  m.def("minibatch_std_grad", [](int dtype, uintptr_t dy, uintptr_t x, uintptr_t dx, int64_t N, int64_t C,
                                 int64_t HW, int64_t G, int64_t F, double eps, bool channels_last, uintptr_t stream) {
    fastgan::cuda::minibatch_std_grad(dtype, (const void*)dy, (const void*)x, (void*)dx, N, C, HW, G, F, eps,
                                      channels_last, (void*)stream);
  });
}
