// bias_act on the CPU: one pass over memory, templated on the activation so the inner loop
// vectorises; the backward fuses the per-channel bias gradient into the same pass.
// Memory is walked as spans that share one bias (a plane of NCHW) or as rows whose bias
// varies per element (channels_last). float16/bfloat16 spans go through a float tile.
#include "cpu/bias_act.h"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "fastgan/activations.h"

namespace fastgan::cpu {
namespace {

constexpr int64_t kPlaneMin = 64;  // spans shorter than this are walked row by row
constexpr int64_t kTile = 512;     // float tile for 16-bit storage types

// One span: y[j] = clamp(gain * act(x[j] + bias_j)), bias_j = bv ? bv[j] : bs.
template <int ACT, class A>
void span_fwd(const A* __restrict x, const A* __restrict bv, A bs, A* __restrict y, int64_t n, A alpha,
              A gain, A clamp) {
  if (bv) {
    for (int64_t j = 0; j < n; ++j) y[j] = clamp_(gain * act_eval<0>(ACT, x[j] + bv[j], alpha), clamp);
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] = clamp_(gain * act_eval<0>(ACT, x[j] + bs, alpha), clamp);
  }
}

template <int ACT, int ORDER, class A>
inline A grad_elem(A g, A v, A alpha, A gain, A clamp, bool clamped) {
  A d = g * gain * act_eval<ORDER>(ACT, v, alpha);
  if (clamped) {
    const A y = gain * act_eval<0>(ACT, v, alpha);
    d = (y < -clamp || y > clamp) ? A(0) : d;
  }
  return d;
}

// dx[j] = dy[j] * gain * act^(ORDER)(x[j] + bias_j) * mask; returns the sum of dx when the
// bias is a scalar, adds into bsum[j] when it is a vector. Everything by value and
// __restrict so the compiler keeps the accumulator in registers and vectorises.
template <int ACT, int O, bool CLAMPED, class A>
A span_grad_o(const A* __restrict dy, const A* __restrict x, const A* __restrict bv, A bs, A* __restrict dx,
              A* __restrict bsum, int64_t n, A alpha, A gain, A clamp) {
  A s = 0;
  if (bv) {
    if (bsum) {
      for (int64_t j = 0; j < n; ++j) {
        const A d = grad_elem<ACT, O>(dy[j], x[j] + bv[j], alpha, gain, clamp, CLAMPED);
        dx[j] = d;
        bsum[j] += d;
      }
    } else {
      for (int64_t j = 0; j < n; ++j) dx[j] = grad_elem<ACT, O>(dy[j], x[j] + bv[j], alpha, gain, clamp, CLAMPED);
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) {
      const A d = grad_elem<ACT, O>(dy[j], x[j] + bs, alpha, gain, clamp, CLAMPED);
      dx[j] = d;
      s += d;
    }
  }
  return s;
}

template <int ACT, class A>
A span_grad(const A* dy, const A* x, const A* bv, A bs, A* dx, A* bsum, int64_t n, A alpha, A gain, A clamp,
            bool clamped, int order) {
#define FG_RUN(O) return clamped ? span_grad_o<ACT, O, true>(dy, x, bv, bs, dx, bsum, n, alpha, gain, clamp) \
                                 : span_grad_o<ACT, O, false>(dy, x, bv, bs, dx, bsum, n, alpha, gain, clamp)
  if (order == 1) FG_RUN(1);
  if (order == 2) FG_RUN(2);
  FG_RUN(3);
#undef FG_RUN
}

// Storage adaptors: float/double spans run in place; 16-bit spans through a float tile.
template <class T> constexpr bool kDirect = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <int ACT, class T>
void fwd_span(const T* x, const acc_t<T>* bv, acc_t<T> bs, T* y, int64_t n, acc_t<T> alpha, acc_t<T> gain,
              acc_t<T> clamp) {
  if constexpr (kDirect<T>) {
    span_fwd<ACT>(x, bv, bs, y, n, alpha, gain, clamp);
  } else {
    float xt[kTile], yt[kTile];
    for (int64_t j0 = 0; j0 < n; j0 += kTile) {
      const int64_t m = std::min(kTile, n - j0);
      for (int64_t j = 0; j < m; ++j) xt[j] = load(x, j0 + j);
      span_fwd<ACT>(xt, bv ? bv + j0 : nullptr, bs, yt, m, alpha, gain, clamp);
      for (int64_t j = 0; j < m; ++j) store(y, j0 + j, yt[j]);
    }
  }
}

template <int ACT, class T>
acc_t<T> grad_span(const T* dy, const T* x, const acc_t<T>* bv, acc_t<T> bs, T* dx, acc_t<T>* bsum, int64_t n,
                   acc_t<T> alpha, acc_t<T> gain, acc_t<T> clamp, bool clamped, int order) {
  if constexpr (kDirect<T>) {
    return span_grad<ACT>(dy, x, bv, bs, dx, bsum, n, alpha, gain, clamp, clamped, order);
  } else {
    float gt[kTile], xt[kTile], dt[kTile];
    float s = 0;
    for (int64_t j0 = 0; j0 < n; j0 += kTile) {
      const int64_t m = std::min(kTile, n - j0);
      for (int64_t j = 0; j < m; ++j) { gt[j] = load(dy, j0 + j); xt[j] = load(x, j0 + j); }
      s += span_grad<ACT>(gt, xt, bv ? bv + j0 : nullptr, bs, dt, bsum ? bsum + j0 : nullptr, m, alpha, gain,
                          clamp, clamped, order);
      for (int64_t j = 0; j < m; ++j) store(dx, j0 + j, dt[j]);
    }
    return s;
  }
}

template <class T>
std::vector<acc_t<T>> bias_vector(const T* b, int64_t C) {
  std::vector<acc_t<T>> v(C, acc_t<T>(0));
  if (b) for (int64_t c = 0; c < C; ++c) v[c] = load(b, c);
  return v;
}

template <int ACT, class T>
void fwd(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner, double alpha, double gain,
         double clamp, int nthreads) {
  using A = acc_t<T>;
  const auto bias = bias_vector(b, C);
  if (inner >= kPlaneMin) {
    parallel_for(outer * C, inner, nthreads, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        fwd_span<ACT>(x + p * inner, nullptr, bias[p % C], y + p * inner, inner, A(alpha), A(gain), A(clamp));
    });
    return;
  }
  // short spans: expand the bias along one row [C][inner] and walk rows
  std::vector<A> brow(C * inner);
  for (int64_t i = 0; i < C * inner; ++i) brow[i] = bias[i / inner];
  parallel_for(outer, C * inner, nthreads, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      fwd_span<ACT>(x + o * C * inner, brow.data(), A(0), y + o * C * inner, C * inner, A(alpha), A(gain), A(clamp));
  });
}

