#include "bindings/registry.h"
#include "cpu/pixel_norm.h"

namespace nb = nanobind;

FASTGAN_BIND(pixel_norm) {
  using namespace nb::literals;
  m.def("pixel_norm_fwd", [](int dtype, uintptr_t x, uintptr_t y, int64_t outer, int64_t C, int64_t inner,
                             double eps, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::pixel_norm_fwd(dtype, (const void*)x, (void*)y, outer, C, inner, eps, nthreads);
  }, "dtype"_a, "x"_a, "y"_a, "outer"_a, "C"_a, "inner"_a, "eps"_a, "nthreads"_a);
  m.def("pixel_norm_grad", [](int dtype, uintptr_t dy, uintptr_t x, uintptr_t dx, int64_t outer, int64_t C,
                              int64_t inner, double eps, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::pixel_norm_grad(dtype, (const void*)dy, (const void*)x, (void*)dx, outer, C, inner, eps, nthreads);
  }, "dtype"_a, "dy"_a, "x"_a, "dx"_a, "outer"_a, "C"_a, "inner"_a, "eps"_a, "nthreads"_a);
}
