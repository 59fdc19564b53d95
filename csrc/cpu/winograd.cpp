// Winograd F(4x4, 3x3) data transforms (see winograd.h). With the transform points
// 0, +-1, +-2 and infinity:
//   B^T = [4  0 -5  0  1  0]     A^T = [1  1  1  1  1  0]     G = [ 1/4     0     0 ]
//                                                                [-1/6  -1/6  -1/6 ]
//                                                                [-1/6   1/6  -1/6 ]
//                                                                [1/24  1/12   1/6 ]
//                                                                [1/24 -1/12   1/6 ]
//                                                                [  0     0     1  ]
//         [0 -4 -4  1  1  0]           [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]           [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]           [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]
//         [0  4  0 -5  0  1]
// Each plane is handled by one thread, one row of tiles at a time: the 1-D transform across
// rows runs on whole strips (vectorised along the width), the one across columns per tile.

#include "cpu/winograd.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/transpose.h"
#include "cpu/winograd_common.h"
#include "fastgan/common.h"

namespace fastgan::cpu {
namespace {

using namespace wino;

constexpr int kA = 6;   // input tile
constexpr int kM = 4;   // output tile
constexpr int kK = 36;  // transform points


// o = B^T d (d and o with element strides ds, os).
template <class T>
inline void bt6(const T* d, int64_t ds, T* o, int64_t os) {
  const T d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
  o[0] = T(4) * d0 - T(5) * d2 + d4;
  o[os] = d3 + d4 - T(4) * (d1 + d2);
  o[2 * os] = T(4) * (d1 - d2) + d4 - d3;
  o[3 * os] = T(2) * (d3 - d1) + d4 - d2;
  o[4 * os] = T(2) * (d1 - d3) + d4 - d2;
  o[5 * os] = T(4) * d1 - T(5) * d3 + d5;
}

// dst = v, or dst += v with kAdd: how the adjoint transforms store (overlapping windows add up).
template <bool kAdd, class T>
inline void put(T& dst, T v) {
  if constexpr (kAdd) {
    dst += v;
  } else {
    dst = v;
  }
}

// d = B o (the adjoint of bt6); d += B o with kAdd.
template <bool kAdd = false, class T>
inline void b6(const T* o, int64_t os, T* d, int64_t ds) {
  const T o0 = o[0], o1 = o[os], o2 = o[2 * os], o3 = o[3 * os], o4 = o[4 * os], o5 = o[5 * os];
  put<kAdd>(d[0], T(4) * o0);
  put<kAdd>(d[ds], T(4) * (o2 - o1 + o5) + T(2) * (o4 - o3));
  put<kAdd>(d[2 * ds], -T(5) * o0 - T(4) * (o1 + o2) - o3 - o4);
  put<kAdd>(d[3 * ds], o1 - o2 + T(2) * (o3 - o4) - T(5) * o5);
  put<kAdd>(d[4 * ds], o0 + o1 + o2 + o3 + o4);
  put<kAdd>(d[5 * ds], o5);
}

// y = A^T m.
template <class T>
inline void at4(const T* m, int64_t ms, T* y, int64_t ys) {
  const T m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms];
  const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
  y[0] = m0 + s12 + s34;
  y[ys] = d12 + T(2) * d34;
  y[2 * ys] = s12 + T(4) * s34;
  y[3 * ys] = d12 + T(8) * d34 + m5;
}

// m = A y (the adjoint of at4).
template <class T>
inline void a6(const T* y, int64_t ys, T* m, int64_t ms) {
  const T y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
  const T e = y0 + y2, o = y1 + y3, e4 = y0 + T(4) * y2, o4 = T(2) * y1 + T(8) * y3;
  m[0] = y0;
  m[ms] = e + o;
  m[2 * ms] = e - o;
  m[3 * ms] = e4 + o4;
  m[4 * ms] = e4 - o4;
  m[5 * ms] = y3;
}

// The F(4x4, 3x3) kernels walk the transformed tensors one tile column at a time across all 36
// transform-point rows: more concurrent streams than the hardware prefetchers follow. So each tile first
// prefetches the rows' columns kAhead tiles on (for writing too: the line is then owned before the
// stores), 1.1-1.6x faster at 16 and 32 px planes (1.1-1.3x at two threads). Planes of a few tiles skip
// it (8 px measured slightly slower with it). Prefetches never fault, so the last tiles need no bounds
// check. (The phase split's kernels, with 40 rows, measured no faster with it.)
constexpr int64_t kAhead = 4;

template <int kRW, class T>
inline void prefetch_rows(const T* p, int64_t stride, int rows) {
  for (int k = 0; k < rows; ++k) __builtin_prefetch(p + k * stride, kRW, 3);
}


// The kernels work on one channel at a time with the batch innermost: a tile's column for sample
// n is t = (ty * TW + tx) * N + n (see winograd.h), so each step of a transform is a loop over the
// batch with unit strides (whole AVX vectors at the usual batch sizes, whatever the plane size). The
// planes of the channel are first gathered into a zero-padded [rows][cols][N] buffer.
template <class T>
void input_run(const T* x, T* V, int64_t ks, int64_t cs, int64_t N, int64_t C, int64_t H, int64_t W,
               const int64_t* xs, int64_t ph, int64_t pw, int64_t TH, int64_t TW, int nt) {
  const int64_t Tall = N * TH * TW, Wp = kM * TW + 2, Hp = kM * TH + 2;
  const int64_t r0 = std::max<int64_t>(0, -ph), r1 = std::min<int64_t>(H, Hp - ph);
  const int64_t u0 = std::max<int64_t>(0, -pw), u1 = std::min<int64_t>(W, Wp - pw);
  parallel_for(C, Tall * kK, nt, [&](int64_t c0, int64_t c1) {
    std::vector<T> xbuf(Hp * Wp * N), sbuf(kK * N), tmp(N * Wp);
    for (int64_t c = c0; c < c1; ++c) {
      T* xb = xbuf.data();  // x[n, c, iy, ix] at xb[((iy + ph) * Wp + ix + pw) * N + n], zeros around
      std::fill(xbuf.begin(), xbuf.end(), T(0));
      if (u1 > u0)
        for (int64_t iy = r0; iy < r1; ++iy)
          rows_to_batch(x + c * xs[1] + iy * xs[2] + u0 * xs[3], xs[0], xs[3], u1 - u0, N,
                        xb + ((iy + ph) * Wp + u0 + pw) * N, tmp.data());
      T* vc = V + c * cs;
      for (int k = 0; k < kK; ++k) zero_pad(vc + k * ks, Tall);
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {
          const T* base = xb + (kM * ty * Wp + kM * tx) * N;
          T* vt = vc + (ty * TW + tx) * N;
          if (TH * TW > 2 * kAhead) prefetch_rows<1>(vt + kAhead * N, ks, kK);
          T* s = sbuf.data();  // s[a * 6 + j][n] = (B^T d)[a][j]
          for (int j = 0; j < kA; ++j) {
            const T* __restrict col = base + j * N;
            T* __restrict sj = s + j * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) bt6(col + n, Wp * N, sj + n, kA * N);
          }
          for (int a = 0; a < kA; ++a) {
            const T* __restrict sa = s + a * kA * N;
            T* __restrict va = vt + a * kA * ks;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) bt6(sa + n, N, va + n, ks);
          }
        }
    }
  });
}

