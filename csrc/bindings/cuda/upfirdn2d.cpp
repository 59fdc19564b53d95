#include "bindings/registry.h"
#include "cuda/upfirdn2d.h"

namespace nb = nanobind;

FASTGAN_BIND(upfirdn2d) {
  m.def("upfirdn2d", [](int dtype, uintptr_t x, uintptr_t y, uintptr_t w, int64_t N, int64_t C, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, int64_t xs0, int64_t xs1, int64_t xs2, int64_t xs3, int64_t ys0,
                        int64_t ys1, int64_t ys2, int64_t ys3, int ux, int uy, int dx, int dy, int64_t px0,
                        int64_t py0, int fw, int fh, uintptr_t stream) {
    const int64_t xs[4] = {xs0, xs1, xs2, xs3}, ys[4] = {ys0, ys1, ys2, ys3};
    fastgan::cuda::upfirdn2d(dtype, (const void*)x, (void*)y, (const void*)w, N, C, H, W, OH, OW, xs, ys, ux, uy, dx,
                             dy, px0, py0, fw, fh, (void*)stream);
  });
}
