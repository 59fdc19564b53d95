#include "bindings/bind.h"
#include "cuda/upfirdn2d.h"

FASTGAN_BIND(upfirdn2d) {
  using namespace fastgan_bind;
  def_cuda_kernel<&fastgan::cuda::upfirdn2d>(m, "upfirdn2d");
}
