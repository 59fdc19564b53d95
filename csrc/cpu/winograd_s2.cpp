#include "cpu/winograd_s2.h"

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

// Stride-2 transposed 3x3 convolution by output phase (see winograd_s2.h). Along one axis,
// y[2p] = w0 x[p] + w2 x[p-1] is a 2-tap correlation, computed with F(3, 2) on the points 0, +-1,
// infinity:
//   B^T = [1  0 -1  0]    A^T = [1 1  1 0]    G = [ 1    0  ]   (on g = (w2, w0))
//         [0  1  1  0]          [0 1 -1 0]        [1/2  1/2 ]
//         [0 -1  1  0]          [0 1  1 1]        [1/2 -1/2 ]
//         [0 -1  0  1]                            [ 0    1  ]
// and y[2p+1] = w1 x[p] is the identity on the window's columns 1..3. A tile reads the 4x4
// window of x at (3 ty - 1, 3 tx - 1) and owns the 6x6 output block at (6 ty, 6 tx).
constexpr int kS2 = 3;  // input pixels per tile along an axis

template <class T>
inline void bt4(const T* d, int64_t ds, T* o, int64_t os) {
  const T d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
  o[0] = d0 - d2;
  o[os] = d1 + d2;
  o[2 * os] = d2 - d1;
  o[3 * os] = d3 - d1;
}

template <class T>
inline void b4(const T* o, int64_t os, T* d, int64_t ds) {  // adjoint of bt4
  const T o0 = o[0], o1 = o[os], o2 = o[2 * os], o3 = o[3 * os];
  d[0] = o0;
  d[ds] = o1 - o2 - o3;
  d[2 * ds] = o1 + o2 - o0;
  d[3 * ds] = o3;
}

template <class T>
inline void at3(const T* m, int64_t ms, T* y, int64_t ys) {
  const T m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms];
  y[0] = m0 + m1 + m2;
  y[ys] = m1 - m2;
  y[2 * ys] = m1 + m2 + m3;
}

template <class T>
inline void a4(const T* y, int64_t ys, T* m, int64_t ms) {  // adjoint of at3
  const T y0 = y[0], y1 = y[ys], y2 = y[2 * ys];
  m[0] = y0;
  m[ms] = y0 + y1 + y2;
  m[2 * ms] = y0 - y1 + y2;
  m[3 * ms] = y2;
}

template <class T>
struct Phases {  // the three transformed tensors (see winograd_s2.h)
  T* ee;
  int64_t ee_k, ee_c;
  T* eo;
  int64_t eo_k, eo_c;
  T* oe;
  int64_t oe_k, oe_c;
};

template <class T>
Phases<T> cast(const S2Phases& p) {
  return {static_cast<T*>(p.ee), p.ee_k, p.ee_c, static_cast<T*>(p.eo), p.eo_k, p.eo_c,
          static_cast<T*>(p.oe), p.oe_k, p.oe_c};
}

// The columns after the tiles (padded_cols, see winograd.h) are zero in every transformed tensor.
template <class T>
void zero_pads(const Phases<T>& v, int64_t c, int64_t Tall) {
  for (int k = 0; k < 16; ++k) zero_pad(v.ee + c * v.ee_c + k * v.ee_k, Tall);
  for (int k = 0; k < 4; ++k) {
    zero_pad(v.eo + c * v.eo_c + k * v.eo_k, 3 * Tall);
    zero_pad(v.oe + c * v.oe_c + k * v.oe_k, 3 * Tall);
  }
}

// dst[n] = src[n] for the N samples of one tile column (a vector copy).
template <class T>
inline void copy_column(const T* __restrict src, T* __restrict dst, int64_t N) {
#pragma omp simd
  for (int64_t n = 0; n < N; ++n) dst[n] = src[n];
}

