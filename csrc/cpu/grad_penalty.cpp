// The gradient-penalty family on the CPU: per-sample reductions of g^2 and their elementwise
// backward, and the per-sample lerp of WGAN-GP. A sample is K contiguous elements; it is cut
// into chunks of at most kChunk elements so a few large samples still spread over all
// threads. Chunk sums go to a buffer and are added per sample in order (deterministic).
#include "cpu/grad_penalty.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/lane_sum.h"
#include "cpu/parallel.h"
#include "cpu/stream_store.h"
#include "fastgan/grad_penalty.h"

namespace fastgan::cpu {
namespace {

constexpr int64_t kChunk = 1 << 15;

struct Chunks {
  int64_t N, K, per;  // per: chunks per sample
  Chunks(int64_t N_, int64_t K_) : N(N_), K(K_), per(std::max<int64_t>(1, (K_ + kChunk - 1) / kChunk)) {}
  int64_t count() const { return N * per; }
  // sample, first element and length of chunk `it`
  void at(int64_t it, int64_t& n, int64_t& k0, int64_t& len) const {
    n = it / per;
    k0 = (it % per) * kChunk;
    len = std::max<int64_t>(0, std::min(kChunk, K - k0));
  }
  template <class F> void run(int nthreads, F&& f) const {
    parallel_for(count(), std::min(K, kChunk), nthreads, [&](int64_t i0, int64_t i1) {
      for (int64_t it = i0; it < i1; ++it) {
        int64_t n, k0, len;
        at(it, n, k0, len);
        f(it, n, n * K + k0, len);
      }
    });
  }
  // per-sample totals of the chunk values
  std::vector<double> totals(const std::vector<double>& part) const {
    std::vector<double> s(static_cast<size_t>(N), 0.0);
    for (int64_t it = 0; it < count(); ++it) s[it / per] += part[it];
    return s;
  }
};

template <class T>
void reduce_fwd(const T* g, acc_t<T>* out, acc_t<T>* r, int64_t N, int64_t K, int mode, double target,
                bool one_sided, double isl, int nthreads) {
  using A = acc_t<T>;
  const Chunks ch(N, K);
  std::vector<double> part(static_cast<size_t>(ch.count()));
  ch.run(nthreads, [&](int64_t it, int64_t, int64_t off, int64_t len) {
    const T* p = g + off;
    part[it] = lane_sum<A>(len, [&](int64_t j) { const A v = load(p, j); return v * v; });
  });
  const std::vector<double> S = ch.totals(part);
  for (int64_t n = 0; n < N; ++n) {
    out[n] = A(grad_reduce_value<double>(mode, S[n], target, one_sided, isl));
    r[n] = A(std::sqrt(S[n]));
  }
}

template <class T>
void reduce_grad(const acc_t<T>* dout, const acc_t<T>* dr, const acc_t<T>* r, const T* g, T* dg, int64_t N,
                 int64_t K, int mode, double target, bool one_sided, double isl, int nthreads) {
  using A = acc_t<T>;
  std::vector<A> k(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n)
    k[n] = A(grad_reduce_coef<double>(mode, double(dout[n]), dr ? double(dr[n]) : 0.0, double(r[n]), target,
                                      one_sided, isl));
  const bool stream = stream_output(N * K, sizeof(T));
  Chunks(N, K).run(nthreads, [&](int64_t, int64_t n, int64_t off, int64_t len) {
    const T* __restrict src = g + off;
    const A kn = k[n];
    if constexpr (std::is_same_v<T, float>) {
      store_all(dg + off, len, stream, [&](int64_t j) { return src[j] * kn; });
    } else {
      T* __restrict dst = dg + off;
      for (int64_t j = 0; j < len; ++j) store(dst, j, A(load(src, j)) * kn);
    }
  });
}

template <class T>
void lerp_fwd(const T* real, const T* fake, const T* alpha, T* out, int64_t N, int64_t K, int nthreads) {
  using A = acc_t<T>;
  const bool stream = stream_output(N * K, sizeof(T));
  Chunks(N, K).run(nthreads, [&](int64_t, int64_t n, int64_t off, int64_t len) {
    const A a = A(load(alpha, n));
    const T* __restrict rp = real + off;
    const T* __restrict fp = fake + off;
    if constexpr (std::is_same_v<T, float>) {
      store_all(out + off, len, stream, [&](int64_t j) { return lerp_sample(rp[j], fp[j], a); });
    } else {
      T* __restrict op = out + off;
      for (int64_t j = 0; j < len; ++j) store(op, j, lerp_sample(A(load(rp, j)), A(load(fp, j)), a));
    }
  });
}

// One pass over dout (and real, fake when d_alpha is needed) writes d_real and d_fake and sums
// d_alpha; the sum runs in blocks of kSumChunk terms (vector lanes, omp simd) added in double.
template <bool DR, bool DF, bool DA, class T>
void lerp_grad(const T* dout, const T* real, const T* fake, const T* alpha, T* d_real, T* d_fake, T* d_alpha,
               int64_t N, int64_t K, int nthreads) {
  using A = acc_t<T>;
  const Chunks ch(N, K);
  std::vector<double> part(DA ? size_t(ch.count()) : 0);
  const bool stream = (DR || DF) && stream_output(N * K, sizeof(T));
  ch.run(nthreads, [&](int64_t it, int64_t n, int64_t off, int64_t len) {
    const A a = A(load(alpha, n)), b = A(1) - a;
    const T* __restrict go = dout + off;
    const T* __restrict rp = real + off;
    const T* __restrict fp = fake + off;
    T* __restrict dr = DR ? d_real + off : nullptr;
    T* __restrict df = DF ? d_fake + off : nullptr;
    double total = 0;
#if defined(__AVX__)
    if constexpr (std::is_same_v<T, float>) {
      // both outputs reach 32-byte alignment at the same j (equal low address bits), or only one is written
      if (stream && (!DR || !DF || ((reinterpret_cast<uintptr_t>(dr) ^ reinterpret_cast<uintptr_t>(df)) & 31) == 0)) {
        T* __restrict lead = DR ? dr : df;
        int64_t j = 0;
        auto one = [&](int64_t i) {
          const A v = go[i];
          if (DR) dr[i] = v * b;
          if (DF) df[i] = v * a;
          return DA ? v * (fp[i] - rp[i]) : A(0);
        };
        A s = 0;
        for (; j < len && !aligned32(lead + j); ++j) s += one(j);
        const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
        while (j + 8 <= len) {
          const int64_t j1 = j + std::min<int64_t>((len - j) / 8 * 8, kSumChunk);
          __m256 acc = _mm256_setzero_ps();
          for (; j < j1; j += 8) {
            const __m256 v = _mm256_loadu_ps(go + j);
            if (DR) _mm256_stream_ps(dr + j, _mm256_mul_ps(v, vb));
            if (DF) _mm256_stream_ps(df + j, _mm256_mul_ps(v, va));
            if (DA) acc = _mm256_add_ps(acc, _mm256_mul_ps(v, _mm256_sub_ps(_mm256_loadu_ps(fp + j), _mm256_loadu_ps(rp + j))));
          }
          alignas(32) float lanes[8];
          _mm256_store_ps(lanes, acc);
          for (int q = 0; q < 8; ++q) total += double(lanes[q]);
        }
        for (; j < len; ++j) s += one(j);
        _mm_sfence();
        if (DA) part[it] = total + double(s);
        return;
      }
    }
#endif
    for (int64_t j0 = 0; j0 < len; j0 += kSumChunk) {
      const int64_t j1 = std::min(len, j0 + kSumChunk);
      A s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = j0; j < j1; ++j) {
        const A v = load(go, j);
        if (DR) store(dr, j, v * b);
        if (DF) store(df, j, v * a);
        if (DA) s += v * (A(load(fp, j)) - A(load(rp, j)));
      }
      total += double(s);
    }
    if (DA) part[it] = total;
  });
  if (DA) {
    const std::vector<double> s = ch.totals(part);
    for (int64_t n = 0; n < N; ++n) store(d_alpha, n, A(s[n]));
  }
}

// The checks both reductions' entry points make; returns path_length's scale 1/sqrt(num_ws).
double checked_scale(int mode, int64_t N, int64_t K, int64_t num_ws) {
  check(mode >= kSqNorm && mode <= kPathLength, "grad_reduce: unknown mode");
  check(N >= 0 && K >= 0 && num_ws >= 1, "grad_reduce: bad sizes");
  return 1.0 / std::sqrt(double(num_ws));
}

}  // namespace

