// Activations of bias_act and their derivatives up to third order, one definition for the
// CPU and CUDA kernels. act_eval<ORDER>(act, v, alpha) returns the ORDER-th derivative of
// the activation at v (ORDER 0 is the activation itself).
#pragma once
#include <cmath>
#include "fastgan/common.h"

namespace fastgan {

enum Act : int { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish, kNumActs };

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

template <class A> FASTGAN_HD A sigmoid_(A v) { return A(1) / (A(1) + exp(-v)); }

template <int ORDER, class A>
FASTGAN_HD A act_eval(int act, A v, A alpha) {
  const A one = A(1), zero = A(0);
  switch (act) {
    case kLinear:
      return ORDER == 0 ? v : ORDER == 1 ? one : zero;
    case kRelu:
      return ORDER == 0 ? (v > zero ? v : zero) : ORDER == 1 ? (v > zero ? one : zero) : zero;
    case kLrelu:
      return ORDER == 0 ? (v > zero ? v : v * alpha) : ORDER == 1 ? (v > zero ? one : alpha) : zero;
    case kTanh: {
      A t = tanh(v), p = one - t * t;
      return ORDER == 0 ? t : ORDER == 1 ? p : ORDER == 2 ? A(-2) * t * p : p * (A(6) * t * t - A(2));
    }
    case kSigmoid: {
      A s = sigmoid_(v), p = s * (one - s);
      return ORDER == 0 ? s : ORDER == 1 ? p : ORDER == 2 ? p * (one - A(2) * s)
                                                         : p * (one - A(6) * s + A(6) * s * s);
    }
    case kElu: {
      A e = alpha * exp(v > zero ? zero : v);  // exp only of the negative side
      if (ORDER == 0) return v > zero ? v : e - alpha;
      return v > zero ? (ORDER == 1 ? one : zero) : e;
    }
    case kSelu: {
      A sa = A(kSeluScale), e = A(kSeluScale * kSeluAlpha) * exp(v > zero ? zero : v);
      if (ORDER == 0) return v > zero ? sa * v : e - A(kSeluScale * kSeluAlpha);
      return v > zero ? (ORDER == 1 ? sa : zero) : e;
    }
    case kSoftplus: {
      if (ORDER == 0) return (v > zero ? v : zero) + log1p(exp(-fabs(v)));
      A s = sigmoid_(v), p = s * (one - s);
      return ORDER == 1 ? s : ORDER == 2 ? p : p * (one - A(2) * s);
    }
    case kSwish: {
      A s = sigmoid_(v), p = s * (one - s), q = one - A(2) * s;
      return ORDER == 0 ? v * s : ORDER == 1 ? s + v * p : ORDER == 2 ? p * (A(2) + v * q)
                                                       : p * (q * (A(3) + v * q) - A(2) * v * p);
    }
  }
  return zero;
}

// y = clamp(gain * act(v)); clamp < 0 means no clamp. NaN stays NaN.
template <class A> FASTGAN_HD A clamp_(A y, A c) { return y < -c ? -c : (y > c ? c : y); }

}  // namespace fastgan
