// The fused pieces around the modulated convolution on the CPU (the convolution itself runs in
// PyTorch/oneDNN): the input modulation x * styles (optionally changing layout in the same
// pass), its style gradient (a per-channel dot product), and the synthesis-layer epilogue
// (dcoefs, noise, bias, activation, gain, clamp) with its one-pass first derivative.
// Contiguous tensors are walked plane by plane (parallel over planes); channels_last pixel by
// pixel with the channels as the vectorised inner loop. Reductions use `omp simd` lanes and
// per-thread partial sums flushed to double.
#include "cpu/modulated_conv2d.h"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/upfirdn2d.h"  // advise_huge_pages
#include "fastgan/modulated_conv2d.h"

namespace fastgan::cpu {
namespace {

constexpr int64_t kFlush = 64;  // rows accumulated in float before flushing to double

template <class F> void dispatch_act(int act, F&& f) {
  switch (act) {
    case kLinear: f(std::integral_constant<int, kLinear>{}); return;
    case kRelu: f(std::integral_constant<int, kRelu>{}); return;
    case kLrelu: f(std::integral_constant<int, kLrelu>{}); return;
    case kTanh: f(std::integral_constant<int, kTanh>{}); return;
    case kSigmoid: f(std::integral_constant<int, kSigmoid>{}); return;
    case kElu: f(std::integral_constant<int, kElu>{}); return;
    case kSelu: f(std::integral_constant<int, kSelu>{}); return;
    case kSoftplus: f(std::integral_constant<int, kSoftplus>{}); return;
    case kSwish: f(std::integral_constant<int, kSwish>{}); return;
  }
  check(false, "modulated_conv2d: unknown activation code " + std::to_string(act));
}

template <class T>
std::vector<acc_t<T>> to_acc(const T* v, int64_t n, acc_t<T> fill) {
  std::vector<acc_t<T>> out(n, fill);
  if (v) for (int64_t i = 0; i < n; ++i) out[i] = load(v, i);
  return out;
}

// Per-thread partial sums: float rows flushed into double totals every kFlush rows.
template <class A>
struct Partial {
  std::vector<A> cur;
  std::vector<double> tot;
  int64_t rows = 0;
  explicit Partial(int64_t n) : cur(n, A(0)), tot(n, 0.0) {}
  void tick() {
    if (++rows % kFlush == 0) flush();
  }
  void flush() {
    for (size_t i = 0; i < cur.size(); ++i) { tot[i] += double(cur[i]); cur[i] = A(0); }
  }
};

template <class T>
void write_sum(T* out, const std::vector<std::vector<double>>& parts, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (const auto& p : parts) s += p.empty() ? 0.0 : p[i];
    store(out, i, acc_t<T>(s));
  }
}

// ------------------------------------------------------------------ modulation
template <class T>
void scale(const T* x, const T* s, T* y, int64_t N, int64_t C, int64_t P, const int64_t* xs, const int64_t* ys,
           int nt) {
  using A = acc_t<T>;
  if (xs[2] == 1 && ys[2] == 1) {  // planes
    parallel_for(N * C, P, nt, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t n = q / C, c = q % C;
        const T* __restrict xp = x + n * xs[0] + c * xs[1];
        T* __restrict yp = y + n * ys[0] + c * ys[1];
        const A sv = load(s, q);
        for (int64_t p = 0; p < P; ++p) store(yp, p, A(load(xp, p)) * sv);
      }
    });
  } else if (xs[1] == 1 && ys[1] == 1) {  // pixel vectors
    parallel_for(N * P, C, nt, [&](int64_t r0, int64_t r1) {
      std::vector<A> sv;
      int64_t cur = -1;
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / P, p = r % P;
        if (n != cur) { sv = to_acc(s + n * C, C, A(1)); cur = n; }
        const T* __restrict xp = x + n * xs[0] + p * xs[2];
        T* __restrict yp = y + n * ys[0] + p * ys[2];
        for (int64_t c = 0; c < C; ++c) store(yp, c, A(load(xp, c)) * sv[c]);
      }
    });
  } else {  // layout change: 32 x 32 tiles of (channel, pixel)
    constexpr int64_t B = 32;
    const int64_t cb = (C + B - 1) / B, pb = (P + B - 1) / B;
    parallel_for(N * cb * pb, B * B, nt, [&](int64_t t0, int64_t t1) {
      A tile[B][B];
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / (cb * pb), c0 = t / pb % cb * B, p0 = t % pb * B;
        const int64_t nc = std::min(B, C - c0), np = std::min(B, P - p0);
        for (int64_t c = 0; c < nc; ++c) {
          const A sv = load(s, n * C + c0 + c);
          const T* xp = x + n * xs[0] + (c0 + c) * xs[1] + p0 * xs[2];
          for (int64_t p = 0; p < np; ++p) tile[p][c] = A(load(xp, p * xs[2])) * sv;
        }
        for (int64_t p = 0; p < np; ++p) {
          T* yp = y + n * ys[0] + c0 * ys[1] + (p0 + p) * ys[2];
          for (int64_t c = 0; c < nc; ++c) store(yp, c * ys[1], tile[p][c]);
        }
      }
    });
  }
}

