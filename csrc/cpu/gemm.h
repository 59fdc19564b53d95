#pragma once
#include <cstdint>

namespace fastgan::cpu {

// Whether bgemm_f32 has its vector kernel in this build (AVX2 + FMA); without it Python keeps torch.matmul.
bool has_bgemm();

// Batched float32 GEMM for the Winograd products: C[b] = A[b] @ B[b] for b < nb, A [M, K] with strides
// (sab, sam, sak), B [K, N] with strides (sbb, sbk, sbn), C [M, N] with strides (scb, scm, 1). Any
// operand strides; the fast packing paths are a unit stride along K or M for A and along N or K for B.
//
// Why not torch.matmul: at the Winograd shapes (M, K = 128-256 channels, N = tiles, 4-36 points) MKL's
// batched GEMM reaches ~70% of this machine's FMA peak in the training loop, and less on the small
// planes' few columns. Here each thread packs a K x 64 column block of B at a time (rows read 256
// bytes at a go) and a 6-row panel layout of A once per batch entry (once in all for a stride-0
// batch), and runs a 6x16 register tile (12 accumulators: two FMAs per broadcast, the FMA units'
// throughput with latency hidden). benchmarks/bench_gemm.py compares the two: 0.9-1.45x.
void bgemm_f32(int64_t nb, int64_t M, int64_t N, int64_t K, const float* A, int64_t sab, int64_t sam, int64_t sak,
               const float* B, int64_t sbb, int64_t sbk, int64_t sbn, float* C, int64_t scb, int64_t scm, int nthreads);

}  // namespace fastgan::cpu
