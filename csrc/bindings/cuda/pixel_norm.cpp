#include "bindings/bind.h"
#include "cuda/pixel_norm.h"

FASTGAN_BIND(pixel_norm) {
  using namespace fastgan_bind;
  def_cuda_kernel<&fastgan::cuda::pixel_norm_fwd>(m, "pixel_norm_fwd");
  def_cuda_kernel<&fastgan::cuda::pixel_norm_grad>(m, "pixel_norm_grad");
}
