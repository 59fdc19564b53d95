#include "bindings/bind.h"
#include "cuda/grad_penalty.h"

FASTGAN_BIND(grad_penalty) {
  using namespace fastgan_bind;
  def_cuda_kernel<&fastgan::cuda::grad_reduce_fwd>(m, "grad_reduce_fwd");
  def_cuda_kernel<&fastgan::cuda::grad_reduce_grad>(m, "grad_reduce_grad");
  def_cuda_kernel<&fastgan::cuda::lerp_samples_fwd>(m, "lerp_samples_fwd");
  def_cuda_kernel<&fastgan::cuda::lerp_samples_grad>(m, "lerp_samples_grad");
}
