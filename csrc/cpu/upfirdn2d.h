#pragma once
#include <cstddef>
#include <cstdint>
#include "fastgan/strides.h"
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fastgan::cpu {

// upfirdn2d on the CPU (index math in fastgan/upfirdn2d.h). x: [N, C, H, W], y: [N, C, OH, OW],
// both with arbitrary element strides xs[4], ys[4] (contiguous and channels_last run fast).
// w holds correlation taps (filter flipped and gain applied) as float, or double when dtype is
// float64: separable: fw taps along x followed by fh taps along y; else fh x fw row-major.
// A 2-D filter that is rank 1 to rounding runs on the separable path.
void upfirdn2d(int dtype, const void* x, void* y, const void* w, bool separable, int64_t N, int64_t C, int64_t H,
               int64_t W, int64_t OH, int64_t OW, const Strides<4>& xs, const Strides<4>& ys, int ux, int uy, int dx,
               int dy, int64_t px0, int64_t py0, int fw, int fh, int nthreads);

// Ask Linux for transparent huge pages on a fresh output buffer (dense, `bytes` long) before
// its first touch: first-touch page faults otherwise cost several times the writes themselves.
inline void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  if (bytes < 4 * kHuge) return;
  const uintptr_t a = (uintptr_t(p) + kHuge - 1) & ~(kHuge - 1), e = (uintptr_t(p) + bytes) & ~(kHuge - 1);
  if (e > a) madvise(reinterpret_cast<void*>(a), e - a, MADV_HUGEPAGE);
#else
  (void)p; (void)bytes;
#endif
}

}  // namespace fastgan::cpu
