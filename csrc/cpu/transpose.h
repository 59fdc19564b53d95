// Out-of-place transpose of a small row-major block: b[j * ldb + i] = a[i * lda + j] for
// i < rows, j < cols. The Winograd transforms use it to move between a channel's sample rows and
// their batch-innermost buffers; float32 goes through 8x8 AVX register blocks (a scalar loop
// strides one of the two sides by a whole row per element and does not vectorise).
#pragma once
#include <cstdint>
#include <type_traits>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace fastgan::cpu {

#if defined(__AVX__)
// One 8x8 float block: columns of a (8 rows lda apart) become rows of b (ldb apart).
inline void transpose8x8(const float* a, int64_t lda, float* b, int64_t ldb) {
  const __m256 r0 = _mm256_loadu_ps(a), r1 = _mm256_loadu_ps(a + lda), r2 = _mm256_loadu_ps(a + 2 * lda),
               r3 = _mm256_loadu_ps(a + 3 * lda), r4 = _mm256_loadu_ps(a + 4 * lda), r5 = _mm256_loadu_ps(a + 5 * lda),
               r6 = _mm256_loadu_ps(a + 6 * lda), r7 = _mm256_loadu_ps(a + 7 * lda);
  // pairs of rows interleaved, then quadruples: tq[k] holds column k (low half: rows 0-3) and k + 4
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 q0 = _mm256_shuffle_ps(t0, t2, 0x44), q1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               q2 = _mm256_shuffle_ps(t1, t3, 0x44), q3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               q4 = _mm256_shuffle_ps(t4, t6, 0x44), q5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               q6 = _mm256_shuffle_ps(t5, t7, 0x44), q7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(b, _mm256_permute2f128_ps(q0, q4, 0x20));
  _mm256_storeu_ps(b + ldb, _mm256_permute2f128_ps(q1, q5, 0x20));
  _mm256_storeu_ps(b + 2 * ldb, _mm256_permute2f128_ps(q2, q6, 0x20));
  _mm256_storeu_ps(b + 3 * ldb, _mm256_permute2f128_ps(q3, q7, 0x20));
  _mm256_storeu_ps(b + 4 * ldb, _mm256_permute2f128_ps(q0, q4, 0x31));
  _mm256_storeu_ps(b + 5 * ldb, _mm256_permute2f128_ps(q1, q5, 0x31));
  _mm256_storeu_ps(b + 6 * ldb, _mm256_permute2f128_ps(q2, q6, 0x31));
  _mm256_storeu_ps(b + 7 * ldb, _mm256_permute2f128_ps(q3, q7, 0x31));
}
#endif

template <class T>
inline void transpose(const T* __restrict a, int64_t lda, T* __restrict b, int64_t ldb, int64_t rows, int64_t cols) {
  int64_t i0 = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    for (; i0 + 8 <= rows; i0 += 8) {
      int64_t j = 0;
      for (; j + 8 <= cols; j += 8) transpose8x8(a + i0 * lda + j, lda, b + j * ldb + i0, ldb);
      for (; j < cols; ++j)
        for (int64_t i = i0; i < i0 + 8; ++i) b[j * ldb + i] = a[i * lda + j];
    }
  }
#endif
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t i = i0; i < rows; ++i) b[j * ldb + i] = a[i * lda + j];
}

}  // namespace fastgan::cpu
