#pragma once
#include <cstdint>
#include "fastgan/strides.h"

namespace fastgan::cpu {

// The fused pieces around the modulated convolution (the convolution itself is PyTorch's).
// Tensors are [N, C, P] views (P = H * W) given by element strides {n, c, p}; dtype codes as in
// fastgan/common.h; every vector operand (s, d, noise, b) has the storage type of the tensor.

// y[n, c, p] = x[n, c, p] * s[n, c] (s contiguous [N, C]); x and y may differ in layout.
void modconv_scale(int dtype, const void* x, const void* s, void* y, int64_t N, int64_t C, int64_t P,
                   const Strides<3>& xs, const Strides<3>& ys, int nthreads);

// out[n, c] = sum_p a[n, c, p] * b[n, c, p].
void modconv_chandot(int dtype, const void* a, const void* b, void* out, int64_t N, int64_t C, int64_t P,
                     const Strides<3>& as, const Strides<3>& bs, int nthreads);

// Epilogue (fastgan/modulated_conv2d.h) over the convolution output c [N, O, P]: contiguous
// (strides {O P, P, 1}) or channels_last ({P O, 1, O}); y/dy/dc share c's strides. d: [N, O] or
// null; noise: rows of P values, row n at noise + n * noise_sn (0 broadcasts), or null; b: [O]
// or null. clamp < 0: none.
void modconv_epilogue_fwd(int dtype, const void* c, const void* d, const void* noise, int64_t noise_sn,
                          const void* b, void* y, int64_t N, int64_t O, int64_t P, bool channels_last, int act,
                          double alpha, double gain, double clamp, int nthreads);

// First derivative in one pass: dc (required), dd [N, O], dnoise [N, P], db [O] (each may be
// null: not computed).
void modconv_epilogue_grad(int dtype, const void* dy, const void* c, const void* d, const void* noise,
                           int64_t noise_sn, const void* b, void* dc, void* dd, void* dnoise, void* db, int64_t N,
                           int64_t O, int64_t P, bool channels_last, int act, double alpha, double gain,
                           double clamp, int nthreads);

}  // namespace fastgan::cpu