void grad_reduce_fwd(int dtype, const void* g, void* out, void* r, int64_t N, int64_t K, int mode, double target,
                     bool one_sided, int64_t num_ws, int nthreads) {
  const double inv_sqrt_l = checked_scale(mode, N, K, num_ws);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    reduce_fwd<T>(static_cast<const T*>(g), static_cast<A*>(out), static_cast<A*>(r), N, K, mode, target, one_sided,
                  inv_sqrt_l, nthreads);
    return 0;
  });
}

void grad_reduce_grad(int dtype, const void* dout, const void* dr, const void* r, const void* g, void* dg,
                      int64_t N, int64_t K, int mode, double target, bool one_sided, int64_t num_ws,
                      int nthreads) {
  const double inv_sqrt_l = checked_scale(mode, N, K, num_ws);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    reduce_grad<T>(static_cast<const A*>(dout), static_cast<const A*>(dr), static_cast<const A*>(r),
                   static_cast<const T*>(g), static_cast<T*>(dg), N, K, mode, target, one_sided, inv_sqrt_l,
                   nthreads);
    return 0;
  });
}

void lerp_samples_fwd(int dtype, const void* real, const void* fake, const void* alpha, void* out, int64_t N,
                      int64_t K, int nthreads) {
  check(N >= 0 && K >= 0, "lerp_samples: bad sizes");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    lerp_fwd<T>(static_cast<const T*>(real), static_cast<const T*>(fake), static_cast<const T*>(alpha),
                static_cast<T*>(out), N, K, nthreads);
    return 0;
  });
}

