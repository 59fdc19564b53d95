#pragma once
#include <cstdint>

namespace fastgan::cuda {
// Same contracts as csrc/cpu/grad_penalty.h; run on `stream`.
void grad_reduce_fwd(int dtype, const void* g, void* out, void* r, int64_t N, int64_t K, int mode, double target,
                     bool one_sided, int64_t num_ws, void* stream);
void grad_reduce_grad(int dtype, const void* dout, const void* dr, const void* r, const void* g, void* dg, int64_t N,
                      int64_t K, int mode, double target, bool one_sided, int64_t num_ws, void* stream);
void lerp_samples_fwd(int dtype, const void* real, const void* fake, const void* alpha, void* out, int64_t N,
                      int64_t K, void* stream);
void lerp_samples_grad(int dtype, const void* dout, const void* real, const void* fake, const void* alpha,
                       void* d_real, void* d_fake, void* d_alpha, int64_t N, int64_t K, void* stream);
}  // namespace fastgan::cuda
