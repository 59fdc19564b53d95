#include "bindings/registry.h"
#include "cpu/winograd.h"

namespace nb = nanobind;

FASTGAN_BIND(winograd) {
  m.def("wino_input", [](int dtype, uintptr_t x, uintptr_t V, int64_t ks, int64_t cs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t s0,
                         int64_t s1, int64_t s2, int64_t s3, int64_t ph, int64_t pw, int64_t TH, int64_t TW,
                         int nthreads) {
    const int64_t xs[4] = {s0, s1, s2, s3};
    nb::gil_scoped_release release;
    fastgan::cpu::wino_input(dtype, (const void*)x, (void*)V, ks, cs, N, C, H, W, xs, ph, pw, TH, TW, nthreads);
  });
  m.def("wino_input_adjoint", [](int dtype, uintptr_t dV, int64_t ks, int64_t cs, uintptr_t dx, int64_t N, int64_t C, int64_t H, int64_t W,
                                 int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t ph, int64_t pw, int64_t TH,
                                 int64_t TW, int nthreads) {
    const int64_t xs[4] = {s0, s1, s2, s3};
    nb::gil_scoped_release release;
    fastgan::cpu::wino_input_adjoint(dtype, (const void*)dV, ks, cs, (void*)dx, N, C, H, W, xs, ph, pw, TH, TW, nthreads);
  });
  m.def("wino_output", [](int dtype, uintptr_t M, int64_t ks, int64_t os, uintptr_t y, int64_t N, int64_t O, int64_t OH, int64_t OW,
                          int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t TH, int64_t TW, int nthreads) {
    const int64_t ys[4] = {s0, s1, s2, s3};
    nb::gil_scoped_release release;
    fastgan::cpu::wino_output(dtype, (const void*)M, ks, os, (void*)y, N, O, OH, OW, ys, TH, TW, nthreads);
  });
  m.def("wino_output_adjoint", [](int dtype, uintptr_t dy, uintptr_t dM, int64_t ks, int64_t os, int64_t N, int64_t O, int64_t OH,
                                  int64_t OW, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t TH, int64_t TW,
                                  int nthreads) {
    const int64_t ys[4] = {s0, s1, s2, s3};
    nb::gil_scoped_release release;
    fastgan::cpu::wino_output_adjoint(dtype, (const void*)dy, (void*)dM, ks, os, N, O, OH, OW, ys, TH, TW, nthreads);
  });
  m.def("wino_weight", [](int dtype, uintptr_t w, uintptr_t U, int64_t O, int64_t I, int64_t s0, int64_t s1,
                          int64_t s2, int64_t s3, int nthreads) {
    const int64_t ws[4] = {s0, s1, s2, s3};
    nb::gil_scoped_release release;
    fastgan::cpu::wino_weight(dtype, (const void*)w, (void*)U, O, I, ws, nthreads);
  });
  m.def("wino_weight_adjoint", [](int dtype, uintptr_t dU, uintptr_t dw, int64_t O, int64_t I, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::wino_weight_adjoint(dtype, (const void*)dU, (void*)dw, O, I, nthreads);
  });
}
