// Static OpenMP partitioning of a 1-D range; the thread count comes from Python
// (torch.get_num_threads()) and small ranges run on the calling thread.
#pragma once
#include <algorithm>
#include <cstdint>
#if FASTGAN_HAS_OPENMP
#include <omp.h>
#endif

namespace fastgan::cpu {

// Work below this many elements is not worth waking threads for.
constexpr int64_t kMinParallelWork = 1 << 15;

template <class F>
void parallel_for_tid(int64_t n, int64_t work_per_item, int nthreads, F&& f) {
  if (n <= 0) return;
  int nt = std::max(1, nthreads);
  const int64_t total = n * std::max<int64_t>(1, work_per_item);
  if (total < kMinParallelWork) nt = 1;
  nt = int(std::min<int64_t>(nt, n));
#if FASTGAN_HAS_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      const int64_t chunk = (n + k - 1) / k, lo = std::min<int64_t>(n, t * chunk), hi = std::min<int64_t>(n, lo + chunk);
      if (lo < hi) f(t, lo, hi);
    }
    return;
  }
#endif
  f(0, 0, n);
}

template <class F>
void parallel_for(int64_t n, int64_t work_per_item, int nthreads, F&& f) {
  parallel_for_tid(n, work_per_item, nthreads, [&](int, int64_t lo, int64_t hi) { f(lo, hi); });
}

}  // namespace fastgan::cpu
