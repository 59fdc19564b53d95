#pragma once
#include <cstdint>

namespace fastgan::cuda {
// Same contract as fastgan::cpu::pixel_norm_fwd / pixel_norm_grad (csrc/cpu/pixel_norm.h); runs on `stream`.
void pixel_norm_fwd(int dtype, const void* x, void* y, int64_t outer, int64_t C, int64_t inner, double eps,
                    void* stream);
void pixel_norm_grad(int dtype, const void* dy, const void* x, void* dx, int64_t outer, int64_t C, int64_t inner,
                     double eps, void* stream);
}  // namespace fastgan::cuda