// The s2 kernels work on one channel at a time, with the batch innermost: a tile's column for
// sample n is t * N + n, so every transform is a vector operation over the batch (whole AVX
// vectors at the usual batch sizes, whatever the plane size). The planes of the channel are first
// gathered into a zero-padded [rows][cols][N] buffer (and scattered back from one).
template <class T>
void s2_input_run(const T* x, const int64_t* xs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t TH, int64_t TW,
                  Phases<T> v, int nt) {
  const int64_t Tall = N * TH * TW, Wp = kS2 * TW + 1, Hp = kS2 * TH + 1;
  const int64_t ek = v.ee_k, ok = v.eo_k, qk = v.oe_k;
  parallel_for(C, Tall * 49, nt, [&](int64_t c0, int64_t c1) {
    std::vector<T> xbuf(Hp * Wp * N), tmp(N * W), sbuf(16 * N);
    for (int64_t c = c0; c < c1; ++c) {
      T* xb = xbuf.data();  // x[n, c, iy, ix] at xb[((iy + 1) * Wp + ix + 1) * N + n]
      std::fill(xbuf.begin(), xbuf.end(), T(0));
      for (int64_t iy = 0; iy < H; ++iy)
        rows_to_batch(x + c * xs[1] + iy * xs[2], xs[0], xs[3], W, N, xb + ((iy + 1) * Wp + 1) * N, tmp.data());
      zero_pads(v, c, Tall);
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {
          const int64_t t = (ty * TW + tx) * N;
          const T* __restrict base = xb + (kS2 * ty * Wp + kS2 * tx) * N;
          T* __restrict ee = v.ee + c * v.ee_c + t;
          T* __restrict eo = v.eo + c * v.eo_c + t;
          T* __restrict oe = v.oe + c * v.oe_c + t;
          T* __restrict s = sbuf.data();  // s[a * 4 + j][n] = (B^T d)[a][j], d the tile's 4x4 window
          for (int j = 0; j < 4; ++j) {
            const T* __restrict col = base + j * N;
            T* __restrict sj = s + j * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) bt4(col + n, Wp * N, sj + n, 4 * N);
          }
          for (int a = 0; a < 4; ++a) {
            const T* __restrict sa = s + a * 4 * N;
            T* __restrict ea = ee + a * 4 * ek;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) bt4(sa + n, N, ea + n, ek);
            for (int b = 0; b < kS2; ++b) copy_column(sa + (1 + b) * N, eo + a * ok + b * Tall, N);
          }
          for (int a = 0; a < kS2; ++a) {
            const T* __restrict row = base + (1 + a) * Wp * N;
            T* __restrict qa = oe + a * Tall;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) bt4(row + n, N, qa + n, qk);
          }
        }
    }
  });
}

template <class T>
void s2_input_adjoint_run(Phases<T> v, T* dx, const int64_t* dxs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t TH,
                          int64_t TW, int nt) {
  const int64_t Tall = N * TH * TW, Wp = kS2 * TW + 1, Hp = kS2 * TH + 1;
  const int64_t ek = v.ee_k, ok = v.eo_k, qk = v.oe_k;
  parallel_for(C, Tall * 49, nt, [&](int64_t c0, int64_t c1) {
    std::vector<T> xbuf(Hp * Wp * N), tmp(N * W);
    for (int64_t c = c0; c < c1; ++c) {
      T* xb = xbuf.data();
      std::fill(xbuf.begin(), xbuf.end(), T(0));
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {  // in order: overlapping windows add up
          const int64_t t = (ty * TW + tx) * N;
          T* __restrict base = xb + (kS2 * ty * Wp + kS2 * tx) * N;
          const T* __restrict ee = v.ee + c * v.ee_c + t;
          const T* __restrict eo = v.eo + c * v.eo_c + t;
          const T* __restrict oe = v.oe + c * v.oe_c + t;
#pragma omp simd
          for (int64_t n = 0; n < N; ++n) {
            T s[4][4], r[3][4];
            for (int a = 0; a < 4; ++a) {
              b4(ee + a * 4 * ek + n, ek, &s[a][0], 1);
              for (int b = 0; b < kS2; ++b) s[a][1 + b] += eo[a * ok + b * Tall + n];
            }
            for (int a = 0; a < kS2; ++a) b4(oe + a * Tall + n, qk, &r[a][0], 1);
            for (int j = 0; j < 4; ++j) {
              T dd[4];
              b4(&s[0][j], 4, dd, 1);
              base[j * N + n] += dd[0];
              for (int i = 1; i < 4; ++i) base[(i * Wp + j) * N + n] += dd[i] + r[i - 1][j];
            }
          }
        }
      for (int64_t iy = 0; iy < H; ++iy)
        batch_to_rows(xb + ((iy + 1) * Wp + 1) * N, W, N, dx + c * dxs[1] + iy * dxs[2], dxs[0], dxs[3], tmp.data());
    }
  });
}

