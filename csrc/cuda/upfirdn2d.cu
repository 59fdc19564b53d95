// upfirdn2d on CUDA.
//  - tiled kernel (up, down in {1, 2} equal on both axes, filters up to 8 x 8): a block owns a
//    32 x 32 tile of outputs of one plane, stages the input window it needs in shared memory
//    (converted to the accumulate type, zero outside the image) and each thread sums only the
//    taps that hit real samples (polyphase, no wasted multiplies); planes loop over grid.y.
//  - generic kernel (every other case): one thread per output, same tap math, reading global
//    memory with bounds checks.
// Index math shared with the CPU kernel (fastgan/upfirdn2d.h); 64-bit indexing throughout.
#include <type_traits>

#include "cuda/launch.h"
#include "cuda/upfirdn2d.h"
#include "fastgan/upfirdn2d.h"

namespace fastgan::cuda {
namespace {

constexpr int kTile = 32, kThreads = 256, kMaxTaps = 8;
constexpr int kPatch = (kTile - 1) * 2 + kMaxTaps + 1;  // widest input window (down = 2, up = 1)

struct Geo {
  int64_t N, C, H, W, OH, OW;
  int64_t xs[4], ys[4];
  int64_t px0, py0;
  int fw, fh;
};

FASTGAN_HD int64_t floor_div(int64_t a, int64_t b) { return (a - pos_mod(a, b)) / b; }

template <class T, int U, int D>
__global__ void tiled_kernel(const T* __restrict__ x, T* __restrict__ y, const acc_t<T>* __restrict__ w, Geo g) {
  using A = acc_t<T>;
  __shared__ A patch[kPatch][kPatch + 1];
  __shared__ A wsh[kMaxTaps * kMaxTaps];
  FASTGAN_SHARED_FRESH(patch);
  FASTGAN_SHARED_FRESH(wsh);
  for (int i = threadIdx.x; i < g.fw * g.fh; i += blockDim.x) wsh[i] = w[i];
  const int64_t tiles_x = (g.OW + kTile - 1) / kTile;
  const int64_t ty0 = int64_t(blockIdx.x) / tiles_x * kTile, tx0 = int64_t(blockIdx.x) % tiles_x * kTile;
  // input window of this tile (the same for every plane)
  const int64_t iy_lo = floor_div(ty0 * D - g.py0 + U - 1, U);
  const int64_t iy_hi = floor_div((ty0 + kTile - 1) * D + g.fh - 1 - g.py0, U);
  const int64_t ix_lo = floor_div(tx0 * D - g.px0 + U - 1, U);
  const int64_t ix_hi = floor_div((tx0 + kTile - 1) * D + g.fw - 1 - g.px0, U);
  const int ph = int(iy_hi - iy_lo + 1), pw = int(ix_hi - ix_lo + 1);
  for (int64_t plane = blockIdx.y; plane < g.N * g.C; plane += gridDim.y) {
    const int64_t n = plane / g.C, c = plane % g.C;
    const T* xp = x + n * g.xs[0] + c * g.xs[1];
    __syncthreads();  // previous plane done with the patch (and wsh written)
    for (int i = threadIdx.x; i < ph * pw; i += blockDim.x) {
      const int64_t iy = iy_lo + i / pw, ix = ix_lo + i % pw;
      A v = A(0);
      if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) v = A(load(xp, iy * g.xs[2] + ix * g.xs[3]));
      patch[i / pw][i % pw] = v;
    }
    __syncthreads();
    T* yp = y + n * g.ys[0] + c * g.ys[1];
    for (int i = threadIdx.x; i < kTile * kTile; i += blockDim.x) {
      const int64_t oy = ty0 + i / kTile, ox = tx0 + i % kTile;
      if (oy >= g.OH || ox >= g.OW) continue;
      const AxisTaps ay = axis_taps(oy, U, D, g.py0, g.fh), ax = axis_taps(ox, U, D, g.px0, g.fw);
      A acc = A(0);
      for (int ty = 0; ty < ay.n; ++ty) {
        const A* prow = patch[ay.i0 + ty - iy_lo] + (ax.i0 - ix_lo);
        const A* wrow = wsh + (ay.k0 + U * ty) * g.fw + ax.k0;
        for (int tx = 0; tx < ax.n; ++tx) acc += wrow[U * tx] * prow[tx];
      }
      store(yp, oy * g.ys[2] + ox * g.ys[3], acc);
    }
  }
}

template <class T>
__global__ void generic_kernel(const T* __restrict__ x, T* __restrict__ y, const acc_t<T>* __restrict__ w, Geo g,
                               int ux, int uy, int dx, int dy) {
  using A = acc_t<T>;
  const int64_t total = g.N * g.C * g.OH * g.OW;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % g.OW, oy = i / g.OW % g.OH, plane = i / (g.OW * g.OH);
    const int64_t n = plane / g.C, c = plane % g.C;
    const AxisTaps ay = axis_taps(oy, uy, dy, g.py0, g.fh), ax = axis_taps(ox, ux, dx, g.px0, g.fw);
    int ty0, ty1, tx0, tx1;
    clip_taps(ay, g.H, &ty0, &ty1);
    clip_taps(ax, g.W, &tx0, &tx1);
    const T* xp = x + n * g.xs[0] + c * g.xs[1];
    A acc = A(0);
    for (int ty = ty0; ty < ty1; ++ty) {
      const T* xrow = xp + (ay.i0 + ty) * g.xs[2];
      const A* wrow = w + int64_t(ay.k0 + uy * ty) * g.fw + ax.k0;
      for (int tx = tx0; tx < tx1; ++tx) acc += wrow[int64_t(ux) * tx] * A(load(xrow, (ax.i0 + tx) * g.xs[3]));
    }
    store(y, n * g.ys[0] + c * g.ys[1] + oy * g.ys[2] + ox * g.ys[3], acc);
  }
}

}  // namespace

