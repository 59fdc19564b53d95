#include "bindings/registry.h"
#include "cpu/gemm.h"

namespace nb = nanobind;

FASTGAN_BIND(gemm) {
  m.def("has_bgemm", &fastgan::cpu::has_bgemm);
  m.def("bgemm_f32", [](int64_t nb_, int64_t M, int64_t N, int64_t K, uintptr_t A, int64_t sab, int64_t sam, int64_t sak,
                        uintptr_t B, int64_t sbb, int64_t sbk, int64_t sbn, uintptr_t C, int64_t scb, int64_t scm,
                        int nthreads) {
    nb::gil_scoped_release release;
    fastgan::cpu::bgemm_f32(nb_, M, N, K, (const float*)A, sab, sam, sak, (const float*)B, sbb, sbk, sbn, (float*)C, scb,
                            scm, nthreads);
  });
}