template <class T>
void s2_output_run(Phases<T> m, const T* moo, const int64_t* ms, T* y, const int64_t* ys, int64_t N, int64_t O,
                   int64_t H, int64_t W, int64_t TH, int64_t TW, int nt) {
  const int64_t Tall = N * TH * TW, OH = 2 * H + 1, OW = 2 * W + 1, Wq = 6 * TW, Wo = kS2 * TW;
  const int64_t ek = m.ee_k, ok = m.eo_k, qk = m.oe_k;
  parallel_for(O, Tall * 49, nt, [&](int64_t o0, int64_t o1) {
    std::vector<T> ybuf(6 * TH * Wq * N), obuf(kS2 * TH * Wo * N), hbuf(6 * 7 * N), tmp(N * OW);
    for (int64_t o = o0; o < o1; ++o) {
      T* yb = ybuf.data();  // y[n, o, Y, X] at yb[(Y * Wq + X) * N + n]
      T* ob = obuf.data();  // moo[n, o, p, q] at ob[(p * Wo + q) * N + n], zero outside [H, W]
      std::fill(obuf.begin(), obuf.end(), T(0));
      for (int64_t p = 0; p < H; ++p)
        rows_to_batch(moo + o * ms[1] + p * ms[2], ms[0], ms[3], W, N, ob + p * Wo * N, tmp.data());
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {
          const int64_t t = (ty * TW + tx) * N;
          const T* __restrict ee = m.ee + o * m.ee_c + t;
          const T* __restrict eo = m.eo + o * m.eo_c + t;
          const T* __restrict oe = m.oe + o * m.oe_c + t;
          const T* __restrict oo = ob + (kS2 * ty * Wo + kS2 * tx) * N;
          T* __restrict yt = yb + (6 * ty * Wq + 6 * tx) * N;
          T* hb = hbuf.data();  // h[r * 7 + b][n]: output row r of the tile x x point b (4 Winograd, 3 identity)
          for (int b = 0; b < 4; ++b) {  // even rows (2i) from the Winograd columns; odd rows (2i + 1) copied
            const T* __restrict eb = ee + b * ek;
            T* __restrict hcol = hb + b * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) at3(eb + n, 4 * ek, hcol + n, 14 * N);
            for (int i = 0; i < kS2; ++i) copy_column(oe + b * qk + i * Tall, hb + ((2 * i + 1) * 7 + b) * N, N);
          }
          for (int b = 0; b < kS2; ++b) {
            const T* __restrict eb = eo + b * Tall;
            T* __restrict hcol = hb + (4 + b) * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) at3(eb + n, ok, hcol + n, 14 * N);
            for (int i = 0; i < kS2; ++i) copy_column(oo + (i * Wo + b) * N, hb + ((2 * i + 1) * 7 + 4 + b) * N, N);
          }
          for (int r = 0; r < 6; ++r) {  // even columns (2j) from the Winograd points; odd columns copied
            T* __restrict yr = yt + r * Wq * N;
            const T* __restrict hr = hb + r * 7 * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) at3(hr + n, N, yr + n, 2 * N);
            for (int j = 0; j < kS2; ++j) copy_column(hr + (4 + j) * N, yr + (2 * j + 1) * N, N);
          }
        }
      for (int64_t Y = 0; Y < OH; ++Y)
        batch_to_rows(yb + Y * Wq * N, OW, N, y + o * ys[1] + Y * ys[2], ys[0], ys[3], tmp.data());
    }
  });
}

template <class T>
void s2_output_adjoint_run(const T* dy, const int64_t* dys, Phases<T> m, T* moo, const int64_t* ms, int64_t N, int64_t O,
                           int64_t H, int64_t W, int64_t TH, int64_t TW, int nt) {
  const int64_t Tall = N * TH * TW, OH = 2 * H + 1, OW = 2 * W + 1, Wq = 6 * TW;
  const int64_t ek = m.ee_k, ok = m.eo_k, qk = m.oe_k;
  parallel_for(O, Tall * 49, nt, [&](int64_t o0, int64_t o1) {
    std::vector<T> ybuf(6 * TH * Wq * N), hbuf(6 * 7 * N), tmp(N * OW);
    for (int64_t o = o0; o < o1; ++o) {
      T* yb = ybuf.data();
      std::fill(ybuf.begin(), ybuf.end(), T(0));
      for (int64_t Y = 0; Y < OH; ++Y)
        rows_to_batch(dy + o * dys[1] + Y * dys[2], dys[0], dys[3], OW, N, yb + Y * Wq * N, tmp.data());
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t p = 0; p < H; ++p) {  // the odd/odd phase: dy's odd rows and columns
          const T* src = dy + n * dys[0] + o * dys[1] + (2 * p + 1) * dys[2] + dys[3];
          T* dst = moo + n * ms[0] + o * ms[1] + p * ms[2];
          for (int64_t q = 0; q < W; ++q) dst[q * ms[3]] = src[2 * q * dys[3]];
        }
      }
      zero_pads(m, o, Tall);
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx) {
          const int64_t t = (ty * TW + tx) * N;
          T* __restrict ee = m.ee + o * m.ee_c + t;
          T* __restrict eo = m.eo + o * m.eo_c + t;
          T* __restrict oe = m.oe + o * m.oe_c + t;
          const T* __restrict yt = yb + (6 * ty * Wq + 6 * tx) * N;
          T* hb = hbuf.data();  // h[r * 7 + b][n], as in s2_output_run
          for (int r = 0; r < 6; ++r) {
            const T* __restrict yr = yt + r * Wq * N;
            T* __restrict hr = hb + r * 7 * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) a4(yr + n, 2 * N, hr + n, N);
            for (int j = 0; j < kS2; ++j) copy_column(yr + (2 * j + 1) * N, hr + (4 + j) * N, N);
          }
          for (int b = 0; b < 4; ++b) {
            const T* __restrict hcol = hb + b * N;
            T* __restrict eb = ee + b * ek;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) a4(hcol + n, 14 * N, eb + n, 4 * ek);
            for (int i = 0; i < kS2; ++i) copy_column(hb + ((2 * i + 1) * 7 + b) * N, oe + b * qk + i * Tall, N);
          }
          for (int b = 0; b < kS2; ++b) {
            const T* __restrict hcol = hb + (4 + b) * N;
            T* __restrict eb = eo + b * Tall;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) a4(hcol + n, 14 * N, eb + n, ok);
          }
        }
    }
  });
}

