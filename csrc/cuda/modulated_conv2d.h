#pragma once
#include <cstdint>

namespace fastgan::cuda {
// Same contract as fastgan::cpu::modconv_epilogue_fwd (csrc/cpu/modulated_conv2d.h); runs on `stream`.
void modconv_epilogue_fwd(int dtype, const void* c, const void* d, const void* noise, int64_t noise_sn,
                          const void* b, void* y, int64_t N, int64_t O, int64_t P, bool channels_last, int act,
                          double alpha, double gain, double clamp, void* stream);
// dc = u * d and u = dy * gain * act'(z) * mask; Python reduces u into the dcoef/noise/bias gradients.
void modconv_epilogue_grad(int dtype, const void* dy, const void* c, const void* d, const void* noise,
                           int64_t noise_sn, const void* b, void* dc, void* u, int64_t N, int64_t O, int64_t P,
                           bool channels_last, int act, double alpha, double gain, double clamp, void* stream);
}  // namespace fastgan::cuda