template <int ACT, class T>
void grad(const T* dy, const T* x, const T* b, T* dx, T* db, int64_t outer, int64_t C, int64_t inner,
          double alpha, double gain, double clamp, int order, int nthreads) {
  using A = acc_t<T>;
  const bool clamped = clamp >= 0;
  const A cl = clamped ? A(clamp) : std::numeric_limits<A>::infinity();
  const auto bias = bias_vector(b, C);
  const int nt = std::max(1, nthreads);
  std::vector<double> part(db ? size_t(nt) * C : 0, 0.0);  // per-thread channel sums
  if (inner >= kPlaneMin) {
    parallel_for_tid(outer * C, inner, nt, [&](int tid, int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const A s = grad_span<ACT>(dy + p * inner, x + p * inner, nullptr, bias[p % C], dx + p * inner, nullptr,
                                   inner, A(alpha), A(gain), cl, clamped, order);
        if (db) part[size_t(tid) * C + p % C] += double(s);
      }
    });
  } else {
    const int64_t row = C * inner;
    std::vector<A> brow(row);
    for (int64_t i = 0; i < row; ++i) brow[i] = bias[i / inner];
    parallel_for_tid(outer, row, nt, [&](int tid, int64_t o0, int64_t o1) {
      std::vector<A> rsum(db ? row : 0, A(0));
      for (int64_t o = o0; o < o1; ++o) {
        grad_span<ACT>(dy + o * row, x + o * row, brow.data(), A(0), dx + o * row, db ? rsum.data() : nullptr, row,
                       A(alpha), A(gain), cl, clamped, order);
        // flush to double every 64 rows: keeps float accumulation short
        if (db && ((o - o0) % 64 == 63 || o + 1 == o1)) {
          double* acc = part.data() + size_t(tid) * C;
          for (int64_t i = 0; i < row; ++i) { acc[i / inner] += double(rsum[i]); rsum[i] = 0; }
        }
      }
    });
  }
  if (db) {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int t = 0; t < nt; ++t) s += part[size_t(t) * C + c];
      store(db, c, A(s));
    }
  }
}

template <class F> void dispatch_act(int act, F&& f) {
  switch (act) {
#define FG_CASE(a) case a: f(std::integral_constant<int, a>{}); return;
    FG_CASE(kLinear) FG_CASE(kRelu) FG_CASE(kLrelu) FG_CASE(kTanh) FG_CASE(kSigmoid)
    FG_CASE(kElu) FG_CASE(kSelu) FG_CASE(kSoftplus) FG_CASE(kSwish)
#undef FG_CASE
  }
  check(false, "bias_act: unknown activation code " + std::to_string(act));
}

}  // namespace

void bias_act_fwd(int dtype, const void* x, const void* b, void* y, int64_t outer, int64_t C,
                  int64_t inner, int act, double alpha, double gain, double clamp, int nthreads) {
  const double c = clamp < 0 ? std::numeric_limits<double>::infinity() : clamp;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    dispatch_act(act, [&](auto ACT) {
      fwd<decltype(ACT)::value, T>(static_cast<const T*>(x), static_cast<const T*>(b), static_cast<T*>(y), outer,
                                   C, inner, alpha, gain, c, nthreads);
    });
    return 0;
  });
}

void bias_act_grad(int dtype, const void* dy, const void* x, const void* b, void* dx, void* db,
                   int64_t outer, int64_t C, int64_t inner, int act, double alpha, double gain,
                   double clamp, int order, int nthreads) {
  check(order >= 1 && order <= 3, "bias_act: derivative order must be 1, 2 or 3");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    dispatch_act(act, [&](auto ACT) {
      grad<decltype(ACT)::value, T>(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(b),
                                    static_cast<T*>(dx), static_cast<T*>(db), outer, C, inner, alpha, gain, clamp,
                                    order, nthreads);
    });
    return 0;
  });
}

}  // namespace fastgan::cpu
