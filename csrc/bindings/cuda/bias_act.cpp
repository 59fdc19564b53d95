#include "bindings/bind.h"
#include "cuda/bias_act.h"

FASTGAN_BIND(bias_act) {
  using namespace fastgan_bind;
  def_cuda_kernel<&fastgan::cuda::bias_act_fwd>(m, "bias_act_fwd");
  def_cuda_kernel<&fastgan::cuda::bias_act_grad>(m, "bias_act_grad");
}