template <class T>
void chandot(const T* a, const T* b, T* out, int64_t N, int64_t C, int64_t P, const int64_t* as, const int64_t* bs,
             int nt) {
  using A = acc_t<T>;
  if (as[1] == 1 && bs[1] == 1 && C > 1) {  // pixel vectors: per-thread [N, C] partials
    const int nth = std::max(1, nt);
    std::vector<std::vector<double>> parts(nth);
    parallel_for_tid(N * P, C, nth, [&](int tid, int64_t r0, int64_t r1) {
      Partial<A> part(N * C);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / P, p = r % P;
        const T* __restrict ap = a + n * as[0] + p * as[2];
        const T* __restrict bp = b + n * bs[0] + p * bs[2];
        A* __restrict acc = part.cur.data() + n * C;
        for (int64_t c = 0; c < C; ++c) acc[c] += A(load(ap, c)) * A(load(bp, c));
        part.tick();
      }
      part.flush();
      parts[tid] = std::move(part.tot);
    });
    write_sum(out, parts, N * C);
    return;
  }
  parallel_for(N * C, P, nt, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n = q / C, c = q % C;
      const T* ap = a + n * as[0] + c * as[1];
      const T* bp = b + n * bs[0] + c * bs[1];
      A acc = 0;
      if (as[2] == 1 && bs[2] == 1) {
#pragma omp simd reduction(+ : acc)
        for (int64_t p = 0; p < P; ++p) acc += A(load(ap, p)) * A(load(bp, p));
      } else {
        for (int64_t p = 0; p < P; ++p) acc += A(load(ap, p * as[2])) * A(load(bp, p * bs[2]));
      }
      store(out, q, acc);
    }
  });
}

// ------------------------------------------------------------------ epilogue
template <class T>
struct EpiArgs {
  using A = acc_t<T>;
  const T *c, *noise;
  int64_t noise_sn, N, O, P;
  std::vector<A> d, b;  // dcoefs [N * O] (ones when absent), bias [O] (zeros when absent)
  EpiParams<A> ep;
  A noise_at(int64_t n, int64_t p) const { return noise ? A(load(noise, n * noise_sn + p)) : A(0); }
};

template <int ACT, class T>
void epi_fwd_run(const EpiArgs<T>& g, T* y, bool cl, int nt) {
  using A = acc_t<T>;
  const int64_t O = g.O, P = g.P;
  if (!cl) {
    parallel_for(g.N * O, P, nt, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t n = q / O;
        const A dv = g.d[q], bv = g.b[q % O];
        const T* __restrict cp = g.c + q * P;
        T* __restrict yp = y + q * P;
        if (g.noise) {
          const T* __restrict np = g.noise + n * g.noise_sn;
          for (int64_t p = 0; p < P; ++p)
            store(yp, p, epi_fwd(ACT, epi_z(A(load(cp, p)), dv, A(load(np, p)), bv), g.ep));
        } else {
          for (int64_t p = 0; p < P; ++p) store(yp, p, epi_fwd(ACT, epi_z(A(load(cp, p)), dv, A(0), bv), g.ep));
        }
      }
    });
  } else {
    parallel_for(g.N * P, O, nt, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / P;
        const A nz = g.noise_at(n, r % P);
        const A* __restrict dv = g.d.data() + n * O;
        const A* __restrict bv = g.b.data();
        const T* __restrict cp = g.c + r * O;
        T* __restrict yp = y + r * O;
        for (int64_t o = 0; o < O; ++o) store(yp, o, epi_fwd(ACT, epi_z(A(load(cp, o)), dv[o], nz, bv[o]), g.ep));
      }
    });
  }
}

