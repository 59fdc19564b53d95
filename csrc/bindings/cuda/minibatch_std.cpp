#include "bindings/bind.h"
#include "cuda/minibatch_std.h"

FASTGAN_BIND(minibatch_std) {
  using namespace fastgan_bind;
  def_cuda_kernel<&fastgan::cuda::minibatch_std_fwd>(m, "minibatch_std_fwd");
  def_cuda_kernel<&fastgan::cuda::minibatch_std_grad>(m, "minibatch_std_grad");
}