// The transformed weights of the phase split: from the 3x3 filter g of w [A, B, 3, 3] (element
// strides ws), ee[a * 4 + b] = (GE g GE^T)[a, b], eo[a] = (GE g)[a, 1], oe[b] = (g GE^T)[1, b] and
// oo = g[1, 1], each written [k, A, B] contiguous (GE: F(3, 2)'s filter transform on the taps, kGE).
constexpr double kGE[4][3] = {{0, 0, 1}, {0.5, 0, 0.5}, {-0.5, 0, 0.5}, {1, 0, 0}};

template <class T>
void s2_weight_run(const T* w, const int64_t* ws, int64_t A, int64_t B, T* ee, T* eo, T* oe, T* oo, int nt) {
  const int64_t AB = A * B;
  filter_blocks(A, B, nt, [&](int64_t a, int64_t b0, int64_t nb, int64_t off) {
    T g[9][kWB], h[4][3][kWB];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        const T* src = w + a * ws[0] + b0 * ws[1] + r * ws[2] + c * ws[3];
        for (int64_t l = 0; l < nb; ++l) g[r * 3 + c][l] = src[l * ws[1]];
      }
    for (int p = 0; p < 4; ++p)  // h = GE g (rows)
      for (int c = 0; c < 3; ++c) {
        const T k0 = T(kGE[p][0]), k2 = T(kGE[p][2]);
#pragma omp simd
        for (int64_t l = 0; l < nb; ++l) h[p][c][l] = k0 * g[c][l] + k2 * g[6 + c][l];
      }
    for (int p = 0; p < 4; ++p) {
      for (int q = 0; q < 4; ++q) {  // ee = h GE^T
        const T k0 = T(kGE[q][0]), k2 = T(kGE[q][2]);
        T* __restrict u = ee + (p * 4 + q) * AB + off;
#pragma omp simd
        for (int64_t l = 0; l < nb; ++l) u[l] = h[p][0][l] * k0 + h[p][2][l] * k2;
      }
      T* __restrict u = eo + p * AB + off;  // the odd column: tap 1 along x
      for (int64_t l = 0; l < nb; ++l) u[l] = h[p][1][l];
      const T k0 = T(kGE[p][0]), k2 = T(kGE[p][2]);
      T* __restrict v = oe + p * AB + off;  // the odd row: tap 1 along y
#pragma omp simd
      for (int64_t l = 0; l < nb; ++l) v[l] = g[3][l] * k0 + g[5][l] * k2;
    }
    for (int64_t l = 0; l < nb; ++l) oo[off + l] = g[4][l];
  });
}

