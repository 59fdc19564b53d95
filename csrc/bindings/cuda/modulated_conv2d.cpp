#include "bindings/bind.h"
#include "cuda/modulated_conv2d.h"

FASTGAN_BIND(modulated_conv2d) {
  using namespace fastgan_bind;
  def_cuda_kernel<&fastgan::cuda::modconv_epilogue_fwd>(m, "modconv_epilogue_fwd");
  def_cuda_kernel<&fastgan::cuda::modconv_epilogue_grad>(m, "modconv_epilogue_grad");
}
