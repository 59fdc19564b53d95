#pragma once
#include <cstdint>

namespace fastgan::cuda {
// Same contract as fastgan::cpu::minibatch_std_fwd / minibatch_std_grad (csrc/cpu/minibatch_std.h); runs on `stream`.
void minibatch_std_fwd(int dtype, const void* x, void* y, int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F,
                       double eps, bool channels_last, void* stream);
void minibatch_std_grad(int dtype, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t HW,
                        int64_t G, int64_t F, double eps, bool channels_last, void* stream);
}  // namespace fastgan::cuda
