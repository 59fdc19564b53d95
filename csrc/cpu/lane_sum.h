// Sums over a contiguous range split across independent float accumulators, so the
// loop vectorises without -ffast-math; every kChunk terms the partial sum goes into a double,
// which keeps long float sums accurate. term(j) returns the j-th term in the accumulate type.
// Shared by the CPU reductions of pixel_norm, minibatch_std and the gradient-penalty family.
#pragma once
#include <algorithm>
#include <cstdint>

namespace fastgan::cpu {

constexpr int64_t kSumChunk = 4096;

// Independent accumulators: 8 AVX registers' worth (64 floats / 32 doubles) for one sum, 4
// each for two, enough to hide the add latency.
template <class A> constexpr int lanes1() { return 256 / int(sizeof(A)); }
template <class A> constexpr int lanes2() { return 128 / int(sizeof(A)); }

// acc[0] + ... + acc[L-1] by halving (vector adds while the halves are wide), not a serial chain.
template <int L, class A> inline A tree_sum(A* acc) {
  for (int w = L / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

template <class A, class F>
double lane_sum(int64_t n, F&& term) {
  double total = 0;
  for (int64_t j0 = 0; j0 < n; j0 += kSumChunk) {
    const int64_t m = std::min(kSumChunk, n - j0);
    constexpr int L = lanes1<A>();
    A acc[L] = {};
    int64_t j = 0;
    for (; j + L <= m; j += L)
      for (int l = 0; l < L; ++l) acc[l] += term(j0 + j + l);
    A s = 0;
    for (; j < m; ++j) s += term(j0 + j);
    total += double(s + tree_sum<L>(acc));
  }
  return total;
}

// Two sums in one pass: term(j, a, b) adds its terms into a and b.
template <class A, class F>
void lane_sum2(int64_t n, F&& term, double& sa, double& sb) {
  sa = 0;
  sb = 0;
  for (int64_t j0 = 0; j0 < n; j0 += kSumChunk) {
    const int64_t m = std::min(kSumChunk, n - j0);
    constexpr int L = lanes2<A>();
    A a[L] = {}, b[L] = {};
    int64_t j = 0;
    for (; j + L <= m; j += L)
      for (int l = 0; l < L; ++l) term(j0 + j + l, a[l], b[l]);
    A ta = 0, tb = 0;
    for (; j < m; ++j) term(j0 + j, ta, tb);
    sa += double(ta + tree_sum<L>(a));
    sb += double(tb + tree_sum<L>(b));
  }
}

}  // namespace fastgan::cpu
