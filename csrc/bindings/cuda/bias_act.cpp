#include "bindings/registry.h"
#include "cuda/bias_act.h"

namespace nb = nanobind;

FASTGAN_BIND(bias_act) {
  m.def("bias_act_fwd", [](int dtype, uintptr_t x, uintptr_t b, uintptr_t y, int64_t outer, int64_t C, int64_t inner,
                           int act, double alpha, double gain, double clamp, uintptr_t stream) {
    fastgan::cuda::bias_act_fwd(dtype, (const void*)x, (const void*)b, (void*)y, outer, C, inner, act, alpha, gain,
                                clamp, (void*)stream);
  });
  m.def("bias_act_grad", [](int dtype, uintptr_t dy, uintptr_t x, uintptr_t b, uintptr_t dx, int64_t outer, int64_t C,
                            int64_t inner, int act, double alpha, double gain, double clamp, int order,
                            uintptr_t stream) {
    fastgan::cuda::bias_act_grad(dtype, (const void*)dy, (const void*)x, (const void*)b, (void*)dx, outer, C, inner,
                                 act, alpha, gain, clamp, order, (void*)stream);
  });
}
