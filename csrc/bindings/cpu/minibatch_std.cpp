#include "bindings/registry.h"
#include "cpu/minibatch_std.h"

namespace nb = nanobind;

FASTGAN_BIND(minibatch_std) {
  using namespace nb::literals;
  m.def("minibatch_std_fwd", [](int dtype, uintptr_t x, uintptr_t y, int64_t N, int64_t C, int64_t HW, int64_t G,
                                int64_t F, double eps, bool channels_last, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::minibatch_std_fwd(dtype, (const void*)x, (void*)y, N, C, HW, G, F, eps, channels_last, nthreads);
  }, "dtype"_a, "x"_a, "y"_a, "N"_a, "C"_a, "HW"_a, "G"_a, "F"_a, "eps"_a, "channels_last"_a, "nthreads"_a);
  m.def("minibatch_std_grad", [](int dtype, uintptr_t dy, uintptr_t x, uintptr_t dx, int64_t N, int64_t C,
                                 int64_t HW, int64_t G, int64_t F, double eps, bool channels_last, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::minibatch_std_grad(dtype, (const void*)dy, (const void*)x, (void*)dx, N, C, HW, G, F, eps,
                                     channels_last, nthreads);
  }, "dtype"_a, "dy"_a, "x"_a, "dx"_a, "N"_a, "C"_a, "HW"_a, "G"_a, "F"_a, "eps"_a, "channels_last"_a, "nthreads"_a);
}