template <class T>
void input_adjoint_run(const T* dV, int64_t ks, int64_t cs, T* dx, int64_t N, int64_t C, int64_t H, int64_t W,
                       const int64_t* dxs, int64_t ph, int64_t pw, int64_t TH, int64_t TW, int nt) {
  const int64_t Wp = kM * TW + 2, Hp = kM * TH + 2;
  parallel_for(C, N * TH * TW * kK, nt, [&](int64_t c0, int64_t c1) {
    std::vector<T> xbuf(Hp * Wp * N), sbuf(kK * N), tmp(N * Wp);
    for (int64_t c = c0; c < c1; ++c) {
      T* xb = xbuf.data();
      std::fill(xbuf.begin(), xbuf.end(), T(0));
      const T* vc = dV + c * cs;
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {  // overlapping windows add up
          T* base = xb + (kM * ty * Wp + kM * tx) * N;
          const T* vt = vc + (ty * TW + tx) * N;
          if (TH * TW > 2 * kAhead) prefetch_rows<0>(vt + kAhead * N, ks, kK);
          T* s = sbuf.data();  // s[a * 6 + j][n]: the rows' adjoint
          for (int a = 0; a < kA; ++a) {
            const T* __restrict va = vt + a * kA * ks;
            T* __restrict sa = s + a * kA * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) b6(va + n, ks, sa + n, N);
          }
          for (int j = 0; j < kA; ++j) {  // the columns' adjoint, added into the window
            const T* __restrict sj = s + j * N;
            T* __restrict col = base + j * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) b6<true>(sj + n, kA * N, col + n, Wp * N);
          }
        }
      const int64_t w0 = std::min(W, std::max<int64_t>(0, -pw)), w1 = std::max(w0, std::min(W, Wp - pw));
      for (int64_t h = 0; h < H; ++h) {
        T* dr = dx + c * dxs[1] + h * dxs[2];
        const int64_t r = h + ph;
        const bool row_in = r >= 0 && r < Hp;
        if (!row_in || w0 > 0 || w1 < W)  // the parts of dx outside the buffer (no window reads them)
          for (int64_t n = 0; n < N; ++n)
            for (int64_t w = 0; w < W; ++w)
              if (!row_in || w < w0 || w >= w1) dr[n * dxs[0] + w * dxs[3]] = T(0);
        if (row_in && w1 > w0)
          batch_to_rows(xb + (r * Wp + w0 + pw) * N, w1 - w0, N, dr + w0 * dxs[3], dxs[0], dxs[3], tmp.data());
      }
    }
  });
}

