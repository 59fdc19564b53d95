#pragma once
#include <cstdint>
#include "fastgan/strides.h"

namespace fastgan::cuda {
// Same contract as fastgan::cpu::upfirdn2d (csrc/cpu/upfirdn2d.h) except that w always holds the
// 2-D fh x fw correlation taps (a device pointer, float or double for float64); runs on `stream`.
void upfirdn2d(int dtype, const void* x, void* y, const void* w, int64_t N, int64_t C, int64_t H, int64_t W,
               int64_t OH, int64_t OW, const Strides<4>& xs, const Strides<4>& ys, int ux, int uy, int dx, int dy,
               int64_t px0, int64_t py0, int fw, int fh, void* stream);
}  // namespace fastgan::cuda
