// upfirdn2d on the CPU: the FIR filter computed directly (no convolution library).
//
// Each output row is built in two steps that both run over contiguous memory:
//  1. vertical: the input rows that the row's vertical taps hit are combined into one row
//     (separable filter), or each such row is filtered horizontally with that tap's row of
//     a 2-D filter and accumulated;
//  2. horizontal: a polyphase pass. Outputs o = ph + P m of phase ph read the input at
//     base[ph] + S m + t for taps t, so each phase is a dense loop over m. Rows sit in
//     zero-margined buffers, so no loop checks bounds.
// Layouts: NCHW-like strides walk planes (parallel over N*C planes). Separable filters (and 2-D
// filters that are rank 1, factored on the host) stack R output rows in one buffer with a fixed
// slot length, so each horizontal phase is one long loop over all R rows: small images pay no
// per-row overhead. Other 2-D filters go row by row. channels_last walks pixel vectors in blocks
// of 64 channels (parallel over N*OH*blocks), vectorising over the channels.
#include "cpu/upfirdn2d.h"

#include <algorithm>
#include <numeric>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "fastgan/upfirdn2d.h"

namespace fastgan::cpu {
namespace {

// Polyphase plan of the horizontal axis.
struct HPlan {
  int up = 1, P = 1, S = 1;
  int64_t O = 0;
  std::vector<int64_t> base;  // input index of (phase ph, m = 0, t = 0)
  std::vector<int> k0, cnt;   // first tap and number of taps of each phase
  int64_t ML = 0, MR = 0;     // zero margins the row buffer needs left and right

