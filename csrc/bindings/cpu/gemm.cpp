#include "bindings/bind.h"
#include "cpu/gemm.h"

FASTGAN_BIND(gemm) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::has_bgemm>(m, "has_bgemm");
  def_kernel<&fastgan::cpu::bgemm_f32>(m, "bgemm_f32");
}
