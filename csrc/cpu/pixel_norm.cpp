// pixel_norm on the CPU. Memory is [outer][C][inner] and the mean of squares runs over C.
// inner == 1 (rows: 2-D inputs, channels_last): each row is reduced and scaled while it sits
// in L1. inner > 1 (NCHW planes): an [C][ti] tile of ti consecutive pixels is reduced into ti
// accumulators (a vector loop over pixels for every channel), then scaled in a second pass
// that finds the tile in L2 or L3.
#include "cpu/pixel_norm.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/lane_sum.h"
#include "cpu/parallel.h"
#include "fastgan/pixel_norm.h"

namespace fastgan::cpu {
namespace {

constexpr int64_t kMaxTile = 2048;   // pixels per tile
constexpr int64_t kChanChunk = 1024;  // float accumulation over at most this many channels

// Tile width for [C][inner] planes: whole rows of up to kMaxTile pixels, so both passes
// stream through memory in order. Narrow tiles that fit L2 measured slower: they read short
// pieces of rows that lie pages apart, which the prefetchers do not follow. Split further
// only to feed the threads.
inline int64_t tile_width(int64_t outer, int64_t inner, int nthreads) {
  int64_t ntiles = (inner + kMaxTile - 1) / kMaxTile;
  if (outer * ntiles < 2 * nthreads) ntiles = std::min((2 * nthreads + outer - 1) / outer, (inner + 63) / 64);
  const int64_t ti = (inner + ntiles - 1) / ntiles;
  return std::min(inner, (ti + 15) / 16 * 16);
}

// Per-pixel sums over the C channels of a tile of ti pixels: f(c, a, b) adds channel c's
// terms into a[i] and b[i]. Float sums run over at most kChanChunk channels before they are
// added into the double totals sa, sb (only needed when C > kChanChunk).
template <class A, class F>
void tile_sums(int64_t C, int64_t ti, A* a, A* b, double* sa, double* sb, F&& f) {
  for (int64_t i = 0; i < ti; ++i) { a[i] = 0; b[i] = 0; }
  if (C <= kChanChunk) {
    for (int64_t c = 0; c < C; ++c) f(c, a, b);
    for (int64_t i = 0; i < ti; ++i) { sa[i] = double(a[i]); sb[i] = double(b[i]); }
    return;
  }
  for (int64_t i = 0; i < ti; ++i) { sa[i] = 0; sb[i] = 0; }
  for (int64_t c0 = 0; c0 < C; c0 += kChanChunk) {
    const int64_t c1 = std::min(C, c0 + kChanChunk);
    for (int64_t c = c0; c < c1; ++c) f(c, a, b);
    for (int64_t i = 0; i < ti; ++i) { sa[i] += double(a[i]); sb[i] += double(b[i]); a[i] = 0; b[i] = 0; }
  }
}

// Per-thread scratch of a tile: float (or double) sums and their double totals.
template <class A> struct TileScratch {
  std::vector<A> a, b;
  std::vector<double> sa, sb;
  explicit TileScratch(int64_t ti) : a(ti), b(ti), sa(ti), sb(ti) {}
};

template <class T>
void fwd(const T* x, T* y, int64_t outer, int64_t C, int64_t inner, double eps_, int nthreads) {
  using A = acc_t<T>;
  const A inv_c = A(1.0 / double(C)), eps = A(eps_);
  if (inner == 1) {
    parallel_for(outer, C, nthreads, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const T* xr = x + o * C;
        T* yr = y + o * C;
        const double ss = lane_sum<A>(C, [&](int64_t j) { const A v = load(xr, j); return v * v; });
        const A r = pixel_norm_scale(A(ss), inv_c, eps);
        for (int64_t j = 0; j < C; ++j) store(yr, j, load(xr, j) * r);
      }
    });
    return;
  }
  const int64_t ti = tile_width(outer, inner, nthreads), ntiles = (inner + ti - 1) / ti;
  parallel_for(outer * ntiles, C * ti, nthreads, [&](int64_t t0, int64_t t1) {
    TileScratch<A> sc(ti);
    A* r = sc.b.data();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / ntiles, i0 = (t % ntiles) * ti, n = std::min(ti, inner - i0);
      const T* xt = x + o * C * inner + i0;
      T* yt = y + o * C * inner + i0;
      tile_sums<A>(C, n, sc.a.data(), sc.b.data(), sc.sa.data(), sc.sb.data(), [&](int64_t c, A* a, A*) {
        const T* xc = xt + c * inner;
        for (int64_t i = 0; i < n; ++i) { const A v = load(xc, i); a[i] += v * v; }
      });
      for (int64_t i = 0; i < n; ++i) r[i] = pixel_norm_scale(A(sc.sa[i]), inv_c, eps);
      for (int64_t c = 0; c < C; ++c) {
        const T* xc = xt + c * inner;
        T* yc = yt + c * inner;
        for (int64_t i = 0; i < n; ++i) store(yc, i, load(xc, i) * r[i]);
      }
    }
  });
}