  HPlan(int64_t L, int64_t O_, int up_, int down, int64_t pad0, int K) : up(up_), O(O_) {
    const int g = std::gcd(up_, down);
    P = up_ / g;
    S = down / g;
    int64_t lo = 0, hi = L - 1;
    for (int ph = 0; ph < P; ++ph) {
      const AxisTaps a = axis_taps(ph, up_, down, pad0, K);
      base.push_back(a.i0);
      k0.push_back(a.k0);
      cnt.push_back(a.n);
      const int64_t M = count(ph);
      if (M > 0 && a.n > 0) {
        lo = std::min(lo, a.i0);
        hi = std::max(hi, a.i0 + S * (M - 1) + a.n - 1);
      }
    }
    ML = -lo;
    MR = hi - (L - 1);
  }
  int64_t count(int ph) const { return ph < O ? (O - ph + P - 1) / P : 0; }
};

// dst[m] (+)= sum_t wt[t] src[S m + t], m < M; vectorises over m for constant S.
template <int S, class A>
inline void phase_run(const A* __restrict src, A* __restrict dst, int64_t M, const A* wt, int n, int sr, bool acc) {
  const int s = S > 0 ? S : sr;
  if (!acc) {
    const A w0 = wt[0];
    for (int64_t m = 0; m < M; ++m) dst[m] = w0 * src[s * m];
  } else {
    const A w0 = wt[0];
    for (int64_t m = 0; m < M; ++m) dst[m] += w0 * src[s * m];
  }
  for (int t = 1; t < n; ++t) {
    const A w = wt[t];
    const A* q = src + t;
    for (int64_t m = 0; m < M; ++m) dst[m] += w * q[s * m];
  }
}

// out[2m] (+)= a[m], out[2m + 1] (+)= b[m]: the two phases of an upsample by 2.
template <class A>
inline void interleave2(A* __restrict out, const A* __restrict a, const A* __restrict b, int64_t O, bool acc) {
  const int64_t pairs = O / 2;
  if (acc) {
    for (int64_t m = 0; m < pairs; ++m) { out[2 * m] += a[m]; out[2 * m + 1] += b[m]; }
    if (O & 1) out[O - 1] += a[pairs];
  } else {
    for (int64_t m = 0; m < pairs; ++m) { out[2 * m] = a[m]; out[2 * m + 1] = b[m]; }
    if (O & 1) out[O - 1] = a[pairs];
  }
}

// Horizontal pass over one row (rp[i] valid for -ML <= i < L + MR): out[o] (+)= ...
// w: the K taps of this axis; tmp: scratch of O entries (the phases before interleaving).
template <class A>
void hpass(const A* rp, A* out, const HPlan& hp, const A* w, bool acc, A* tmp) {
  A small[64];
  std::vector<A> big;
  const bool direct = hp.P == 1;
  A* t = tmp;
  for (int ph = 0; ph < hp.P; ++ph) {
    const int64_t M = hp.count(ph);
    if (M <= 0) continue;
    A* dst = direct ? out : t;
    const bool a = direct && acc;
    const int n = hp.cnt[ph];
    if (n == 0) {
      if (!a) std::fill(dst, dst + M, A(0));
    } else {
      A* wt = small;
      if (n > 64) { big.resize(n); wt = big.data(); }
      for (int k = 0; k < n; ++k) wt[k] = w[hp.k0[ph] + hp.up * k];
      const A* src = rp + hp.base[ph];
      if (hp.S == 1) phase_run<1>(src, dst, M, wt, n, 1, a);
      else if (hp.S == 2) phase_run<2>(src, dst, M, wt, n, 2, a);
      else phase_run<0>(src, dst, M, wt, n, hp.S, a);
    }
    if (hp.P > 2) {
      A* o = out + ph;
      if (acc) for (int64_t m = 0; m < M; ++m) o[hp.P * m] += t[m];
      else for (int64_t m = 0; m < M; ++m) o[hp.P * m] = t[m];
    }
    if (hp.P == 2) t += M;
  }
  if (hp.P == 2) interleave2(out, tmp, tmp + hp.count(0), hp.O, acc);
}

// Channels-last horizontal pass: pixels are vectors of V values, PS apart in the buffers.
template <class A>
void hpass_cl(const A* rp, A* out, const HPlan& hp, const A* w, bool acc, int64_t V, int64_t PS) {
  for (int64_t o = 0; o < hp.O; ++o) {
    const int ph = int(o % hp.P);
    const int n = hp.cnt[ph];
    A* __restrict d = out + o * PS;
    if (n == 0) {
      if (!acc) std::fill(d, d + V, A(0));
      continue;
    }
    const int64_t i = hp.base[ph] + hp.S * (o / hp.P);
    const A* w0 = w + hp.k0[ph];
    const A* __restrict s = rp + i * PS;
    if (acc) for (int64_t c = 0; c < V; ++c) d[c] += w0[0] * s[c];
    else for (int64_t c = 0; c < V; ++c) d[c] = w0[0] * s[c];
    for (int t = 1; t < n; ++t) {
      const A wt = w0[hp.up * t];
      const A* __restrict q = s + t * PS;
      for (int64_t c = 0; c < V; ++c) d[c] += wt * q[c];
    }
  }
}

// dst[i] (=|+=) w * src[i * stride], i < n, converting the storage type.
template <class T, class A>
inline void axpy_row(A* __restrict dst, const T* __restrict src, int64_t stride, int64_t n, A w, bool acc) {
  if (stride == 1) {
    if (acc) for (int64_t i = 0; i < n; ++i) dst[i] += w * A(load(src, i));
    else for (int64_t i = 0; i < n; ++i) dst[i] = w * A(load(src, i));
  } else {
    if (acc) for (int64_t i = 0; i < n; ++i) dst[i] += w * A(load(src, i * stride));
    else for (int64_t i = 0; i < n; ++i) dst[i] = w * A(load(src, i * stride));
  }
}

template <class T, class A>
inline void store_row(T* __restrict dst, const A* __restrict src, int64_t stride, int64_t n) {
  if (stride == 1) for (int64_t i = 0; i < n; ++i) store(dst, i, src[i]);
  else for (int64_t i = 0; i < n; ++i) store(dst, i * stride, src[i]);
}

struct Args {
  int64_t N, C, H, W, OH, OW;
  const int64_t *xs, *ys;
  int uy, dy, fw, fh;
  int64_t py0;
  bool separable;
};

// One output row: combine or filter the input rows its vertical taps hit, then store.
// `row` is the padded row buffer (index 0 = input pixel 0), `pix` the values per pixel.
template <class T, class A, class HFn, class LoadFn>
void out_row(const Args& g, int64_t oy, const A* wx, const A* wy, const A* w2, A* row, A* orow, int64_t pix,
             HFn&& hfilter, LoadFn&& load_row) {
  const AxisTaps a = axis_taps(oy, g.uy, g.dy, g.py0, g.fh);
  int t0, t1;
  clip_taps(a, g.H, &t0, &t1);
  if (t0 >= t1) {
    std::fill(orow, orow + g.OW * pix, A(0));
    return;
  }
  if (g.separable) {
    for (int t = t0; t < t1; ++t) load_row(row, a.i0 + t, wy[a.k0 + g.uy * t], t > t0);
    hfilter(row, orow, wx, false);
  } else {
    for (int t = t0; t < t1; ++t) {
      load_row(row, a.i0 + t, A(1), false);
      hfilter(row, orow, w2 + int64_t(a.k0 + g.uy * t) * g.fw, t > t0);
    }
  }
}

// Separable filters on planes: R output rows at a time. Row r's vertical combination sits in
// its own slot of Lp = S * Mp values (zero margins around it) of one buffer, so each horizontal
// phase runs as a single dense loop over all R rows; outputs past a row's end are discarded.
template <class T>
void planes_separable(const T* x, T* y, const acc_t<T>* wx, const acc_t<T>* wy, const Args& g, const HPlan& hp,
                      int nthreads) {
  using A = acc_t<T>;
  const int64_t *xs = g.xs, *ys = g.ys;
  const int64_t span = hp.ML + g.W + hp.MR;
  const int64_t Mp = std::max((span + hp.S - 1) / hp.S, (hp.O + hp.P - 1) / hp.P);
  const int64_t Lp = hp.S * Mp;
  const int64_t R = std::max<int64_t>(1, std::min<int64_t>(g.OH, 8192 / Lp));
  const int maxn = *std::max_element(hp.cnt.begin(), hp.cnt.end());
  parallel_for(g.N * g.C, g.OH * g.OW, nthreads, [&](int64_t p0, int64_t p1) {
    std::vector<A> buf((R + 1) * Lp + maxn + 16, A(0)), tmp(hp.P * R * Mp), orow(g.OW);
    std::vector<A> wt(maxn + 1);
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p / g.C * xs[0] + p % g.C * xs[1];
      T* yp = y + p / g.C * ys[0] + p % g.C * ys[1];
      for (int64_t oy0 = 0; oy0 < g.OH; oy0 += R) {
        const int64_t rows = std::min(R, g.OH - oy0);
        for (int64_t r = 0; r < rows; ++r) {  // vertical: one slot per output row
          A* dst = buf.data() + r * Lp + hp.ML;
          const AxisTaps a = axis_taps(oy0 + r, g.uy, g.dy, g.py0, g.fh);
          int t0, t1;
          clip_taps(a, g.H, &t0, &t1);
          if (t0 >= t1) std::fill(dst, dst + g.W, A(0));
          for (int t = t0; t < t1; ++t)
            axpy_row(dst, xp + (a.i0 + t) * xs[2], xs[3], g.W, wy[a.k0 + g.uy * t], t > t0);
        }
        for (int ph = 0; ph < hp.P; ++ph) {  // horizontal: one loop per phase over all rows
          A* t = tmp.data() + ph * R * Mp;
          const int n = hp.cnt[ph];
          if (hp.count(ph) <= 0) continue;
          if (n == 0) { std::fill(t, t + rows * Mp, A(0)); continue; }
          for (int k = 0; k < n; ++k) wt[k] = wx[hp.k0[ph] + hp.up * k];
          const A* src = buf.data() + hp.ML + hp.base[ph];
          if (hp.S == 1) phase_run<1>(src, t, rows * Mp, wt.data(), n, 1, false);
          else if (hp.S == 2) phase_run<2>(src, t, rows * Mp, wt.data(), n, 2, false);
          else phase_run<0>(src, t, rows * Mp, wt.data(), n, hp.S, false);
        }
        for (int64_t r = 0; r < rows; ++r) {  // the phases of each row into the output
          const A* t = tmp.data() + r * Mp;
          A* o = orow.data();
          if (hp.P == 1) o = const_cast<A*>(t);
          else if (hp.P == 2) interleave2(o, t, t + R * Mp, g.OW, false);
          else for (int ph = 0; ph < hp.P; ++ph)
            for (int64_t m = 0; m < hp.count(ph); ++m) o[ph + hp.P * m] = t[ph * R * Mp + m];
          store_row(yp + (oy0 + r) * ys[2], o, ys[3], g.OW);
        }
      }
    }
  });
}

template <class T>
void run(const T* x, T* y, const acc_t<T>* wx, const acc_t<T>* wy, const acc_t<T>* w, const Args& g, const HPlan& hp,
         int nthreads) {
  using A = acc_t<T>;
  const int64_t *xs = g.xs, *ys = g.ys;
  const bool cl = g.C > 1 && xs[1] == 1 && xs[3] == g.C && ys[1] == 1 && ys[3] == g.C;
  if (!cl && g.separable) {
    planes_separable(x, y, wx, wy, g, hp, nthreads);
  } else if (!cl) {  // 2-D filter on planes: row by row
    const int64_t rowlen = hp.ML + g.W + hp.MR;
    parallel_for(g.N * g.C, g.OH * g.OW, nthreads, [&](int64_t p0, int64_t p1) {
      std::vector<A> rowbuf(rowlen, A(0)), orow(g.OW), tmp(hp.O);
      A* row = rowbuf.data() + hp.ML;
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = x + p / g.C * xs[0] + p % g.C * xs[1];
        T* yp = y + p / g.C * ys[0] + p % g.C * ys[1];
        auto load_row = [&](A* dst, int64_t iy, A wv, bool acc) { axpy_row(dst, xp + iy * xs[2], xs[3], g.W, wv, acc); };
        auto hfilter = [&](const A* r, A* o, const A* wv, bool acc) { hpass(r, o, hp, wv, acc, tmp.data()); };
        for (int64_t oy = 0; oy < g.OH; ++oy) {
          out_row<T>(g, oy, wx, wy, w, row, orow.data(), 1, hfilter, load_row);
          store_row(yp + oy * ys[2], orow.data(), ys[3], g.OW);
        }
      }
    });
  } else {  // channels_last: pixel vectors, in blocks of CB channels that stay in L1
    constexpr int64_t CB = 64;
    const int64_t C = g.C, nb = (C + CB - 1) / CB;
    parallel_for(g.N * g.OH * nb, g.OW * CB, nthreads, [&](int64_t q0, int64_t q1) {
      std::vector<A> rowbuf((hp.ML + g.W + hp.MR) * CB, A(0)), orow(g.OW * CB);
      A* row = rowbuf.data() + hp.ML * CB;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t n = q / (g.OH * nb), oy = q / nb % g.OH, c0 = q % nb * CB, V = std::min(CB, C - c0);
        auto load_row = [&](A* dst, int64_t iy, A wv, bool acc) {
          const T* xr = x + n * xs[0] + iy * xs[2] + c0;
          for (int64_t ix = 0; ix < g.W; ++ix) axpy_row(dst + ix * CB, xr + ix * C, 1, V, wv, acc);
        };
        auto hfilter = [&](const A* r, A* o, const A* wv, bool acc) { hpass_cl(r, o, hp, wv, acc, V, CB); };
        out_row<T>(g, oy, wx, wy, w, row, orow.data(), CB, hfilter, load_row);
        T* yr = y + n * ys[0] + oy * ys[2] + c0;
        for (int64_t ox = 0; ox < g.OW; ++ox) store_row(yr + ox * C, orow.data() + ox * CB, 1, V);
      }
    });
  }
}

}  // namespace