template <int ACT, class T>
void epi_grad_run(const EpiArgs<T>& g, const T* dy, T* dc, T* dd, T* dn, T* db, bool cl, int nt) {
  using A = acc_t<T>;
  const int64_t N = g.N, O = g.O, P = g.P;
  const int nth = std::max(1, nt);
  std::vector<std::vector<double>> db_parts(nth), dn_parts(nth), dd_parts(nth);
  if (!cl) {
    parallel_for_tid(N * O, P, nth, [&](int tid, int64_t q0, int64_t q1) {
      std::vector<double> dbp(db ? O : 0, 0.0);
      std::vector<A> dnp(dn ? N * P : 0, A(0));
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t n = q / O, o = q % O;
        const A dv = g.d[q], bv = g.b[o];
        const T* __restrict cp = g.c + q * P;
        const T* __restrict gp = dy + q * P;
        const T* __restrict np = g.noise ? g.noise + n * g.noise_sn : nullptr;
        T* __restrict dcp = dc + q * P;
        A* __restrict dnr = dn ? dnp.data() + n * P : nullptr;
        A sdd = 0, sdb = 0;
        auto body = [&](auto HAS_NOISE, auto WANT_DN) {
#pragma omp simd reduction(+ : sdd, sdb)
          for (int64_t p = 0; p < P; ++p) {
            const A cv = load(cp, p);
            const A nz = decltype(HAS_NOISE)::value ? A(load(np, p)) : A(0);
            const A u = epi_u(ACT, A(load(gp, p)), epi_z(cv, dv, nz, bv), g.ep);
            store(dcp, p, u * dv);
            sdd += u * cv;
            sdb += u;
            if constexpr (decltype(WANT_DN)::value) dnr[p] += u;
          }
        };
        using TT = std::true_type;
        using FF = std::false_type;
        if (np && dnr) body(TT{}, TT{});
        else if (np) body(TT{}, FF{});
        else if (dnr) body(FF{}, TT{});
        else body(FF{}, FF{});
        if (dd) store(dd, q, sdd);
        if (db) dbp[o] += double(sdb);
      }
      if (db) db_parts[tid] = std::move(dbp);
      if (dn) dn_parts[tid].assign(dnp.begin(), dnp.end());
    });
  } else {
    parallel_for_tid(N * P, O, nth, [&](int tid, int64_t r0, int64_t r1) {
      Partial<A> ddp(dd ? N * O : 0), dbp(db ? O : 0);
      std::vector<double> dnp;
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / P;
        const A nz = g.noise_at(n, r % P);
        const A* __restrict dv = g.d.data() + n * O;
        const A* __restrict bv = g.b.data();
        const T* __restrict cp = g.c + r * O;
        const T* __restrict gp = dy + r * O;
        T* __restrict dcp = dc + r * O;
        A* __restrict ddr = dd ? ddp.cur.data() + n * O : nullptr;
        A* __restrict dbr = db ? dbp.cur.data() : nullptr;
        A sdn = 0;
        auto body = [&](auto WANT_D) {
#pragma omp simd reduction(+ : sdn)
          for (int64_t o = 0; o < O; ++o) {
            const A cv = load(cp, o);
            const A u = epi_u(ACT, A(load(gp, o)), epi_z(cv, dv[o], nz, bv[o]), g.ep);
            store(dcp, o, u * dv[o]);
            if constexpr (decltype(WANT_D)::value) {
              ddr[o] += u * cv;
              dbr[o] += u;
            }
            sdn += u;
          }
        };
        if (dd && db) body(std::true_type{});
        else {
          body(std::false_type{});
          if (dd || db) {  // rare: only one of them wanted; recompute u for it
            for (int64_t o = 0; o < O; ++o) {
              const A cv = load(cp, o);
              const A u = epi_u(ACT, A(load(gp, o)), epi_z(cv, dv[o], nz, bv[o]), g.ep);
              if (dd) ddr[o] += u * cv;
              if (db) dbr[o] += u;
            }
          }
        }
        if (dn) store(dn, r, sdn);
        if (dd) ddp.tick();
        if (db) dbp.tick();
      }
      ddp.flush();
      dbp.flush();
      if (dd) dd_parts[tid] = std::move(ddp.tot);
      if (db) db_parts[tid] = std::move(dbp.tot);
    });
  }
  if (db) write_sum(db, db_parts, O);
  if (dd && cl) write_sum(dd, dd_parts, N * O);
  if (dn && !cl) write_sum(dn, dn_parts, N * P);
}

