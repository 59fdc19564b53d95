// Batched float32 GEMM (see gemm.h): packed A panels and B column blocks, a 6x16 AVX2/FMA register tile.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/transpose.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FASTGAN_BGEMM 1
#else
#define FASTGAN_BGEMM 0
#endif

namespace fastgan::cpu {

#if FASTGAN_BGEMM
namespace {

constexpr int64_t MR = 6, NR = 16;  // register tile: MR rows of A broadcast against NR columns of B
constexpr int64_t KC_MAX = 256;     // K block: a packed B panel (KC x NR, 16 KB) stays in L1
constexpr int64_t NC = 64;          // columns of B packed at a time (KC x NC floats, in L2 with A's panels)

// C[0:MR, 0:NR] (rows ldc apart) = (kAcc ? C : 0) + A_panel @ B_panel over kc steps; A_panel [kc][MR],
// B_panel [kc][NR], both packed and 32-byte aligned.
template <bool kAcc>
inline void tile_6x16(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c,
                      int64_t ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(),
         c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(),
         c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 ak = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(ak, b0, c00);
    c01 = _mm256_fmadd_ps(ak, b1, c01);
    ak = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ak, b0, c10);
    c11 = _mm256_fmadd_ps(ak, b1, c11);
    ak = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ak, b0, c20);
    c21 = _mm256_fmadd_ps(ak, b1, c21);
    ak = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ak, b0, c30);
    c31 = _mm256_fmadd_ps(ak, b1, c31);
    ak = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ak, b0, c40);
    c41 = _mm256_fmadd_ps(ak, b1, c41);
    ak = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ak, b0, c50);
    c51 = _mm256_fmadd_ps(ak, b1, c51);
    a += MR;
    b += NR;
  }
  const auto put = [&](int64_t r, __m256 lo, __m256 hi) {
    float* row = c + r * ldc;
    if constexpr (kAcc) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(row));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(row + 8));
    }
    _mm256_storeu_ps(row, lo);
    _mm256_storeu_ps(row + 8, hi);
  };
  put(0, c00, c01);
  put(1, c10, c11);
  put(2, c20, c21);
  put(3, c30, c31);
  put(4, c40, c41);
  put(5, c50, c51);
}

// A[0:m, 0:kc] (strides sm, sk) -> panels [ceil(m / MR)][kc][MR], rows past m zero. `out` has 8 floats
// of slack past the last panel (the 8-wide transposes' stores run 2 floats over).
void pack_a(const float* a, int64_t sm, int64_t sk, int64_t m, int64_t kc, float* out) {
  for (int64_t i0 = 0; i0 < m; i0 += MR) {
    float* o = out + i0 * kc;
    const float* ai = a + i0 * sm;
    int64_t k = 0;
    if (sm == 1 && i0 + MR <= m) {  // columns of A are contiguous: one 6-float copy per k
      for (; k < kc; ++k) std::memcpy(o + k * MR, ai + k * sk, MR * sizeof(float));
    } else if (sk == 1 && i0 + 8 <= m) {
      // rows contiguous: 8x8 transposes of rows i0..i0+7 written 6 apart, in increasing k, so each
      // store's last two floats (rows 6, 7) are overwritten by the next one (or land in the slack)
      for (; k + 8 <= kc; k += 8) transpose8x8(ai + k, sm, o + k * MR, MR);
    }
    const int64_t r = std::min(MR, m - i0);
    for (; k < kc; ++k)
      for (int64_t i = 0; i < MR; ++i) o[k * MR + i] = i < r ? ai[i * sm + k * sk] : 0.f;
  }
}

// B[0:kc, 0:nc] (strides sk, sn) -> panels [ceil(nc / NR)][kc][NR], columns past nc zero.
void pack_b(const float* b, int64_t sk, int64_t sn, int64_t kc, int64_t nc, float* out) {
  const int64_t full = nc / NR;
  if (sn == 1) {  // rows contiguous: read each row's nc floats in one pass
    for (int64_t k = 0; k < kc; ++k) {
      const float* row = b + k * sk;
      float* o = out + k * NR;
      for (int64_t p = 0; p < full; ++p) {
        _mm256_store_ps(o + p * kc * NR, _mm256_loadu_ps(row + p * NR));
        _mm256_store_ps(o + p * kc * NR + 8, _mm256_loadu_ps(row + p * NR + 8));
      }
    }
  } else if (sk == 1) {  // columns contiguous (B = V^T in the weight gradients): 8x8 transposes
    for (int64_t p = 0; p < full; ++p) {
      const float* bp = b + p * NR * sn;
      float* o = out + p * kc * NR;
      int64_t k = 0;
      for (; k + 8 <= kc; k += 8) {
        transpose8x8(bp + k, sn, o + k * NR, NR);
        transpose8x8(bp + 8 * sn + k, sn, o + k * NR + 8, NR);
      }
      for (; k < kc; ++k)
        for (int64_t j = 0; j < NR; ++j) o[k * NR + j] = bp[k + j * sn];
    }
  }
  for (int64_t p = (sn == 1 || sk == 1) ? full : 0; p * NR < nc; ++p) {
    const int64_t j0 = p * NR, w = std::min(NR, nc - j0);
    float* o = out + p * kc * NR;
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < NR; ++j) o[k * NR + j] = j < w ? b[k * sk + (j0 + j) * sn] : 0.f;
  }
}