// Adjoint of s2_weight_run: dw [A, B, 3, 3] (contiguous) from dee, deo, doe, doo (contiguous [k, A, B]).
template <class T>
void s2_weight_adjoint_run(const T* ee, const T* eo, const T* oe, const T* oo, T* dw, int64_t A, int64_t B, int nt) {
  const int64_t AB = A * B;
  filter_blocks(A, B, nt, [&](int64_t a, int64_t b0, int64_t nb, int64_t off) {
    T g[9][kWB], h[4][3][kWB];
    for (int p = 0; p < 4; ++p) {  // h = dee GE (over q), h[., 1] = deo
      for (int c = 0; c < 3; ++c)
        for (int64_t l = 0; l < nb; ++l) h[p][c][l] = T(0);
      for (int q = 0; q < 4; ++q) {
        const T* __restrict u = ee + (p * 4 + q) * AB + off;
        const T k0 = T(kGE[q][0]), k2 = T(kGE[q][2]);
#pragma omp simd
        for (int64_t l = 0; l < nb; ++l) {
          h[p][0][l] += u[l] * k0;
          h[p][2][l] += u[l] * k2;
        }
      }
      const T* __restrict u = eo + p * AB + off;
      for (int64_t l = 0; l < nb; ++l) h[p][1][l] = u[l];
    }
    for (int r = 0; r < 3; ++r)  // g = GE^T h
      for (int c = 0; c < 3; ++c) {
        T* __restrict gr = g[r * 3 + c];
        for (int64_t l = 0; l < nb; ++l) gr[l] = T(0);
        for (int p = 0; p < 4; ++p) {
          const T k = T(kGE[p][r]);
          if (k == T(0)) continue;
#pragma omp simd
          for (int64_t l = 0; l < nb; ++l) gr[l] += k * h[p][c][l];
        }
      }
    for (int p = 0; p < 4; ++p) {  // the odd row's taps (1, c)
      const T* __restrict v = oe + p * AB + off;
      const T k0 = T(kGE[p][0]), k2 = T(kGE[p][2]);
#pragma omp simd
      for (int64_t l = 0; l < nb; ++l) {
        g[3][l] += k0 * v[l];
        g[5][l] += k2 * v[l];
      }
    }
    for (int64_t l = 0; l < nb; ++l) g[4][l] += oo[off + l];
    T* dst = dw + off * 9;
    for (int64_t l = 0; l < nb; ++l)
      for (int q = 0; q < 9; ++q) dst[l * 9 + q] = g[q][l];
  });
}

}  // namespace

void s2_input(int dtype, const void* x, const Strides<4>& xs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t TH,
              int64_t TW, const S2Phases& v, int nthreads) {
  dispatch_float(dtype, "s2_input", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    s2_input_run<T>(static_cast<const T*>(x), xs.data(), N, C, H, W, TH, TW, cast<T>(v), nthreads);
  });
}

void s2_input_adjoint(int dtype, const S2Phases& dv, void* dx, const Strides<4>& dxs, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "s2_input_adjoint", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    s2_input_adjoint_run<T>(cast<T>(dv), static_cast<T*>(dx), dxs.data(), N, C, H, W, TH, TW, nthreads);
  });
}

void s2_output(int dtype, const S2Phases& m, const void* moo, const Strides<4>& ms, void* y, const Strides<4>& ys, int64_t N,
               int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "s2_output", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    s2_output_run<T>(cast<T>(m), static_cast<const T*>(moo), ms.data(), static_cast<T*>(y), ys.data(), N, O, H, W, TH, TW, nthreads);
  });
}

void s2_output_adjoint(int dtype, const void* dy, const Strides<4>& dys, const S2Phases& dm, void* moo, const Strides<4>& ms,
                       int64_t N, int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads) {
  dispatch_float(dtype, "s2_output_adjoint", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    s2_output_adjoint_run<T>(static_cast<const T*>(dy), dys.data(), cast<T>(dm), static_cast<T*>(moo), ms.data(), N, O, H, W, TH, TW,
                             nthreads);
  });
}

void s2_weight(int dtype, const void* w, const Strides<4>& ws, int64_t A, int64_t B, void* ee, void* eo, void* oe, void* oo,
               int nthreads) {
  dispatch_float(dtype, "s2_weight", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    s2_weight_run<T>(static_cast<const T*>(w), ws.data(), A, B, static_cast<T*>(ee), static_cast<T*>(eo), static_cast<T*>(oe),
                     static_cast<T*>(oo), nthreads);
  });
}

void s2_weight_adjoint(int dtype, const void* ee, const void* eo, const void* oe, const void* oo, void* dw, int64_t A,
                       int64_t B, int nthreads) {
  dispatch_float(dtype, "s2_weight_adjoint", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    s2_weight_adjoint_run<T>(static_cast<const T*>(ee), static_cast<const T*>(eo), static_cast<const T*>(oe),
                             static_cast<const T*>(oo), static_cast<T*>(dw), A, B, nthreads);
  });
}

}  // namespace fastgan::cpu
