#pragma once
#include <cstdint>

namespace fastgan::cuda {
// Same contract as fastgan::cpu::bias_act_fwd (csrc/cpu/bias_act.h); runs on `stream`.
void bias_act_fwd(int dtype, const void* x, const void* b, void* y, int64_t outer, int64_t C, int64_t inner,
                  int act, double alpha, double gain, double clamp, void* stream);
// dx only; Python reduces db.
void bias_act_grad(int dtype, const void* dy, const void* x, const void* b, void* dx, int64_t outer, int64_t C,
                   int64_t inner, int act, double alpha, double gain, double clamp, int order, void* stream);
}  // namespace fastgan::cuda