// 32-byte aligned scratch per thread, kept between calls.
float* scratch(std::vector<float>& v, int64_t n) {
  if (int64_t(v.size()) < n + 16) v.resize(n + 16);
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(v.data()) + 31) & ~uintptr_t(31));
}

}  // namespace

bool has_bgemm() { return true; }

void bgemm_f32(int64_t nb, int64_t M, int64_t N, int64_t K, const float* A, int64_t sab, int64_t sam, int64_t sak,
               const float* B, int64_t sbb, int64_t sbk, int64_t sbn, float* C, int64_t scb, int64_t scm, int nthreads) {
  if (nb <= 0 || M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t i = 0; i < M; ++i) std::fill_n(C + b * scb + i * scm, N, 0.f);
    return;
  }
  const int64_t kblocks = (K + KC_MAX - 1) / KC_MAX;
  const int64_t kc_step = ((K + kblocks - 1) / kblocks + 7) / 8 * 8;  // balanced K blocks
  const int64_t blocks = (N + NC - 1) / NC;
  // tasks (batch entry, run of column blocks): at least two per thread when there are few entries
  const int64_t runs = std::min(blocks, std::max<int64_t>(1, (2 * nthreads + nb - 1) / nb));
  const int64_t per_run = (blocks + runs - 1) / runs;
  const int64_t mpad = (M + MR - 1) / MR * MR;
  parallel_for(nb * runs, 2 * M * K * per_run * NC, nthreads, [&](int64_t lo, int64_t hi) {
    thread_local std::vector<float> abuf, bbuf;
    float* ap = scratch(abuf, mpad * kc_step + 8);
    float* bp = scratch(bbuf, kc_step * NC);
    alignas(32) float ctmp[MR * NR];
    const float* packed = nullptr;  // the A whose panels are in ap (only when K is one block; a stride-0
                                    // batch, one weight for all samples, is packed once)
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task / runs, run = task % runs;
      const int64_t j_begin = run * per_run * NC, j_end = std::min(N, j_begin + per_run * NC);
      if (j_begin >= j_end) continue;
      const float* a = A + b * sab;
      const float* bb = B + b * sbb;
      float* c = C + b * scb;
      for (int64_t k0 = 0; k0 < K; k0 += kc_step) {
        const int64_t kc = std::min(kc_step, K - k0);
        if (kblocks > 1 || packed != a) {
          pack_a(a + k0 * sak, sam, sak, M, kc, ap);
          packed = a;
        }
        for (int64_t j0 = j_begin; j0 < j_end; j0 += NC) {
          const int64_t nc = std::min(NC, j_end - j0);
          pack_b(bb + k0 * sbk + j0 * sbn, sbk, sbn, kc, nc, bp);
          for (int64_t jp = 0; jp < nc; jp += NR) {
            const int64_t nr = std::min(NR, nc - jp);
            const float* bpan = bp + jp * kc;
            for (int64_t i0 = 0; i0 < M; i0 += MR) {
              const int64_t mr = std::min(MR, M - i0);
              float* cc = c + i0 * scm + j0 + jp;
              if (mr == MR && nr == NR) {
                if (k0 == 0)
                  tile_6x16<false>(kc, ap + i0 * kc, bpan, cc, scm);
                else
                  tile_6x16<true>(kc, ap + i0 * kc, bpan, cc, scm);
              } else {  // an edge tile: through a local tile, only its mr x nr corner stored
                tile_6x16<false>(kc, ap + i0 * kc, bpan, ctmp, NR);
                for (int64_t i = 0; i < mr; ++i)
                  for (int64_t j = 0; j < nr; ++j)
                    cc[i * scm + j] = (k0 == 0 ? 0.f : cc[i * scm + j]) + ctmp[i * NR + j];
              }
            }
          }
        }
      }
    }
  });
}

#else  // no AVX2/FMA in this build: Python keeps torch.matmul

bool has_bgemm() { return false; }

void bgemm_f32(int64_t, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, const float*, int64_t,
               int64_t, int64_t, float*, int64_t, int64_t, int) {}

#endif

}  // namespace fastgan::cpu