template <class T>
void output_run(const T* M, int64_t ks, int64_t os, T* y, int64_t N, int64_t O, int64_t OH, int64_t OW,
                const int64_t* ys, int64_t TH, int64_t TW, int nt) {
  const int64_t Wq = kM * TW, Hq = kM * TH;
  parallel_for(O, N * TH * TW * kK, nt, [&](int64_t o0, int64_t o1) {
    std::vector<T> ybuf(Hq * Wq * N), hbuf(kM * kA * N), tmp(N * Wq);  // y[n, o, p, q] at ybuf[(p * Wq + q) * N + n]
    for (int64_t o = o0; o < o1; ++o) {
      const T* mc = M + o * os;
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {
          const T* mt = mc + (ty * TW + tx) * N;
          if (TH * TW > 2 * kAhead) prefetch_rows<0>(mt + kAhead * N, ks, kK);
          T* base = ybuf.data() + (kM * ty * Wq + kM * tx) * N;
          T* h = hbuf.data();  // h[p * 6 + b][n] = (A^T m)[p][b]
          for (int b = 0; b < kA; ++b) {
            const T* __restrict mb = mt + b * ks;
            T* __restrict hb = h + b * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) at4(mb + n, kA * ks, hb + n, kA * N);
          }
          for (int p = 0; p < kM; ++p) {
            const T* __restrict hp = h + p * kA * N;
            T* __restrict row = base + p * Wq * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) at4(hp + n, N, row + n, N);
          }
        }
      for (int64_t p = 0; p < OH; ++p)
        batch_to_rows(ybuf.data() + p * Wq * N, OW, N, y + o * ys[1] + p * ys[2], ys[0], ys[3], tmp.data());
    }
  });
}

template <class T>
void output_adjoint_run(const T* dy, T* dM, int64_t ks, int64_t os, int64_t N, int64_t O, int64_t OH, int64_t OW,
                        const int64_t* dys, int64_t TH, int64_t TW, int nt) {
  const int64_t Tall = N * TH * TW, Wq = kM * TW, Hq = kM * TH;
  parallel_for(O, Tall * kK, nt, [&](int64_t o0, int64_t o1) {
    std::vector<T> ybuf(Hq * Wq * N), hbuf(kM * kA * N), tmp(N * Wq);
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(ybuf.begin(), ybuf.end(), T(0));  // zeros beyond OH x OW (the cropped parts of the tiles)
      for (int64_t p = 0; p < OH; ++p)
        rows_to_batch(dy + o * dys[1] + p * dys[2], dys[0], dys[3], OW, N, ybuf.data() + p * Wq * N, tmp.data());
      T* mc = dM + o * os;
      for (int k = 0; k < kK; ++k) zero_pad(mc + k * ks, Tall);
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {
          const T* base = ybuf.data() + (kM * ty * Wq + kM * tx) * N;
          T* mt = mc + (ty * TW + tx) * N;
          if (TH * TW > 2 * kAhead) prefetch_rows<1>(mt + kAhead * N, ks, kK);
          T* h = hbuf.data();  // h[p * 6 + b][n]: the rows' adjoint
          for (int p = 0; p < kM; ++p) {
            const T* __restrict row = base + p * Wq * N;
            T* __restrict hp = h + p * kA * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) a6(row + n, N, hp + n, N);
          }
          for (int b = 0; b < kA; ++b) {
            const T* __restrict hb = h + b * N;
            T* __restrict mb = mt + b * ks;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) a6(hb + n, kA * N, mb + n, kA * ks);
          }
        }
    }
  });
}

constexpr double kG[kA][3] = {{0.25, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};


template <class T>
void weight_run(const T* w, T* U, int64_t O, int64_t I, const int64_t* ws, int nt) {
  const int64_t OI = O * I;
  filter_blocks(O, I, nt, [&](int64_t o, int64_t i0, int64_t nb, int64_t) {
    T g[9][kWB], h[kA][3][kWB];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        const T* src = w + o * ws[0] + i0 * ws[1] + r * ws[2] + c * ws[3];
        for (int64_t l = 0; l < nb; ++l) g[r * 3 + c][l] = src[l * ws[1]];
      }
    for (int a = 0; a < kA; ++a)
      for (int c = 0; c < 3; ++c) {
        const T k0 = T(kG[a][0]), k1 = T(kG[a][1]), k2 = T(kG[a][2]);
#pragma omp simd
        for (int64_t l = 0; l < nb; ++l) h[a][c][l] = k0 * g[c][l] + k1 * g[3 + c][l] + k2 * g[6 + c][l];
      }
    for (int a = 0; a < kA; ++a)
      for (int b = 0; b < kA; ++b) {
        const T k0 = T(kG[b][0]), k1 = T(kG[b][1]), k2 = T(kG[b][2]);
        T* __restrict u = U + (a * kA + b) * OI + o * I + i0;
#pragma omp simd
        for (int64_t l = 0; l < nb; ++l) u[l] = h[a][0][l] * k0 + h[a][1][l] * k1 + h[a][2][l] * k2;
      }
  });
}

