#pragma once
#include <cstdint>

namespace fastgan::cpu {

// g holds N samples of K contiguous elements (dtype code `dtype`); out and r hold N values of
// the accumulate type (double for float64 input, else float). Modes: fastgan/grad_penalty.h; num_ws
// scales path_length by 1/sqrt(num_ws).
void grad_reduce_fwd(int dtype, const void* g, void* out, void* r, int64_t N, int64_t K, int mode, double target,
                     bool one_sided, int64_t num_ws, int nthreads);

// dg = g * k(dout, dr, r) per sample; dout, dr (may be null) and r have the accumulate type.
void grad_reduce_grad(int dtype, const void* dout, const void* dr, const void* r, const void* g, void* dg,
                      int64_t N, int64_t K, int mode, double target, bool one_sided, int64_t num_ws,
                      int nthreads);

// out = real + alpha[n] * (fake - real); all in `dtype`, alpha has N entries.
void lerp_samples_fwd(int dtype, const void* real, const void* fake, const void* alpha, void* out, int64_t N,
                      int64_t K, int nthreads);

// d_real = dout * (1 - alpha), d_fake = dout * alpha, d_alpha[n] = sum(dout * (fake - real));
// each output may be null (not needed).
void lerp_samples_grad(int dtype, const void* dout, const void* real, const void* fake, const void* alpha,
                       void* d_real, void* d_fake, void* d_alpha, int64_t N, int64_t K, int nthreads);

}  // namespace fastgan::cpu
