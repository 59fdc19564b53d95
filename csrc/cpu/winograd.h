#pragma once
#include <cstdint>

namespace fastgan::cpu {

// Winograd F(4x4, 3x3) transforms for a stride-1 3x3 convolution (Lavin & Gray, 2016): the
// convolution becomes 36 independent GEMMs M[k] = U[k] @ V[k] (k = one of the 6x6 transform
// points), which PyTorch runs; these are the data transforms around them and their adjoints.
//
// Tiles: the output [OH, OW] is cut into TH x TW tiles of 4x4 (the last ones partial); tile
// t = (n * TH + ty) * TW + tx reads the 6x6 input window starting at row 4 ty - pad_h, column
// 4 tx - pad_w (zeros outside the image). V is [36, C, T] and M is [36, O, T] with element strides
// ks (transform point) and cs / os (channel); the tiles are contiguous.
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

}  // namespace fastgan::cpu
