#pragma once
#include <cstdint>

namespace fastgan::cpu {

// Columns of a transformed tensor (and of the GEMM output made from it) holding t tiles: t rounded up
// past t to a multiple of 8, i.e. 1-8 zero columns. The row stride is then a multiple of 32 bytes (the
// GEMMs at the 32/16 px shapes ran 1.2-1.35x faster than with the odd t + 1, in the bench loop at 1 thread) and, for t a multiple
// of 16, not a multiple of 64 bytes times a power of two (which kept the transforms' strided accesses
// out of the same cache sets). winograd.py's padded_cols is the same function (tested).
inline int64_t padded_cols(int64_t t) { return (t + 8) / 8 * 8; }

// Winograd F(4x4, 3x3) transforms for a stride-1 3x3 convolution (Lavin & Gray, 2016): the
// convolution becomes 36 independent GEMMs M[k] = U[k] @ V[k] (k = one of the 6x6 transform
// points), which PyTorch runs; these are the data transforms around them and their adjoints.
//
// Tiles: the output [OH, OW] is cut into TH x TW tiles of 4x4 (the last ones partial); the tile
// (ty, tx) of sample n, column t = (ty * TW + tx) * N + n (the batch innermost, so the transforms
// are vector operations over the batch at any plane size), reads the 6x6 input window starting at
// row 4 ty - pad_h, column 4 tx - pad_w (zeros outside the image). V is [36, C, T] and M is [36, O, T] with element strides
// ks (transform point) and cs / os (channel); the tiles are contiguous. V and dM have padded_cols(T)
// columns: zeros after the T tiles, which wino_input and wino_output_adjoint write.
// float32 and float64 only (dtype codes of fastgan/common.h); x strides are {n, c, h, w}.

// V[k, c, t] = (B^T d B)[k] for the window d of plane (n, c) under tile t.
void wino_input(int dtype, const void* x, void* V, int64_t ks, int64_t cs, int64_t N, int64_t C, int64_t H, int64_t W, const int64_t* xs,
                int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW, int nthreads);

// Adjoint of wino_input: dx [N, C, H, W] (strides dxs) = sum over tiles of B dV B^T placed at
// the tiles' windows (overlaps add up; the parts in the zero padding are dropped).
void wino_input_adjoint(int dtype, const void* dV, int64_t ks, int64_t cs, void* dx, int64_t N, int64_t C, int64_t H, int64_t W,
                        const int64_t* dxs, int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW, int nthreads);

// y[n, o, 4 ty + p, 4 tx + q] = (A^T M[:, o, t] A)[p, q] for the pixels inside [OH, OW].
void wino_output(int dtype, const void* M, int64_t ks, int64_t os, void* y, int64_t N, int64_t O, int64_t OH, int64_t OW, const int64_t* ys,
                 int64_t TH, int64_t TW, int nthreads);

// Adjoint of wino_output: dM[:, o, t] = A dy_tile A^T, dy_tile the 4x4 block of dy (zeros outside).
void wino_output_adjoint(int dtype, const void* dy, void* dM, int64_t ks, int64_t os, int64_t N, int64_t O, int64_t OH, int64_t OW,
                         const int64_t* dys, int64_t TH, int64_t TW, int nthreads);

// U [36, O, I] = G w G^T for every 3x3 filter of w [O, I, 3, 3] (strides ws {o, i, r, s}).
void wino_weight(int dtype, const void* w, void* U, int64_t O, int64_t I, const int64_t* ws, int nthreads);

// Adjoint of wino_weight: dw [O, I, 3, 3] (contiguous) = G^T dU G.
void wino_weight_adjoint(int dtype, const void* dU, void* dw, int64_t O, int64_t I, int nthreads);

// ---- Stride-2 3x3 transposed convolution, by output phase ------------------------------------
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

void s2_input(int dtype, const void* x, const int64_t* xs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t TH,
              int64_t TW, const S2Phases& v, int nthreads);
// Adjoint of s2_input: dx (strides dxs) from dv.
void s2_input_adjoint(int dtype, const S2Phases& dv, void* dx, const int64_t* dxs, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t TH, int64_t TW, int nthreads);
// y [N, O, 2H+1, 2W+1] (strides ys) from the GEMM outputs m and moo (strides ms).
void s2_output(int dtype, const S2Phases& m, const void* moo, const int64_t* ms, void* y, const int64_t* ys, int64_t N,
               int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads);
// Adjoint of s2_output: dm and moo [N, O, H, W] (strides ms; the odd/odd pixels of dy).
void s2_output_adjoint(int dtype, const void* dy, const int64_t* dys, const S2Phases& dm, void* moo, const int64_t* ms,
                       int64_t N, int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads);

// The phase split's transformed weights of w [A, B, 3, 3] (element strides ws {a, b, r, s}), each
// contiguous: ee [16, A, B], eo [4, A, B], oe [4, A, B], oo [A, B] (the transposed convolution
// with weight wt [C, O, 3, 3] passes w = wt viewed [O, C, 3, 3], so the GEMMs take them as they are).
void s2_weight(int dtype, const void* w, const int64_t* ws, int64_t A, int64_t B, void* ee, void* eo, void* oe, void* oo,
               int nthreads);
// Adjoint of s2_weight: dw [A, B, 3, 3] (contiguous) from contiguous dee, deo, doe, doo.
void s2_weight_adjoint(int dtype, const void* ee, const void* eo, const void* oe, const void* oo, void* dw, int64_t A,
                       int64_t B, int nthreads);

}  // namespace fastgan::cpu
