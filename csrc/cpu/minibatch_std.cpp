// minibatch_std on the CPU. Work items are chunks of at most kChunk contiguous elements of one
// part of one segment (fastgan/minibatch_std.h: NCHW samples are one segment, channels_last
// samples one segment per pixel) for one group m. An item loads its G member chunks, computes
// the group mean and standard deviation as vector loops over the chunk, and then writes the
// member chunks of y (a memcpy) or of dx while they are in L1. Standard deviations are summed
// per (group, part) into per-thread buffers; the statistic channels are filled at the end.
#include "cpu/minibatch_std.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/lane_sum.h"
#include "cpu/parallel.h"
#include "fastgan/minibatch_std.h"

namespace fastgan::cpu {
namespace {

constexpr int64_t kChunk = 1024;

// Items (group m, segment r, part f, chunk j) and the element range of each.
struct Items {
  const MbstdGeom& s;
  int64_t per_part;  // chunks per part of a segment
  explicit Items(const MbstdGeom& g) : s(g), per_part((g.part_len() + kChunk - 1) / kChunk) {}
  int64_t count() const { return s.M * s.seg_rows() * s.F * per_part; }
  // group, segment, part, first element within the segment and length of item `it`
  void at(int64_t it, int64_t& m, int64_t& r, int64_t& f, int64_t& e0, int64_t& len) const {
    const int64_t j = it % per_part;
    f = (it / per_part) % s.F;
    r = (it / (per_part * s.F)) % s.seg_rows();
    m = it / (per_part * s.F * s.seg_rows());
    e0 = f * s.part_len() + j * kChunk;
    len = std::min(kChunk, (f + 1) * s.part_len() - e0);
  }
};

// Group mean mu and sum of squared deviations dev of len <= kChunk elements at xs (member g
// at xs + g * stride).
template <class T, class A>
inline void chunk_stats(const T* xs, int64_t stride, int64_t G, int64_t len, A inv_g, A* __restrict mu,
                        A* __restrict dev) {
  for (int64_t j = 0; j < len; ++j) { mu[j] = 0; dev[j] = 0; }
  for (int64_t g = 0; g < G; ++g) {
    const T* xg = xs + g * stride;
    for (int64_t j = 0; j < len; ++j) mu[j] += A(load(xg, j));
  }
  for (int64_t j = 0; j < len; ++j) mu[j] *= inv_g;
  for (int64_t g = 0; g < G; ++g) {
    const T* xg = xs + g * stride;
    for (int64_t j = 0; j < len; ++j) {
      const A d = A(load(xg, j)) - mu[j];
      dev[j] += d * d;
    }
  }
}

template <class T>
void fwd(const T* x, T* y, const MbstdGeom& s, double eps_, int nthreads) {
  using A = acc_t<T>;
  const A inv_g = A(1.0 / double(s.G)), eps = A(eps_);
  const int64_t xms = s.x_member_stride(), yms = s.y_member_stride(), MF = s.M * s.F;
  const Items items(s);
  const int nt = std::max(1, nthreads);
  std::vector<double> part(size_t(nt) * MF, 0.0);  // per-thread sums of sd per (group, part)
  parallel_for_tid(items.count(), 2 * s.G * std::min(kChunk, s.part_len()), nt, [&](int tid, int64_t i0, int64_t i1) {
    double* acc = part.data() + size_t(tid) * MF;
    A mu[kChunk], dev[kChunk];
    for (int64_t it = i0; it < i1; ++it) {
      int64_t m, r, f, e0, len;
      items.at(it, m, r, f, e0, len);
      const T* xs = x + s.x_seg(m, r) + e0;
      T* ys = y + s.y_seg(m, r) + e0;
      chunk_stats(xs, xms, s.G, len, inv_g, mu, dev);
      acc[m * s.F + f] += lane_sum<A>(len, [&](int64_t j) { return mbstd_sd(dev[j], inv_g, eps); });
      for (int64_t g = 0; g < s.G; ++g) std::memcpy(ys + g * yms, xs + g * xms, size_t(len) * sizeof(T));
    }
  });
  std::vector<double> stat(size_t(MF), 0.0);
  const double norm = 1.0 / (double(s.c) * double(s.HW));
  for (int t = 0; t < nt; ++t)
    for (int64_t i = 0; i < MF; ++i) stat[i] += part[size_t(t) * MF + i] * norm;
  parallel_for(s.N, s.F * s.HW, nt, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t f = 0; f < s.F; ++f) {
        const A v = A(stat[(n % s.M) * s.F + f]);
        for (int64_t p = 0; p < s.HW; ++p) store(y, s.y_stat(n, f, p), v);
      }
  });
}

