#include "bindings/bind.h"
#include "cpu/bias_act.h"

FASTGAN_BIND(bias_act) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::bias_act_fwd>(m, "bias_act_fwd");
  def_kernel<&fastgan::cpu::bias_act_grad>(m, "bias_act_grad");
}
