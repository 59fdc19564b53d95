#pragma once
#include <cstdint>

namespace fastgan::cpu {

// x [N, C, HW] -> y [N, C+F, HW] (both NCHW, or both channels_last when channels_last is set);
// see fastgan/minibatch_std.h for the semantics. N % G == 0 and C % F == 0.
void minibatch_std_fwd(int dtype, const void* x, void* y, int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F,
                       double eps, bool channels_last, int nthreads);

// dx [N, C, HW] from dy [N, C+F, HW] and x.
void minibatch_std_grad(int dtype, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t HW,
                        int64_t G, int64_t F, double eps, bool channels_last, int nthreads);

}  // namespace fastgan::cpu