void upfirdn2d(int dtype, const void* x, void* y, const void* w, int64_t N, int64_t C, int64_t H, int64_t W,
               int64_t OH, int64_t OW, const Strides<4>& xs, const Strides<4>& ys, int ux, int uy, int dx, int dy,
               int64_t px0, int64_t py0, int fw, int fh, void* stream) {
  check(ux >= 1 && uy >= 1 && dx >= 1 && dy >= 1, "upfirdn2d: up and down must be >= 1");
  check(fw >= 1 && fh >= 1, "upfirdn2d: empty filter");
  if (N * C * OH * OW == 0) return;
  Geo g{N, C, H, W, OH, OW, {xs[0], xs[1], xs[2], xs[3]}, {ys[0], ys[1], ys[2], ys[3]}, px0, py0, fw, fh};
  const bool tiled = ux == uy && dx == dy && ux <= 2 && dx <= 2 && fw <= kMaxTaps && fh <= kMaxTaps;
  auto s = (cudaStream_t)stream;
  dispatch_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using A = acc_t<T>;
    const T* xp = static_cast<const T*>(x);
    T* yp = static_cast<T*>(y);
    const A* wp = static_cast<const A*>(w);
    if (tiled) {
      const int64_t tiles = ((OH + kTile - 1) / kTile) * ((OW + kTile - 1) / kTile);
      check(tiles < (int64_t(1) << 31), "upfirdn2d: output too large");
      const dim3 grid(unsigned(tiles), unsigned(std::min<int64_t>(N * C, 65535)));
      if (ux == 1 && dx == 1) FASTGAN_LAUNCH(grid, kThreads, 0, s, tiled_kernel<T, 1, 1>)(xp, yp, wp, g);
      else if (ux == 2 && dx == 1) FASTGAN_LAUNCH(grid, kThreads, 0, s, tiled_kernel<T, 2, 1>)(xp, yp, wp, g);
      else if (ux == 1 && dx == 2) FASTGAN_LAUNCH(grid, kThreads, 0, s, tiled_kernel<T, 1, 2>)(xp, yp, wp, g);
      else FASTGAN_LAUNCH(grid, kThreads, 0, s, tiled_kernel<T, 2, 2>)(xp, yp, wp, g);
    } else {
      FASTGAN_LAUNCH(grid_for(N * C * OH * OW, kThreads), kThreads, 0, s, generic_kernel<T>)(xp, yp, wp, g, ux, uy, dx, dy);
    }
    return 0;
  });
  check_launch("upfirdn2d");
}

}  // namespace fastgan::cuda
