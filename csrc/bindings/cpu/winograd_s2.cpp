#include "bindings/bind.h"
#include "cpu/winograd_s2.h"

namespace fastgan_bind {
// S2Phases from Python: (ee, ee_k, ee_c, eo, eo_k, eo_c, oe, oe_k, oe_c), the three transformed
// tensors' addresses each followed by its point and channel strides.
template <>
struct Param<const fastgan::cpu::S2Phases&> {
  using py = std::array<int64_t, 9>;
  static fastgan::cpu::S2Phases from(const py& v) {
    return {reinterpret_cast<void*>(v[0]), v[1], v[2], reinterpret_cast<void*>(v[3]), v[4], v[5],
            reinterpret_cast<void*>(v[6]), v[7], v[8]};
  }
};
}  // namespace fastgan_bind

FASTGAN_BIND(winograd_s2) {
  using namespace fastgan_bind;
  def_kernel<&fastgan::cpu::s2_input>(m, "s2_input");
  def_kernel<&fastgan::cpu::s2_input_adjoint>(m, "s2_input_adjoint");
  def_kernel<&fastgan::cpu::s2_output>(m, "s2_output");
  def_kernel<&fastgan::cpu::s2_output_adjoint>(m, "s2_output_adjoint");
  def_kernel<&fastgan::cpu::s2_weight>(m, "s2_weight");
  def_kernel<&fastgan::cpu::s2_weight_adjoint>(m, "s2_weight_adjoint");
}
