#include "bindings/bind.h"
#include "cpu/upfirdn2d.h"

FASTGAN_BIND(upfirdn2d) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::upfirdn2d>(m, "upfirdn2d");
}
