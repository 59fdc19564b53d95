#include "bindings/bind.h"
#include "cpu/modulated_conv2d.h"

FASTGAN_BIND(modulated_conv2d) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::modconv_scale>(m, "modconv_scale");
  def_kernel<&fastgan::cpu::modconv_chandot>(m, "modconv_chandot");
  def_kernel<&fastgan::cpu::modconv_epilogue_fwd>(m, "modconv_epilogue_fwd");
  def_kernel<&fastgan::cpu::modconv_epilogue_grad>(m, "modconv_epilogue_grad");
}
