// minibatch_std on the CPU. Work items are chunks of at most kChunk contiguous elements of one
// part of one segment (fastgan/minibatch_std.h: NCHW samples are one segment, channels_last
// samples one segment per pixel) for one group m. An item makes one vectorised pass over its
// elements j: it loads the G members' x[j], takes their mean and standard deviation in
// registers and writes the members' y[j] (a copy of x) or dx[j] straight away, so x is read
// once from memory. The group size is a template parameter for the common G = 2, 4, 8 (the
// member loops unroll) and a runtime value otherwise. Standard deviations are summed per
// (group, part) into per-thread buffers; the statistic channels are filled at the end.
#include "cpu/minibatch_std.h"

#include <algorithm>
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

// One pass over the len elements of an item whose member g starts at xs + g * xms: returns the sum
// of the standard deviations and writes each member's y (x copied bit for bit; member g at
// ys + g * yms). GT > 0 fixes the group size at compile time, GT = 0 reads it from G.
template <int GT, class T, class A = acc_t<T>>
A fwd_item(const T* __restrict xs, int64_t xms, T* __restrict ys, int64_t yms, int64_t G_, int64_t len, A inv_g,
           A eps) {
  const int64_t G = GT > 0 ? GT : G_;
  A sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < len; ++j) {
    A mu = 0;
    for (int64_t g = 0; g < G; ++g) mu += load(xs + g * xms, j);
    mu *= inv_g;
    A dev = 0;
    for (int64_t g = 0; g < G; ++g) {
      const T v = xs[g * xms + j];
      const A d = load(&v, 0) - mu;
      dev += d * d;
      ys[g * yms + j] = v;
    }
    sum += mbstd_sd(dev, inv_g, eps);
  }
  return sum;
}

// One pass over an item of the backward: dx = dy + k * (x - mean) / sd for each member
// (dy member g at gs + g * yms, dx at ds + g * xms).
template <int GT, class T, class A = acc_t<T>>
void grad_item(const T* __restrict xs, int64_t xms, const T* __restrict gs, int64_t yms, T* __restrict ds,
               int64_t G_, int64_t len, A inv_g, A eps, A k) {
  const int64_t G = GT > 0 ? GT : G_;
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    A mu = 0;
    for (int64_t g = 0; g < G; ++g) mu += load(xs + g * xms, j);
    mu *= inv_g;
    A dev = 0;
    for (int64_t g = 0; g < G; ++g) {
      const A d = load(xs + g * xms, j) - mu;
      dev += d * d;
    }
    const A inv_sd = A(1) / mbstd_sd(dev, inv_g, eps);
    for (int64_t g = 0; g < G; ++g)
      store(ds + g * xms, j, mbstd_grad_elem(A(load(gs + g * yms, j)), A(load(xs + g * xms, j)), mu, inv_sd, k));
  }
}

// Calls f with the group size as a compile-time constant when it is 2, 4 or 8, else 0.
template <class F> void with_group_size(int64_t G, F&& f) {
  switch (G) {
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 8: f(std::integral_constant<int, 8>{}); break;
    default: f(std::integral_constant<int, 0>{}); break;
  }
}

template <int GT, class T>
void fwd(const T* x, T* y, const MbstdGeom& s, double eps_, int nthreads) {
  using A = acc_t<T>;
  const A inv_g = A(1.0 / double(s.G)), eps = A(eps_);
  const int64_t xms = s.x_member_stride(), yms = s.y_member_stride(), MF = s.M * s.F;
  const Items items(s);
  const int nt = std::max(1, nthreads);
  std::vector<double> part(size_t(nt) * MF, 0.0);  // per-thread sums of sd per (group, part)
  parallel_for_tid(items.count(), 2 * s.G * std::min(kChunk, s.part_len()), nt, [&](int tid, int64_t i0, int64_t i1) {
    double* acc = part.data() + size_t(tid) * MF;
    for (int64_t it = i0; it < i1; ++it) {
      int64_t m, r, f, e0, len;
      items.at(it, m, r, f, e0, len);
      acc[m * s.F + f] += double(fwd_item<GT>(x + s.x_seg(m, r) + e0, xms, y + s.y_seg(m, r) + e0, yms, s.G, len,
                                              inv_g, eps));
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

template <int GT, class T>
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
    for (int64_t it = i0; it < i1; ++it) {
      int64_t m, r, f, e0, len;
      items.at(it, m, r, f, e0, len);
      grad_item<GT>(x + s.x_seg(m, r) + e0, xms, dy + s.y_seg(m, r) + e0, yms, dx + s.x_seg(m, r) + e0, s.G, len,
                    inv_g, eps, A(gstat[m * s.F + f] * cnorm));
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
    with_group_size(G, [&](auto GT) {
      fwd<decltype(GT)::value, T>(static_cast<const T*>(x), static_cast<T*>(y), s, eps, nthreads);
    });
    return 0;
  });
}

void minibatch_std_grad(int dtype, const void* dy, const void* x, void* dx, int64_t N, int64_t C, int64_t HW,
                        int64_t G, int64_t F, double eps, bool channels_last, int nthreads) {
  const MbstdGeom s = checked_geom(N, C, HW, G, F, channels_last);
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    with_group_size(G, [&](auto GT) {
      grad<decltype(GT)::value, T>(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), s, eps,
                                   nthreads);
    });
    return 0;
  });
}

}  // namespace fastgan::cpu
