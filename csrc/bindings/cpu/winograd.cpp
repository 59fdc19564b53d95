#include "bindings/registry.h"
#include "cpu/winograd.h"

namespace nb = nanobind;

FASTGAN_BIND(winograd) {
  m.def("wino_padded_cols", &fastgan::cpu::padded_cols);
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

namespace {
fastgan::cpu::S2Phases phases(uintptr_t ee, int64_t ee_k, int64_t ee_c, uintptr_t eo, int64_t eo_k, int64_t eo_c,
                              uintptr_t oe, int64_t oe_k, int64_t oe_c) {
  return {(void*)ee, ee_k, ee_c, (void*)eo, eo_k, eo_c, (void*)oe, oe_k, oe_c};
}
}  // namespace

FASTGAN_BIND(winograd_s2) {
  m.def("s2_input", [](int dtype, uintptr_t x, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t TH, int64_t TW, uintptr_t ee, int64_t ee_k, int64_t ee_c,
                       uintptr_t eo, int64_t eo_k, int64_t eo_c, uintptr_t oe, int64_t oe_k, int64_t oe_c,
                       int nthreads) {
    const int64_t xs[4] = {s0, s1, s2, s3};
    const auto v = phases(ee, ee_k, ee_c, eo, eo_k, eo_c, oe, oe_k, oe_c);
    nb::gil_scoped_release release;
    fastgan::cpu::s2_input(dtype, (const void*)x, xs, N, C, H, W, TH, TW, v, nthreads);
  });
  m.def("s2_input_adjoint", [](int dtype, uintptr_t ee, int64_t ee_k, int64_t ee_c, uintptr_t eo, int64_t eo_k,
                               int64_t eo_c, uintptr_t oe, int64_t oe_k, int64_t oe_c, uintptr_t dx, int64_t s0,
                               int64_t s1, int64_t s2, int64_t s3, int64_t N, int64_t C, int64_t H, int64_t W,
                               int64_t TH, int64_t TW, int nthreads) {
    const int64_t xs[4] = {s0, s1, s2, s3};
    const auto v = phases(ee, ee_k, ee_c, eo, eo_k, eo_c, oe, oe_k, oe_c);
    nb::gil_scoped_release release;
    fastgan::cpu::s2_input_adjoint(dtype, v, (void*)dx, xs, N, C, H, W, TH, TW, nthreads);
  });
  m.def("s2_output", [](int dtype, uintptr_t ee, int64_t ee_k, int64_t ee_c, uintptr_t eo, int64_t eo_k, int64_t eo_c,
                        uintptr_t oe, int64_t oe_k, int64_t oe_c, uintptr_t moo, int64_t m0, int64_t m1, int64_t m2,
                        int64_t m3, uintptr_t y, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t N, int64_t O,
                        int64_t H, int64_t W, int64_t TH, int64_t TW, int nthreads) {
    const int64_t ms[4] = {m0, m1, m2, m3}, ys[4] = {s0, s1, s2, s3};
    const auto v = phases(ee, ee_k, ee_c, eo, eo_k, eo_c, oe, oe_k, oe_c);
    nb::gil_scoped_release release;
    fastgan::cpu::s2_output(dtype, v, (const void*)moo, ms, (void*)y, ys, N, O, H, W, TH, TW, nthreads);
  });
  m.def("s2_output_adjoint", [](int dtype, uintptr_t dy, int64_t s0, int64_t s1, int64_t s2, int64_t s3, uintptr_t ee,
                                int64_t ee_k, int64_t ee_c, uintptr_t eo, int64_t eo_k, int64_t eo_c, uintptr_t oe,
                                int64_t oe_k, int64_t oe_c, uintptr_t moo, int64_t m0, int64_t m1, int64_t m2,
                                int64_t m3, int64_t N, int64_t O, int64_t H, int64_t W, int64_t TH, int64_t TW,
                                int nthreads) {
    const int64_t ys[4] = {s0, s1, s2, s3}, ms[4] = {m0, m1, m2, m3};
    const auto v = phases(ee, ee_k, ee_c, eo, eo_k, eo_c, oe, oe_k, oe_c);
    nb::gil_scoped_release release;
    fastgan::cpu::s2_output_adjoint(dtype, (const void*)dy, ys, v, (void*)moo, ms, N, O, H, W, TH, TW, nthreads);
  });
  m.def("s2_weight", [](int dtype, uintptr_t w, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t A, int64_t B,
                        uintptr_t ee, uintptr_t eo, uintptr_t oe, uintptr_t oo, int nthreads) {
    const int64_t ws[4] = {s0, s1, s2, s3};
    nb::gil_scoped_release release;
    fastgan::cpu::s2_weight(dtype, (const void*)w, ws, A, B, (void*)ee, (void*)eo, (void*)oe, (void*)oo, nthreads);
  });
  m.def("s2_weight_adjoint", [](int dtype, uintptr_t ee, uintptr_t eo, uintptr_t oe, uintptr_t oo, uintptr_t dw, int64_t A,
                                int64_t B, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::s2_weight_adjoint(dtype, (const void*)ee, (const void*)eo, (const void*)oe, (const void*)oo, (void*)dw,
                                    A, B, nthreads);
  });
}
