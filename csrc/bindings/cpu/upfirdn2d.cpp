#include "bindings/registry.h"
#include "cpu/upfirdn2d.h"

namespace nb = nanobind;

FASTGAN_BIND(upfirdn2d) {
  using namespace nb::literals;
  m.def("upfirdn2d", [](int dtype, uintptr_t x, uintptr_t y, uintptr_t w, bool separable, int64_t N, int64_t C,
                        int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t xs0, int64_t xs1, int64_t xs2,
                        int64_t xs3, int64_t ys0, int64_t ys1, int64_t ys2, int64_t ys3, int ux, int uy, int dx,
                        int dy, int64_t px0, int64_t py0, int fw, int fh, int nthreads) {
    const int64_t xs[4] = {xs0, xs1, xs2, xs3}, ys[4] = {ys0, ys1, ys2, ys3};
    nb::gil_scoped_release release;
    fastgan::cpu::upfirdn2d(dtype, (const void*)x, (void*)y, (const void*)w, separable, N, C, H, W, OH, OW, xs, ys,
                            ux, uy, dx, dy, px0, py0, fw, fh, nthreads);
  }, "dtype"_a, "x"_a, "y"_a, "w"_a, "separable"_a, "N"_a, "C"_a, "H"_a, "W"_a, "OH"_a, "OW"_a, "xs0"_a, "xs1"_a,
     "xs2"_a, "xs3"_a, "ys0"_a, "ys1"_a, "ys2"_a, "ys3"_a, "ux"_a, "uy"_a, "dx"_a, "dy"_a, "px0"_a, "py0"_a, "fw"_a,
     "fh"_a, "nthreads"_a);
}