void lerp_samples_grad(int dtype, const void* dout, const void* real, const void* fake, const void* alpha,
                       void* d_real, void* d_fake, void* d_alpha, int64_t N, int64_t K, int nthreads) {
  check(N >= 0 && K >= 0, "lerp_samples: bad sizes");
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto call = [&](auto DR, auto DF, auto DA) {
      lerp_grad<decltype(DR)::value, decltype(DF)::value, decltype(DA)::value, T>(
          static_cast<const T*>(dout), static_cast<const T*>(real), static_cast<const T*>(fake),
          static_cast<const T*>(alpha), static_cast<T*>(d_real), static_cast<T*>(d_fake), static_cast<T*>(d_alpha),
          N, K, nthreads);
    };
    using t = std::true_type;
    using f = std::false_type;
    const int code = (d_real ? 4 : 0) | (d_fake ? 2 : 0) | (d_alpha ? 1 : 0);
    switch (code) {
      case 7: call(t{}, t{}, t{}); break;
      case 6: call(t{}, t{}, f{}); break;
      case 5: call(t{}, f{}, t{}); break;
      case 4: call(t{}, f{}, f{}); break;
      case 3: call(f{}, t{}, t{}); break;
      case 2: call(f{}, t{}, f{}); break;
      case 1: call(f{}, f{}, t{}); break;
      default: break;
    }
    return 0;
  });
}

}  // namespace fastgan::cpu