template <class T>
void grad(const T* dy, const T* x, T* dx, const MbstdGeom& s, double eps_, int nthreads) {
  using A = acc_t<T>;
  const A inv_g = A(1.0 / double(s.G)), eps = A(eps_);
  const int64_t xms = s.x_member_stride(), yms = s.y_member_stride(), MF = s.M * s.F;
  const int nt = std::max(1, nthreads);
  // coef[m, f] = gstat[m, f] / (c*HW*G), gstat: the sum of dy over statistic channel f of group m
  std::vector<double> per_sample(size_t(s.N * s.F));
  parallel_for(s.N, s.F * s.HW, nt, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t f = 0; f < s.F; ++f)
        per_sample[n * s.F + f] = lane_sum<A>(s.HW, [&](int64_t p) { return A(load(dy, s.y_stat(n, f, p))); });
  });
  std::vector<double> gstat(size_t(MF), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t f = 0; f < s.F; ++f) gstat[(n % s.M) * s.F + f] += per_sample[n * s.F + f];
  const double cnorm = 1.0 / (double(s.c) * double(s.HW) * double(s.G));
  const Items items(s);
  parallel_for(items.count(), 3 * s.G * std::min(kChunk, s.part_len()), nt, [&](int64_t i0, int64_t i1) {
    A mu[kChunk], dev[kChunk];
    for (int64_t it = i0; it < i1; ++it) {
      int64_t m, r, f, e0, len;
      items.at(it, m, r, f, e0, len);
      const T* xs = x + s.x_seg(m, r) + e0;
      const T* gs = dy + s.y_seg(m, r) + e0;
      T* ds = dx + s.x_seg(m, r) + e0;
      chunk_stats(xs, xms, s.G, len, inv_g, mu, dev);
      for (int64_t j = 0; j < len; ++j) dev[j] = A(1) / mbstd_sd(dev[j], inv_g, eps);  // now 1 / sd
      const A k = A(gstat[m * s.F + f] * cnorm);
      for (int64_t g = 0; g < s.G; ++g) {
        const T* xg = xs + g * xms;
        const T* gg = gs + g * yms;
        T* dg = ds + g * xms;
        for (int64_t j = 0; j < len; ++j)
          store(dg, j, mbstd_grad_elem(A(load(gg, j)), A(load(xg, j)), mu[j], dev[j], k));
      }
    }
  });
}

MbstdGeom checked_geom(int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F, bool cl) {
  check(N > 0 && C > 0 && HW > 0 && G > 0 && F > 0, "minibatch_std: sizes must be positive");
  check(N % G == 0, "minibatch_std: the group size must divide N");
  check(C % F == 0, "minibatch_std: num_channels must divide C");
  return mbstd_geom(N, C, HW, G, F, cl);
}

}  // namespace

void minibatch_std_fwd(int dtype, const void* x, void* y, int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F,
                       double eps, bool channels_last, int nthreads) {
  const MbstdGeom s = checked_geom(N, C, HW, G, F, channels_last);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    fwd<T>(static_cast<const T*>(x), static_cast<T*>(y), s, eps, nthreads);
    return 0;
  });
}

void minibatch_std_grad(int dtype, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t HW,
                        int64_t G, int64_t F, double eps, bool channels_last, int nthreads) {
  const MbstdGeom s = checked_geom(N, C, HW, G, F, channels_last);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    grad<T>(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), s, eps, nthreads);
    return 0;
  });
}

}  // namespace fastgan::cpu