template <class T>
void weight_adjoint_run(const T* dU, T* dw, int64_t O, int64_t I, int nt) {
  const int64_t OI = O * I;
  filter_blocks(O, I, nt, [&](int64_t o, int64_t i0, int64_t nb, int64_t) {
    T h[kA][3][kWB], g[9][kWB];
    for (int a = 0; a < kA; ++a) {  // h = dU G
      for (int c = 0; c < 3; ++c)
        for (int64_t l = 0; l < nb; ++l) h[a][c][l] = T(0);
      for (int b = 0; b < kA; ++b) {
        const T* __restrict u = dU + (a * kA + b) * OI + o * I + i0;
        const T k0 = T(kG[b][0]), k1 = T(kG[b][1]), k2 = T(kG[b][2]);
#pragma omp simd
        for (int64_t l = 0; l < nb; ++l) {
          h[a][0][l] += u[l] * k0;
          h[a][1][l] += u[l] * k1;
          h[a][2][l] += u[l] * k2;
        }
      }
    }
    for (int r = 0; r < 3; ++r)  // g = G^T h
      for (int c = 0; c < 3; ++c) {
        T* __restrict gr = g[r * 3 + c];
        for (int64_t l = 0; l < nb; ++l) gr[l] = T(0);
        for (int a = 0; a < kA; ++a) {
          const T k = T(kG[a][r]);
#pragma omp simd
          for (int64_t l = 0; l < nb; ++l) gr[l] += k * h[a][c][l];
        }
      }
    T* dst = dw + (o * I + i0) * 9;
    for (int64_t l = 0; l < nb; ++l)
      for (int q = 0; q < 9; ++q) dst[l * 9 + q] = g[q][l];
  });
}

}  // namespace

void wino_input(int dtype, const void* x, void* V, int64_t ks, int64_t cs, int64_t N, int64_t C, int64_t H, int64_t W, const Strides<4>& xs,
                int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "wino_input", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    input_run<T>(static_cast<const T*>(x), static_cast<T*>(V), ks, cs, N, C, H, W, xs.data(), pad_h, pad_w, TH, TW, nthreads);
  });
}

void wino_input_adjoint(int dtype, const void* dV, int64_t ks, int64_t cs, void* dx, int64_t N, int64_t C, int64_t H, int64_t W,
                        const Strides<4>& dxs, int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "wino_input_adjoint", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    input_adjoint_run<T>(static_cast<const T*>(dV), ks, cs, static_cast<T*>(dx), N, C, H, W, dxs.data(), pad_h, pad_w, TH, TW,
                         nthreads);
  });
}

void wino_output(int dtype, const void* M, int64_t ks, int64_t os, void* y, int64_t N, int64_t O, int64_t OH, int64_t OW, const Strides<4>& ys,
                 int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "wino_output", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    output_run<T>(static_cast<const T*>(M), ks, os, static_cast<T*>(y), N, O, OH, OW, ys.data(), TH, TW, nthreads);
  });
}

void wino_output_adjoint(int dtype, const void* dy, void* dM, int64_t ks, int64_t os, int64_t N, int64_t O, int64_t OH, int64_t OW,
                         const Strides<4>& dys, int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "wino_output_adjoint", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    output_adjoint_run<T>(static_cast<const T*>(dy), static_cast<T*>(dM), ks, os, N, O, OH, OW, dys.data(), TH, TW, nthreads);
  });
}

void wino_weight(int dtype, const void* w, void* U, int64_t O, int64_t I, const Strides<4>& ws, int nthreads) {
  dispatch_float(dtype, "wino_weight", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    weight_run<T>(static_cast<const T*>(w), static_cast<T*>(U), O, I, ws.data(), nthreads);
  });
}

void wino_weight_adjoint(int dtype, const void* dU, void* dw, int64_t O, int64_t I, int nthreads) {
  dispatch_float(dtype, "wino_weight_adjoint", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    weight_adjoint_run<T>(static_cast<const T*>(dU), static_cast<T*>(dw), O, I, nthreads);
  });
}

}  // namespace fastgan::cpu
