// upfirdn2d index math shared by the CPU and CUDA kernels.
//
// Along one axis with input length L, upsampling factor up, downsampling factor down, leading
// padding pad0 and K correlation taps w (the filter already flipped and scaled by the gain):
//     out[o] = sum_k w[k] * xu[o * down + k - pad0],   xu[j] = x[j / up] if j % up == 0 and
//                                                                 0 <= j < L * up, else 0.
// Only the taps whose zero-stuffed index hits a real sample contribute; for output o they are
// k = k0, k0 + up, k0 + 2 up, ... reading x[i0], x[i0 + 1], x[i0 + 2], ...
#pragma once
#include <cmath>
#include <cstdint>
#include "fastgan/common.h"

namespace fastgan {

FASTGAN_HD int64_t pos_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

struct AxisTaps {
  int64_t i0;  // input index read by the first contributing tap (may be out of [0, L))
  int k0;      // first contributing tap
  int n;       // number of contributing taps (before clipping to [0, L))
};

FASTGAN_HD AxisTaps axis_taps(int64_t o, int up, int down, int64_t pad0, int K) {
  const int64_t j = o * down - pad0;
  const int k0 = int(pos_mod(-j, up));
  const int n = k0 < K ? (K - k0 + up - 1) / up : 0;
  return AxisTaps{(j + k0) / up, k0, n};  // j + k0 is a multiple of up: exact division
}

// Restrict taps to input indices in [0, L): returns the first valid t and the end t.
FASTGAN_HD void clip_taps(const AxisTaps& a, int64_t L, int* t0, int* t1) {
  int64_t lo = a.i0 < 0 ? -a.i0 : 0;
  int64_t hi = a.n;
  if (a.i0 + hi > L) hi = L - a.i0;
  if (lo > hi) lo = hi;
  *t0 = int(lo < 0 ? 0 : lo);
  *t1 = int(hi < 0 ? 0 : hi);
}

// Output length along one axis (may be <= 0 when the padding crops everything).
FASTGAN_HD int64_t upfirdn_out_len(int64_t L, int up, int down, int64_t pad0, int64_t pad1, int K) {
  const int64_t span = L * up + pad0 + pad1 - K;
  return span < 0 ? 0 : span / down + 1;
}

// Host only: if the fh x fw filter w (row-major) is the outer product wy (x) wx to within
// rel_tol of its largest entry, write the factors and return true.
template <class A>
inline bool factor_rank1(const A* w, int fh, int fw, A* wy, A* wx, A rel_tol) {
  int pi = 0, pj = 0;
  A big = 0;
  for (int i = 0; i < fh; ++i)
    for (int j = 0; j < fw; ++j)
      if (std::fabs(w[i * fw + j]) > big) { big = std::fabs(w[i * fw + j]); pi = i; pj = j; }
  if (!(big > 0) || !std::isfinite(big)) return false;
  const A pivot = w[pi * fw + pj];
  for (int i = 0; i < fh; ++i) wy[i] = w[i * fw + pj];
  for (int j = 0; j < fw; ++j) wx[j] = w[pi * fw + j] / pivot;
  for (int i = 0; i < fh; ++i)
    for (int j = 0; j < fw; ++j)
      if (std::fabs(w[i * fw + j] - wy[i] * wx[j]) > rel_tol * big) return false;
  return true;
}

}  // namespace fastgan
