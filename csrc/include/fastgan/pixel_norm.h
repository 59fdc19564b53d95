// pixel_norm math shared by the CPU and CUDA kernels. Along the normalised dimension (C entries)
//   y = x * r,   r = rsqrt(mean(x^2) + eps)
//   dx = r * dy - x * k,   k = r^3 * mean(dy * x)
#pragma once
#include <cmath>
#include "fastgan/common.h"

namespace fastgan {

// r from the sum of squares over the C entries (inv_c = 1 / C).
template <class A> FASTGAN_HD A pixel_norm_scale(A sumsq, A inv_c, A eps) {
  return A(1) / sqrt(sumsq * inv_c + eps);
}

// k of the backward from r and the sum of dy * x over the C entries.
template <class A> FASTGAN_HD A pixel_norm_grad_coef(A r, A dot, A inv_c) { return r * r * r * dot * inv_c; }

template <class A> FASTGAN_HD A pixel_norm_grad_elem(A dy, A x, A r, A k) { return r * dy - x * k; }

}  // namespace fastgan
