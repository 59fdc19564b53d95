// The CUDA execution model on the CPU, for testing fastgan's CUDA kernels without a GPU.
//
// The emulated build (CMake option FASTGAN_CUDA_EMU, module fastgan._C_cuda_emu) compiles the
// unchanged sources of csrc/cuda/*.cu as C++ with this header included first, and with
// csrc/emu/include ahead on the include path, so <cuda_runtime.h> resolves to the stand-in there.
//
// What it models:
//   - a launch runs every block of the grid, one after another; the threads of a block are
//     fibers (ucontext) on one OS thread, each running until it reaches a barrier or ends;
//   - __syncthreads() releases the block once every thread waits there; a barrier that some
//     threads of the block can never reach (they ended) is an error, as is a deadlock;
//   - warp shuffles exchange values among the 32 lanes of a warp (a warp barrier), checking the
//     mask: every lane the mask names must exist and take part, the calling lane must be in it;
//   - __shared__ variables are statics; FASTGAN_SHARED_FRESH(v) after a declaration (cuda/launch.h;
//     nothing on a GPU) fills v with 0xff bytes (NaN as float or double) when the first thread of a
//     block reaches it, so a read of shared memory that no thread of the block wrote shows up as
//     NaN instead of as the previous block's value;
//   - the order in which the threads of a block run between barriers is forward, reverse or a
//     seeded shuffle (set_schedule), so a missing barrier changes the result;
//   - launch configuration limits (1024 threads a block, grid.y and grid.z < 65536); an error
//     is sticky until cudaGetLastError() returns it, with a message saying what went wrong.
// What it does not: concurrency between blocks (atomics would be plain adds), memory ordering,
// bank conflicts or timing. A result here says the index math, the reductions and the barriers
// are right; only a GPU says the kernel is right there.
#pragma once
#include <cmath>
#include <math.h>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#define FASTGAN_CUDA_EMU 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

typedef struct CUstream_st* cudaStream_t;
enum cudaError { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9,
                 cudaErrorLaunchFailure = 719 };
typedef cudaError cudaError_t;

// the built-in variables of the running thread (set by the scheduler before it resumes a fiber)
extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaGetDeviceCount(int* n);

void __syncthreads();

inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
inline float rsqrt(float v) { return 1.0f / std::sqrt(v); }
inline double rsqrt(double v) { return 1.0 / std::sqrt(v); }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }

namespace fastgan_emu {

enum class Shfl { idx, up, down, bfly };
// One shuffle of 8 bytes among the lanes of the calling warp; returns the source lane's bytes.
uint64_t shuffle(unsigned mask, uint64_t bits, int arg, int width, Shfl kind);

template <class V> V shfl(unsigned mask, V v, int arg, int width, Shfl kind) {
  static_assert(std::is_trivially_copyable_v<V> && sizeof(V) <= 8, "shuffles move values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(V));
  bits = shuffle(mask, bits, arg, width, kind);
  V r;
  std::memcpy(&r, &bits, sizeof(V));
  return r;
}

// Fill [p, p + bytes) with 0xff unless this block already did (FASTGAN_SHARED_FRESH).
void fresh_shared(void* p, size_t bytes);

// Run `body` (one thread of the kernel) for every thread of every block of the grid.
void run_grid(dim3 grid, dim3 block, size_t smem, const char* name, void (*body)(void*), void* arg);

// Order of the threads of a block between barriers: 0 forward, 1 reverse, 2 shuffled by `seed`.
void set_schedule(int order, uint64_t seed);
int schedule_order();
// Launches and fiber switches since the last reset (for tests: did the emulator run anything?).
struct Stats { uint64_t launches, blocks, threads, barriers, shuffles; };
Stats stats();
void reset_stats();
// Run one of the emulator's own test kernels (csrc/emu/selftest.cpp): the error the emulator reports,
// or "ok: <what the kernel computed>".
std::string selftest(const std::string& which);

template <class... P> struct Launch {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;
  const char* name;
  template <class... Args> void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(P), "kernel launched with the wrong number of arguments");
    std::tuple<std::decay_t<P>...> params(std::forward<Args>(args)...);
    struct Call { void (*k)(P...); std::tuple<std::decay_t<P>...>* p; } call{kernel, &params};
    run_grid(grid, block, smem, name, [](void* a) {
      auto* c = static_cast<Call*>(a);
      std::apply(c->k, *c->p);  // each thread gets its own copies of the by-value parameters
    }, &call);
  }
};

template <class... P>
Launch<P...> launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, void (*kernel)(P...), const char* name) {
  return Launch<P...>{kernel, grid, block, smem, name};
}

}  // namespace fastgan_emu

template <class V> V __shfl_sync(unsigned mask, V v, int src, int width = 32) {
  return fastgan_emu::shfl(mask, v, src, width, fastgan_emu::Shfl::idx);
}
template <class V> V __shfl_up_sync(unsigned mask, V v, unsigned d, int width = 32) {
  return fastgan_emu::shfl(mask, v, int(d), width, fastgan_emu::Shfl::up);
}
template <class V> V __shfl_down_sync(unsigned mask, V v, unsigned d, int width = 32) {
  return fastgan_emu::shfl(mask, v, int(d), width, fastgan_emu::Shfl::down);
}
template <class V> V __shfl_xor_sync(unsigned mask, V v, int m, int width = 32) {
  return fastgan_emu::shfl(mask, v, m, width, fastgan_emu::Shfl::bfly);
}