template <class T>
EpiArgs<T> epi_args(const void* c, const void* d, const void* noise, int64_t noise_sn, const void* b, int64_t N,
                    int64_t O, int64_t P, double alpha, double gain, double clamp) {
  using A = acc_t<T>;
  const A cl = clamp < 0 ? std::numeric_limits<A>::infinity() : A(clamp);
  return EpiArgs<T>{static_cast<const T*>(c), static_cast<const T*>(noise), noise_sn, N, O, P,
                    to_acc(static_cast<const T*>(d), N * O, A(1)), to_acc(static_cast<const T*>(b), O, A(0)),
                    EpiParams<A>{A(alpha), A(gain), cl}};
}

}  // namespace

void modconv_scale(int dtype, const void* x, const void* s, void* y, int64_t N, int64_t C, int64_t P,
                   const Strides<3>& xs, const Strides<3>& ys, int nthreads) {
  if (N * C * P == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    advise_huge_pages(y, sizeof(T) * size_t(N * C * P));
    scale(static_cast<const T*>(x), static_cast<const T*>(s), static_cast<T*>(y), N, C, P, xs.data(), ys.data(), nthreads);
    return 0;
  });
}

void modconv_chandot(int dtype, const void* a, const void* b, void* out, int64_t N, int64_t C, int64_t P,
                     const Strides<3>& as, const Strides<3>& bs, int nthreads) {
  if (N * C == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    chandot(static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), N, C, P, as.data(), bs.data(), nthreads);
    return 0;
  });
}

void modconv_epilogue_fwd(int dtype, const void* c, const void* d, const void* noise, int64_t noise_sn,
                          const void* b, void* y, int64_t N, int64_t O, int64_t P, bool channels_last, int act,
                          double alpha, double gain, double clamp, int nthreads) {
  if (N * O * P == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    advise_huge_pages(y, sizeof(T) * size_t(N * O * P));
    const auto g = epi_args<T>(c, d, noise, noise_sn, b, N, O, P, alpha, gain, clamp);
    dispatch_act(act, [&](auto ACT) { epi_fwd_run<decltype(ACT)::value>(g, static_cast<T*>(y), channels_last, nthreads); });
    return 0;
  });
}

void modconv_epilogue_grad(int dtype, const void* dy, const void* c, const void* d, const void* noise,
                           int64_t noise_sn, const void* b, void* dc, void* dd, void* dnoise, void* db, int64_t N,
                           int64_t O, int64_t P, bool channels_last, int act, double alpha, double gain,
                           double clamp, int nthreads) {
  if (N * O * P == 0) return;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    advise_huge_pages(dc, sizeof(T) * size_t(N * O * P));
    const auto g = epi_args<T>(c, d, noise, noise_sn, b, N, O, P, alpha, gain, clamp);
    dispatch_act(act, [&](auto ACT) {
      epi_grad_run<decltype(ACT)::value>(g, static_cast<const T*>(dy), static_cast<T*>(dc), static_cast<T*>(dd),
                                         static_cast<T*>(dnoise), static_cast<T*>(db), channels_last, nthreads);
    });
    return 0;
  });
}

}  // namespace fastgan::cpu