void upfirdn2d(int dtype, const void* x, void* y, const void* w, bool separable, int64_t N, int64_t C, int64_t H,
               int64_t W, int64_t OH, int64_t OW, const Strides<4>& xs, const Strides<4>& ys, int ux, int uy, int dx,
               int dy, int64_t px0, int64_t py0, int fw, int fh, int nthreads) {
  check(ux >= 1 && uy >= 1 && dx >= 1 && dy >= 1, "upfirdn2d: up and down must be >= 1");
  check(fw >= 1 && fh >= 1, "upfirdn2d: empty filter");
  if (N * C * OH * OW == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ys[0] >= 0 && ys[1] >= 0 && ys[2] >= 0 && ys[3] >= 0)
      advise_huge_pages(y, size_t(sizeof(T)) * size_t(N * C * OH * OW));
    return 0;
  });
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    const A* wp = static_cast<const A*>(w);
    std::vector<A> taps;
    bool sep = separable;
    if (sep) {
      taps.assign(wp, wp + fw + fh);
    } else {
      taps.resize(fw + fh + fw * fh);
      // layout [wx | wy | w2d]: the 2-D filter stays available for the fallback
      std::copy(wp, wp + fw * fh, taps.begin() + fw + fh);
      sep = factor_rank1(wp, fh, fw, taps.data() + fw, taps.data(),
                         A(std::is_same_v<A, double> ? 1e-13 : 1e-6));
    }
    Args g{N, C, H, W, OH, OW, xs.data(), ys.data(), uy, dy, fw, fh, py0, sep};
    const HPlan hp(W, OW, ux, dx, px0, fw);
    const A* w2 = separable ? nullptr : taps.data() + fw + fh;
    run<T>(static_cast<const T*>(x), static_cast<T*>(y), taps.data(), taps.data() + fw, w2, g, hp, nthreads);
    return 0;
  });
}

}  // namespace fastgan::cpu