template <class T>
void grad(const T* dy, const T* x, T* dx, int64_t outer, int64_t C, int64_t inner, double eps_, int nthreads) {
  using A = acc_t<T>;
  const A inv_c = A(1.0 / double(C)), eps = A(eps_);
  if (inner == 1) {
    parallel_for(outer, 2 * C, nthreads, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const T* xr = x + o * C;
        const T* gr = dy + o * C;
        T* dr = dx + o * C;
        double ss, dot;
        lane_sum2<A>(C, [&](int64_t j, A& a, A& b) {
          const A v = load(xr, j);
          a += v * v;
          b += v * A(load(gr, j));
        }, ss, dot);
        const A r = pixel_norm_scale(A(ss), inv_c, eps), k = pixel_norm_grad_coef(r, A(dot), inv_c);
        for (int64_t j = 0; j < C; ++j) store(dr, j, pixel_norm_grad_elem(A(load(gr, j)), A(load(xr, j)), r, k));
      }
    });
    return;
  }
  const int64_t ti = tile_width(outer, inner, nthreads), ntiles = (inner + ti - 1) / ti;
  parallel_for(outer * ntiles, 2 * C * ti, nthreads, [&](int64_t t0, int64_t t1) {
    TileScratch<A> sc(ti);
    A *r = sc.a.data(), *k = sc.b.data();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / ntiles, i0 = (t % ntiles) * ti, n = std::min(ti, inner - i0);
      const int64_t base = o * C * inner + i0;
      tile_sums<A>(C, n, sc.a.data(), sc.b.data(), sc.sa.data(), sc.sb.data(), [&](int64_t c, A* a, A* b) {
        const T* xc = x + base + c * inner;
        const T* gc = dy + base + c * inner;
        for (int64_t i = 0; i < n; ++i) {
          const A v = load(xc, i);
          a[i] += v * v;
          b[i] += v * A(load(gc, i));
        }
      });
      for (int64_t i = 0; i < n; ++i) {
        r[i] = pixel_norm_scale(A(sc.sa[i]), inv_c, eps);
        k[i] = pixel_norm_grad_coef(r[i], A(sc.sb[i]), inv_c);
      }
      for (int64_t c = 0; c < C; ++c) {
        const T* xc = x + base + c * inner;
        const T* gc = dy + base + c * inner;
        T* dc = dx + base + c * inner;
        for (int64_t i = 0; i < n; ++i) store(dc, i, pixel_norm_grad_elem(A(load(gc, i)), A(load(xc, i)), r[i], k[i]));
      }
    }
  });
}

}  // namespace

void pixel_norm_fwd(int dtype, const void* x, void* y, int64_t outer, int64_t C, int64_t inner, double eps,
                    int nthreads) {
  check(C > 0 && inner > 0 && outer >= 0, "pixel_norm: bad sizes");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    fwd<T>(static_cast<const T*>(x), static_cast<T*>(y), outer, C, inner, eps, nthreads);
    return 0;
  });
}

void pixel_norm_grad(int dtype, const void* dy, const void* x, void* dx, int64_t outer, int64_t C, int64_t inner,
                     double eps, int nthreads) {
  check(C > 0 && inner > 0 && outer >= 0, "pixel_norm: bad sizes");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    grad<T>(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), outer, C, inner, eps,
            nthreads);
    return 0;
  });
}

}  // namespace fastgan::cpu
