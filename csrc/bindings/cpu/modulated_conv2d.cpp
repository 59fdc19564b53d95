#include "bindings/registry.h"
#include "cpu/modulated_conv2d.h"

namespace nb = nanobind;

FASTGAN_BIND(modulated_conv2d) {
  using namespace nb::literals;
  m.def("modconv_scale", [](int dtype, uintptr_t x, uintptr_t s, uintptr_t y, int64_t N, int64_t C, int64_t P,
                            int64_t xs0, int64_t xs1, int64_t xs2, int64_t ys0, int64_t ys1, int64_t ys2, int nthreads) {
    const int64_t xs[3] = {xs0, xs1, xs2}, ys[3] = {ys0, ys1, ys2};
    nb::gil_scoped_release release;
    fastgan::cpu::modconv_scale(dtype, (const void*)x, (const void*)s, (void*)y, N, C, P, xs, ys, nthreads);
  });
  m.def("modconv_chandot", [](int dtype, uintptr_t a, uintptr_t b, uintptr_t out, int64_t N, int64_t C, int64_t P,
                              int64_t as0, int64_t as1, int64_t as2, int64_t bs0, int64_t bs1, int64_t bs2,
                              int nthreads) {
    const int64_t as[3] = {as0, as1, as2}, bs[3] = {bs0, bs1, bs2};
    nb::gil_scoped_release release;
    fastgan::cpu::modconv_chandot(dtype, (const void*)a, (const void*)b, (void*)out, N, C, P, as, bs, nthreads);
  });
  m.def("modconv_epilogue_fwd", [](int dtype, uintptr_t c, uintptr_t d, uintptr_t noise, int64_t noise_sn,
                                   uintptr_t b, uintptr_t y, int64_t N, int64_t O, int64_t P, bool channels_last,
                                   int act, double alpha, double gain, double clamp, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::modconv_epilogue_fwd(dtype, (const void*)c, (const void*)d, (const void*)noise, noise_sn,
                                       (const void*)b, (void*)y, N, O, P, channels_last, act, alpha, gain, clamp,
                                       nthreads);
  });
  m.def("modconv_epilogue_grad", [](int dtype, uintptr_t dy, uintptr_t c, uintptr_t d, uintptr_t noise,
                                    int64_t noise_sn, uintptr_t b, uintptr_t dc, uintptr_t dd, uintptr_t dnoise,
                                    uintptr_t db, int64_t N, int64_t O, int64_t P, bool channels_last, int act,
                                    double alpha, double gain, double clamp, int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::modconv_epilogue_grad(dtype, (const void*)dy, (const void*)c, (const void*)d, (const void*)noise,
                                        noise_sn, (const void*)b, (void*)dc, (void*)dd, (void*)dnoise, (void*)db, N,
                                        O, P, channels_last, act, alpha, gain, clamp, nthreads);
  });
}
