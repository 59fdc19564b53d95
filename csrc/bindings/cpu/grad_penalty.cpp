#include "bindings/registry.h"
#include "cpu/grad_penalty.h"

namespace nb = nanobind;

FASTGAN_BIND(grad_penalty) {
  using namespace nb::literals;
  m.def("grad_reduce_fwd", [](int dtype, uintptr_t g, uintptr_t out, uintptr_t r, int64_t N, int64_t K, int mode,
                              double target, bool one_sided, double inv_sqrt_l, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::grad_reduce_fwd(dtype, (const void*)g, (void*)out, (void*)r, N, K, mode, target, one_sided,
                                  inv_sqrt_l, nthreads);
  }, "dtype"_a, "g"_a, "out"_a, "r"_a, "N"_a, "K"_a, "mode"_a, "target"_a, "one_sided"_a, "inv_sqrt_l"_a,
     "nthreads"_a);
  m.def("grad_reduce_grad", [](int dtype, uintptr_t dout, uintptr_t dr, uintptr_t r, uintptr_t g, uintptr_t dg,
                               int64_t N, int64_t K, int mode, double target, bool one_sided, double inv_sqrt_l,
                               int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::grad_reduce_grad(dtype, (const void*)dout, (const void*)dr, (const void*)r, (const void*)g,
                                   (void*)dg, N, K, mode, target, one_sided, inv_sqrt_l, nthreads);
  }, "dtype"_a, "dout"_a, "dr"_a, "r"_a, "g"_a, "dg"_a, "N"_a, "K"_a, "mode"_a, "target"_a, "one_sided"_a,
     "inv_sqrt_l"_a, "nthreads"_a);
  m.def("lerp_samples_fwd", [](int dtype, uintptr_t real, uintptr_t fake, uintptr_t alpha, uintptr_t out, int64_t N,
                               int64_t K, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::lerp_samples_fwd(dtype, (const void*)real, (const void*)fake, (const void*)alpha, (void*)out, N, K,
                                   nthreads);
  }, "dtype"_a, "real"_a, "fake"_a, "alpha"_a, "out"_a, "N"_a, "K"_a, "nthreads"_a);
  m.def("lerp_samples_grad", [](int dtype, uintptr_t dout, uintptr_t real, uintptr_t fake, uintptr_t alpha,
                                uintptr_t d_real, uintptr_t d_fake, uintptr_t d_alpha, int64_t N, int64_t K,
                                int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::lerp_samples_grad(dtype, (const void*)dout, (const void*)real, (const void*)fake,
                                    (const void*)alpha, (void*)d_real, (void*)d_fake, (void*)d_alpha, N, K, nthreads);
  }, "dtype"_a, "dout"_a, "real"_a, "fake"_a, "alpha"_a, "d_real"_a, "d_fake"_a, "d_alpha"_a, "N"_a, "K"_a,
     "nthreads"_a);
}
