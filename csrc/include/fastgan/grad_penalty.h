// Per-sample gradient reductions shared by the CPU and CUDA kernels (the gradient-penalty
// family). A sample's gradient g has K elements; S = sum(g^2), r = sqrt(S). The ops return
// (out, r) per sample with
//   kSqNorm:      out = S                                  (R1, R2)
//   kNormPenalty: out = (r - target)^2, or max(0, r - target)^2 when one-sided   (WGAN-GP)
//   kPathLength:  out = sqrt(S / L) = r / sqrt(L), L = number of ws              (path length)
// and the backward is dg = g * k with k from the incoming gradients dout, dr (of out and r).
#pragma once
#include <cmath>
#include "fastgan/common.h"

namespace fastgan {

enum GradReduceMode : int { kSqNorm = 0, kNormPenalty = 1, kPathLength = 2 };

template <class A> FASTGAN_HD A grad_reduce_value(int mode, A S, A target, bool one_sided, A inv_sqrt_l) {
  if (mode == kSqNorm) return S;
  const A r = sqrt(S);
  if (mode == kPathLength) return r * inv_sqrt_l;
  A d = r - target;
  if (one_sided && d < A(0)) d = A(0);
  return d * d;
}

// k with dg = g * k; dr may be 0 (no gradient reaches r). At r = 0 the r-terms are 0, the
// subgradient torch uses for the norm at 0.
template <class A>
FASTGAN_HD A grad_reduce_coef(int mode, A dout, A dr, A r, A target, bool one_sided, A inv_sqrt_l) {
  A k = mode == kSqNorm ? A(2) * dout : A(0);
  A h = A(0);  // d out / d r
  if (mode == kNormPenalty) {
    A d = r - target;
    if (one_sided && d < A(0)) d = A(0);
    h = A(2) * d;
  } else if (mode == kPathLength) {
    h = inv_sqrt_l;
  }
  if (r > A(0)) k += (dr + dout * h) / r;
  return k;
}

// WGAN-GP interpolate: out = real + alpha * (fake - real).
template <class A> FASTGAN_HD A lerp_sample(A real, A fake, A alpha) { return real + alpha * (fake - real); }

}  // namespace fastgan
