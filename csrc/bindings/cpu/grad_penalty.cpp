#include "bindings/bind.h"
#include "cpu/grad_penalty.h"

FASTGAN_BIND(grad_penalty) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::grad_reduce_fwd>(m, "grad_reduce_fwd");
  def_kernel<&fastgan::cpu::grad_reduce_grad>(m, "grad_reduce_grad");
  def_kernel<&fastgan::cpu::lerp_samples_fwd>(m, "lerp_samples_fwd");
  def_kernel<&fastgan::cpu::lerp_samples_grad>(m, "lerp_samples_grad");
}
