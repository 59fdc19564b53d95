#include "bindings/registry.h"
#include "cuda/modulated_conv2d.h"

namespace nb = nanobind;

FASTGAN_BIND(modulated_conv2d) {
  m.def("modconv_epilogue_fwd", [](int dtype, uintptr_t c, uintptr_t d, uintptr_t noise, int64_t noise_sn,
                                   uintptr_t b, uintptr_t y, int64_t N, int64_t O, int64_t P, bool channels_last,
                                   int act, double alpha, double gain, double clamp, uintptr_t stream) {
    fastgan::cuda::modconv_epilogue_fwd(dtype, (const void*)c, (const void*)d, (const void*)noise, noise_sn,
                                        (const void*)b, (void*)y, N, O, P, channels_last, act, alpha, gain, clamp,
                                        (void*)stream);
  });
  m.def("modconv_epilogue_grad", [](int dtype, uintptr_t dy, uintptr_t c, uintptr_t d, uintptr_t noise,
                                    int64_t noise_sn, uintptr_t b, uintptr_t dc, uintptr_t u, int64_t N, int64_t O,
                                    int64_t P, bool channels_last, int act, double alpha, double gain, double clamp,
                                    uintptr_t stream) {
    fastgan::cuda::modconv_epilogue_grad(dtype, (const void*)dy, (const void*)c, (const void*)d, (const void*)noise,
                                         noise_sn, (const void*)b, (void*)dc, (void*)u, N, O, P, channels_last, act,
                                         alpha, gain, clamp, (void*)stream);
  });
}
