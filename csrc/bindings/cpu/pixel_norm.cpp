#include "bindings/bind.h"
#include "cpu/pixel_norm.h"

FASTGAN_BIND(pixel_norm) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::pixel_norm_fwd>(m, "pixel_norm_fwd");
  def_kernel<&fastgan::cpu::pixel_norm_grad>(m, "pixel_norm_grad");
}
