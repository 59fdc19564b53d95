#include "bindings/bind.h"
#include "cpu/minibatch_std.h"

FASTGAN_BIND(minibatch_std) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::minibatch_std_fwd>(m, "minibatch_std_fwd");
  def_kernel<&fastgan::cpu::minibatch_std_grad>(m, "minibatch_std_grad");
}
