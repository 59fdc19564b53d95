// Non-temporal ("streaming") stores for large float32 outputs on the CPU.
//
// A normal store first reads the destination's cache line (read-for-ownership), so writing an
// output that does not stay in the cache moves each line twice; a streaming store writes the line
// without reading it. Outputs of at least kStreamBytes (half the 32 MB L3 of the machines we
// measure on: they would not survive in the cache until the next op reads them anyway) take this
// path; smaller ones keep normal stores, whose lines the next op may still find in the cache.
#pragma once
#include <cstdint>
#include <type_traits>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace fastgan::cpu {

constexpr int64_t kStreamBytes = int64_t(16) << 20;

inline bool stream_output(int64_t elements, int64_t elem_size) {
#if defined(__AVX__)
  return elements * elem_size >= kStreamBytes;
#else
  return false;
#endif
}

inline bool aligned32(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 31) == 0; }

// dst[j] = value(j) for j in [0, len). With `stream` (float32, AVX builds) the 32-byte-aligned
// blocks of 8 are written with streaming stores, then an sfence orders them before what follows.
template <class T, class V>
inline void store_all(T* __restrict dst, int64_t len, bool stream, V&& value) {
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    if (stream) {
      int64_t j = 0;
      for (; j < len && !aligned32(dst + j); ++j) dst[j] = value(j);
      for (; j + 8 <= len; j += 8) {
        alignas(32) float buf[8];
        for (int q = 0; q < 8; ++q) buf[q] = value(j + q);
        _mm256_stream_ps(dst + j, _mm256_load_ps(buf));
      }
      for (; j < len; ++j) dst[j] = value(j);
      _mm_sfence();
      return;
    }
  }
#endif
  for (int64_t j = 0; j < len; ++j) dst[j] = value(j);
}

}  // namespace fastgan::cpu
