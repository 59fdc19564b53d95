// Pieces both Winograd algorithms share (winograd.cpp: F(4x4, 3x3) for stride 1; winograd_s2.cpp:
// the stride-2 phase split): the zeroed pad columns, the batch-innermost gathers, the blocking of
// the weight transforms and the float32/float64 dispatch. Internal to those two files.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "cpu/parallel.h"
#include "cpu/transpose.h"
#include "cpu/winograd.h"
#include "fastgan/common.h"

namespace fastgan::cpu::wino {

// The pad columns of a transformed row holding t tiles: [t, padded_cols(t)) set to zero (see winograd.h).
template <class T>
inline void zero_pad(T* row, int64_t t) {
  std::fill(row + t, row + padded_cols(t), T(0));
}

// Between N sample rows (row n at src + n * s0, elements s1 apart) and a batch-innermost buffer row
// (element u of sample n at buf[u * N + n]), through a small [N][len] scratch: the sample rows are
// read or written one at a time with unit stride, and the transpose stays in the L1 cache (walking
// all N rows together, which are usually a power of two apart, would thrash one cache set).
template <class T>
void rows_to_batch(const T* src, int64_t s0, int64_t s1, int64_t len, int64_t N, T* buf, T* tmp) {
  for (int64_t n = 0; n < N; ++n) {
    const T* r = src + n * s0;
    T* t = tmp + n * len;
    if (s1 == 1) {
      std::memcpy(t, r, sizeof(T) * size_t(len));
    } else {
      for (int64_t u = 0; u < len; ++u) t[u] = r[u * s1];
    }
  }
  transpose(tmp, len, buf, N, N, len);
}

template <class T>
void batch_to_rows(const T* buf, int64_t len, int64_t N, T* dst, int64_t s0, int64_t s1, T* tmp) {
  transpose(buf, N, tmp, len, len, N);
  for (int64_t n = 0; n < N; ++n) {
    T* r = dst + n * s0;
    const T* t = tmp + n * len;
    if (s1 == 1) {
      std::memcpy(r, t, sizeof(T) * size_t(len));
    } else {
      for (int64_t u = 0; u < len; ++u) r[u * s1] = t[u];
    }
  }
}

constexpr int64_t kWB = 64;  // filters per block, the vectorised dimension of the weight transforms

// f(a, b0, nb, off) for every block of nb <= kWB filters b0 .. b0 + nb - 1 of row a of an [A, B] grid of
// 3x3 filters (off = a * B + b0), parallel over the rows: the blocking of the weight transforms and adjoints.
template <class F>
void filter_blocks(int64_t A, int64_t B, int nt, F&& f) {
  parallel_for(A, B * 36, nt, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a)
      for (int64_t b0 = 0; b0 < B; b0 += kWB) f(a, b0, std::min<int64_t>(kWB, B - b0), a * B + b0);
  });
}

template <class F>
void dispatch_float(int dtype, const char* what, F&& f) {
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      f(tag);
    } else {
      check(false, std::string(what) + ": float32 and float64 only");
    }
    return 0;
  });
}

}  // namespace fastgan::cpu::wino
