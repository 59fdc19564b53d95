#pragma once
#include <cstdint>

#include "cpu/winograd.h"  // padded_cols
#include "fastgan/strides.h"

namespace fastgan::cpu {

// Stride-2 3x3 transposed convolution, by output phase.
// y = conv_transpose2d(x, w, stride=2), x [N, C, H, W] -> y [N, O, 2H+1, 2W+1], splits into four
// phases: even/even rows/columns are a 2x2 convolution (Winograd F(3x3, 2x2)), even/odd and
// odd/even a 2-tap convolution along one axis (F(3, 2) along it, identity along the other), and
// odd/odd a 1x1 convolution (a plain GEMM on x, done by the caller). Tiles: TH x TW with
// TH = ceil((2H+1)/6); the tile (ty, tx) of sample n, column t = (ty * TW + tx) * N + n (the batch
// innermost), reads the 4x4 window of x at (3 ty - 1, 3 tx - 1) (zeros outside) and owns the 6x6
// block of y at (6 ty, 6 tx).
// Transformed tensors, with T = N * TH * TW tiles (unit stride along the columns):
//   ee [16, C, T]     point a * 4 + b (a: y point, b: x point);
//   eo [4, C, 3 * T]  point a (y), column b * T + t (b: x identity position 0..2);
//   oe [4, C, 3 * T]  point b (x), column a * T + t (a: y identity position 0..2).
// *_k is the element stride between points, *_c between channels. Each point row has padded_cols(T)
// (ee) or padded_cols(3 * T) (eo, oe) columns; the kernels that write these tensors set the columns
// after the tiles to zero and the others ignore them. The same layouts hold for the GEMM
// outputs (channels = O); the odd/odd GEMM output is moo [N, O, H, W].
struct S2Phases {
  void* ee;
  int64_t ee_k, ee_c;
  void* eo;
  int64_t eo_k, eo_c;
  void* oe;
  int64_t oe_k, oe_c;
};

void s2_input(int dtype, const void* x, const Strides<4>& xs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t TH,
              int64_t TW, const S2Phases& v, int nthreads);
// Adjoint of s2_input: dx (strides dxs) from dv.
void s2_input_adjoint(int dtype, const S2Phases& dv, void* dx, const Strides<4>& dxs, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t TH, int64_t TW, int nthreads);
// y [N, O, 2H+1, 2W+1] (strides ys) from the GEMM outputs m and moo (strides ms).
void s2_output(int dtype, const S2Phases& m, const void* moo, const Strides<4>& ms, void* y, const Strides<4>& ys, int64_t N,
               int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads);
// Adjoint of s2_output: dm and moo [N, O, H, W] (strides ms; the odd/odd pixels of dy).
void s2_output_adjoint(int dtype, const void* dy, const Strides<4>& dys, const S2Phases& dm, void* moo, const Strides<4>& ms,
                       int64_t N, int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads);

// The phase split's transformed weights of w [A, B, 3, 3] (element strides ws {a, b, r, s}), each
// contiguous: ee [16, A, B], eo [4, A, B], oe [4, A, B], oo [A, B] (the transposed convolution
// with weight wt [C, O, 3, 3] passes w = wt viewed [O, C, 3, 3], so the GEMMs take them as they are).
void s2_weight(int dtype, const void* w, const Strides<4>& ws, int64_t A, int64_t B, void* ee, void* eo, void* oe, void* oo,
               int nthreads);
// Adjoint of s2_weight: dw [A, B, 3, 3] (contiguous) from contiguous dee, deo, doe, doo.
void s2_weight_adjoint(int dtype, const void* ee, const void* eo, const void* oe, const void* oo, void* dw, int64_t A,
                       int64_t B, int nthreads);

}  // namespace fastgan::cpu
