#include "bindings/bind.h"
#include "cpu/winograd.h"

FASTGAN_BIND(winograd) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::padded_cols>(m, "wino_padded_cols");
  def_kernel<&fastgan::cpu::wino_input>(m, "wino_input");
  def_kernel<&fastgan::cpu::wino_input_adjoint>(m, "wino_input_adjoint");
  def_kernel<&fastgan::cpu::wino_output>(m, "wino_output");
  def_kernel<&fastgan::cpu::wino_output_adjoint>(m, "wino_output_adjoint");
  def_kernel<&fastgan::cpu::wino_weight>(m, "wino_weight");
  def_kernel<&fastgan::cpu::wino_weight_adjoint>(m, "wino_weight_adjoint");
}
