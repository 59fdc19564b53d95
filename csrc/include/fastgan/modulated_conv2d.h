// Per-element math of the modulated convolution's epilogue, shared by the CPU and CUDA kernels.
//
// On the convolution output c[n, o, p] (p = flattened pixel):
//     z = c * dcoefs[n, o] + noise[n, p] + bias[o]           (each term optional)
//     y = clamp(gain * act(z), -clamp, clamp)                 (bias_act semantics)
// and its first derivative: u = dy * gain * act'(z) * [|gain * act(z)| <= clamp], from which
//     dc = u * dcoefs,  ddcoefs[n, o] = sum_p u * c,  dnoise[n, p] = sum_o u,  dbias[o] = sum_{n,p} u.
#pragma once
#include "fastgan/activations.h"
#include "fastgan/common.h"

namespace fastgan {

template <class A>
struct EpiParams {
  A alpha, gain, clamp;  // clamp < 0: none (callers pass +inf instead)
};

// z of one element; d, nz, b are the already-loaded dcoef, noise and bias (1, 0, 0 when absent).
template <class A> FASTGAN_HD A epi_z(A c, A d, A nz, A b) { return c * d + nz + b; }

// `act` is an Act code; callers that pass a compile-time constant get the switch folded away.
template <class A> FASTGAN_HD A epi_fwd(int act, A z, const EpiParams<A>& p) {
  return clamp_(p.gain * act_eval<0>(act, z, p.alpha), p.clamp);
}

template <class A> FASTGAN_HD A epi_u(int act, A dy, A z, const EpiParams<A>& p) {
  const A y = p.gain * act_eval<0>(act, z, p.alpha);
  const A u = dy * p.gain * act_eval<1>(act, z, p.alpha);
  return (y < -p.clamp || y > p.clamp) ? A(0) : u;
}

}  // namespace fastgan
