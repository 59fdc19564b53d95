#pragma once
#include <cstdint>

namespace fastgan::cpu {

// Memory of x/y/dy/dx is [outer][C][inner]; b (may be null) has C entries.
// y = clamp(gain * act(x + b)); clamp < 0 means none.
void bias_act_fwd(int dtype, const void* x, const void* b, void* y, int64_t outer, int64_t C,
                  int64_t inner, int act, double alpha, double gain, double clamp, int nthreads);

// dx = dy * gain * act^(order)(x + b) * [|gain * act(x + b)| <= clamp]; db (may be null)
// receives the per-channel sum of dx.
void bias_act_grad(int dtype, const void* dy, const void* x, const void* b, void* dx, void* db,
                   int64_t outer, int64_t C, int64_t inner, int act, double alpha, double gain,
                   double clamp, int order, int nthreads);

}  // namespace fastgan::cpu
