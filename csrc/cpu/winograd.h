#pragma once
#include <cstdint>
#include "fastgan/strides.h"

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
void wino_input(int dtype, const void* x, void* V, int64_t ks, int64_t cs, int64_t N, int64_t C, int64_t H, int64_t W, const Strides<4>& xs,
                int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW, int nthreads);

// Adjoint of wino_input: dx [N, C, H, W] (strides dxs) = sum over tiles of B dV B^T placed at
// the tiles' windows (overlaps add up; the parts in the zero padding are dropped).
void wino_input_adjoint(int dtype, const void* dV, int64_t ks, int64_t cs, void* dx, int64_t N, int64_t C, int64_t H, int64_t W,
                        const Strides<4>& dxs, int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW, int nthreads);

// y[n, o, 4 ty + p, 4 tx + q] = (A^T M[:, o, t] A)[p, q] for the pixels inside [OH, OW].
void wino_output(int dtype, const void* M, int64_t ks, int64_t os, void* y, int64_t N, int64_t O, int64_t OH, int64_t OW, const Strides<4>& ys,
                 int64_t TH, int64_t TW, int nthreads);

// Adjoint of wino_output: dM[:, o, t] = A dy_tile A^T, dy_tile the 4x4 block of dy (zeros outside).
void wino_output_adjoint(int dtype, const void* dy, void* dM, int64_t ks, int64_t os, int64_t N, int64_t O, int64_t OH, int64_t OW,
                         const Strides<4>& dys, int64_t TH, int64_t TW, int nthreads);

// U [36, O, I] = G w G^T for every 3x3 filter of w [O, I, 3, 3] (strides ws {o, i, r, s}).
void wino_weight(int dtype, const void* w, void* U, int64_t O, int64_t I, const Strides<4>& ws, int nthreads);

// Adjoint of wino_weight: dw [O, I, 3, 3] (contiguous) = G^T dU G.
void wino_weight_adjoint(int dtype, const void* dU, void* dw, int64_t O, int64_t I, int nthreads);

}  // namespace fastgan::cpu
