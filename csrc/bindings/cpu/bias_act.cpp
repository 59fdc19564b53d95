#include "bindings/registry.h"
#include "cpu/bias_act.h"

namespace nb = nanobind;

FASTGAN_BIND(bias_act) {
  using namespace nb::literals;
  m.def("bias_act_fwd", [](int dtype, uintptr_t x, uintptr_t b, uintptr_t y, int64_t outer, int64_t C,
                           int64_t inner, int act, double alpha, double gain, double clamp, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::bias_act_fwd(dtype, (const void*)x, (const void*)b, (void*)y, outer, C, inner, act, alpha,
                               gain, clamp, nthreads);
  }, "dtype"_a, "x"_a, "b"_a, "y"_a, "outer"_a, "C"_a, "inner"_a, "act"_a, "alpha"_a, "gain"_a, "clamp"_a,
     "nthreads"_a);
  m.def("bias_act_grad", [](int dtype, uintptr_t dy, uintptr_t x, uintptr_t b, uintptr_t dx, uintptr_t db,
                            int64_t outer, int64_t C, int64_t inner, int act, double alpha, double gain,
                            double clamp, int order, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::bias_act_grad(dtype, (const void*)dy, (const void*)x, (const void*)b, (void*)dx, (void*)db,
                                outer, C, inner, act, alpha, gain, clamp, order, nthreads);
  }, "dtype"_a, "dy"_a, "x"_a, "b"_a, "dx"_a, "db"_a, "outer"_a, "C"_a, "inner"_a, "act"_a, "alpha"_a,
     "gain"_a, "clamp"_a, "order"_a, "nthreads"_a);
}
