#pragma once
#include <cstdint>

namespace fastgan::cpu {

// Memory of x/y/dy/dx is [outer][C][inner]; the mean of squares runs over C.
// y = x * rsqrt(mean_C(x^2) + eps)
void pixel_norm_fwd(int dtype, const void* x, void* y, int64_t outer, int64_t C, int64_t inner, double eps,
                    int nthreads);

// dx = r * dy - x * r^3 * mean_C(dy * x), r = rsqrt(mean_C(x^2) + eps)
void pixel_norm_grad(int dtype, const void* dy, const void* x, void* dx, int64_t outer, int64_t C, int64_t inner,
                     double eps, int nthreads);

}  // namespace fastgan::cpu
