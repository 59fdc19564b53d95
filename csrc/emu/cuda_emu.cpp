// The scheduler of the CUDA emulator (see cuda_emu.h): blocks one after another, the threads of
// a block as fibers that switch at barriers and warp shuffles.
#include "emu/cuda_emu.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <numeric>
#include <random>
#include <vector>

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

// Under AddressSanitizer (scripts/emu_memcheck.sh) every switch between stacks is announced, so ASan
// follows the fibers instead of mistaking one stack for another.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define FASTGAN_ASAN_FIBERS 1
#endif


namespace fastgan_emu {
namespace {

constexpr int kMaxThreads = 1024, kWarp = 32;
constexpr size_t kStack = 256 * 1024;

enum class State { ready, at_barrier, at_shuffle, done };

struct Fiber {
  ucontext_t ctx;
  State state = State::done;
  unsigned tid = 0;
  unsigned mask = 0;     // the shuffle's mask while at_shuffle
  uint64_t value = 0;    // the value offered to the warp / received from it
  int arg = 0, width = 32;
  Shfl kind = Shfl::idx;
};

struct Scheduler {
  std::vector<char*> stacks;  // kStack each, a guard page below
  std::vector<Fiber> fibers;
  ucontext_t home;
  Fiber* current = nullptr;
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
  std::string error;  // set by a fiber or the scheduler; ends the launch
};

std::mutex g_launch_mutex;
Scheduler g_sched;
cudaError_t g_last = cudaSuccess;
std::string g_last_msg;
int g_order = 0;
uint64_t g_seed = 0;
Stats g_stats{};
uint64_t g_block_serial = 0;                          // one number per block run
std::vector<std::pair<void*, uint64_t>> g_fresh;      // shared variable -> the block that last filled it

void fail(cudaError_t code, std::string msg) {
  if (g_last == cudaSuccess) {
    g_last = code;
    g_last_msg = std::move(msg);
  }
}

char* new_stack() {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  mprotect(p, page, PROT_NONE);  // an overflow faults instead of corrupting the next stack
  return static_cast<char*>(p) + page;
}

const void* g_home_bottom = nullptr;  // the scheduler's stack, as ASan reports it on entering a fiber
size_t g_home_size = 0;                // (both stay unset without ASan)

// swapcontext(from, to), announced to ASan when it is on: `to_bottom`/`to_size` name the stack entered;
// when control comes back, `back_bottom`/`back_size` (may be null) receive the stack it came back from.
inline void switch_context(ucontext_t* from, const ucontext_t* to, const void* to_bottom, size_t to_size,
                           const void** back_bottom, size_t* back_size) {
#ifdef FASTGAN_ASAN_FIBERS
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, to_bottom, to_size);
  swapcontext(from, to);
  __sanitizer_finish_switch_fiber(fake, back_bottom, back_size);
#else
  (void)to_bottom, (void)to_size, (void)back_bottom, (void)back_size;
  swapcontext(from, to);
#endif
}

void trampoline() {
  Scheduler& s = g_sched;
#ifdef FASTGAN_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &g_home_bottom, &g_home_size);
#endif
  s.body(s.arg);
  s.current->state = State::done;
#ifdef FASTGAN_ASAN_FIBERS
  __sanitizer_start_switch_fiber(nullptr, g_home_bottom, g_home_size);  // this fiber's stack is done
#endif
  // uc_link returns to the scheduler
}

// Suspend the running fiber (its state says why) and go back to the scheduler.
void yield_to_scheduler() {
  Scheduler& s = g_sched;
  switch_context(&s.current->ctx, &s.home, g_home_bottom, g_home_size, &g_home_bottom, &g_home_size);
}

std::string block_str(const dim3& b) {
  return "(" + std::to_string(b.x) + ", " + std::to_string(b.y) + ", " + std::to_string(b.z) + ")";
}

// Resolve the shuffles of every warp whose lanes all wait at one; false if none could.
bool release_warps(unsigned nthreads) {
  Scheduler& s = g_sched;
  bool any = false;
  for (unsigned w0 = 0; w0 < nthreads; w0 += kWarp) {
    const unsigned lanes = std::min<unsigned>(kWarp, nthreads - w0);
    unsigned waiting = 0, done = 0, other = 0;
    for (unsigned l = 0; l < lanes; ++l) {
      const State st = s.fibers[w0 + l].state;
      if (st == State::at_shuffle) waiting |= 1u << l;
      else if (st == State::done) done |= 1u << l;
      else other |= 1u << l;
    }
    if (!waiting || other) continue;  // nobody waits, or a lane still has to arrive (it is at a barrier)
    const unsigned exist = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
    for (unsigned l = 0; l < lanes; ++l) {
      if (!(waiting >> l & 1u)) continue;
      const Fiber& f = s.fibers[w0 + l];
      if (f.mask != s.fibers[w0 + __builtin_ctz(waiting)].mask) {
        s.error = "warp shuffle with different masks in one warp";
        return false;
      }
      if (f.mask & ~exist) {
        s.error = "warp shuffle mask names lanes that do not exist (the block's last warp is partial): mask " +
                  std::to_string(f.mask) + ", block of " + std::to_string(nthreads) + " threads";
        return false;
      }
    }
    const unsigned mask = s.fibers[w0 + __builtin_ctz(waiting)].mask;
    if ((mask & waiting) != mask) {
      s.error = "warp shuffle: lanes named in the mask ended without taking part (mask " + std::to_string(mask) +
                ", waiting " + std::to_string(waiting) + ", ended " + std::to_string(done) + ")";
      return false;
    }
    if (waiting & ~mask) {
      s.error = "warp shuffle called by a lane outside its own mask";
      return false;
    }
    // every lane in the mask is here: exchange
    uint64_t offered[kWarp];
    for (unsigned l = 0; l < lanes; ++l) offered[l] = s.fibers[w0 + l].value;
    for (unsigned l = 0; l < lanes; ++l) {
      Fiber& f = s.fibers[w0 + l];
      if (f.state != State::at_shuffle) continue;
      const int width = f.width, seg = int(l) / width * width, pos = int(l) - seg;
      int src = int(l);
      switch (f.kind) {
        case Shfl::idx: src = seg + ((f.arg % width) + width) % width; break;
        case Shfl::up: src = pos - f.arg >= 0 ? int(l) - f.arg : int(l); break;
        case Shfl::down: src = pos + f.arg < width ? int(l) + f.arg : int(l); break;
        case Shfl::bfly: src = (pos ^ f.arg) < width ? seg + (pos ^ f.arg) : int(l); break;
      }
      if (src < 0 || src >= int(lanes) || !(mask >> src & 1u)) {
        s.error = "warp shuffle reads lane " + std::to_string(src) + ", which is not in the mask";
        return false;
      }
      f.value = offered[src];
      f.state = State::ready;
    }
    ++g_stats.shuffles;
    any = true;
  }
  return any;
}

void run_block(unsigned nthreads, const std::vector<unsigned>& order) {
  Scheduler& s = g_sched;
  for (unsigned t = 0; t < nthreads; ++t) {
    Fiber& f = s.fibers[t];
    f.tid = t;
    f.state = State::ready;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = s.stacks[t];
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = &s.home;
    makecontext(&f.ctx, trampoline, 0);
  }
  for (;;) {
    bool ran = false;
    for (unsigned t : order) {
      Fiber& f = s.fibers[t];
      if (f.state != State::ready) continue;
      threadIdx = dim3(t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
      s.current = &f;
      switch_context(&s.home, &f.ctx, s.stacks[t], kStack, nullptr, nullptr);
      s.current = nullptr;
      ran = true;
      if (!s.error.empty()) return;
    }
    unsigned done = 0, at_barrier = 0;
    for (unsigned t = 0; t < nthreads; ++t) {
      done += s.fibers[t].state == State::done;
      at_barrier += s.fibers[t].state == State::at_barrier;
    }
    if (done == nthreads) return;
    if (release_warps(nthreads)) continue;
    if (!s.error.empty()) return;
    if (at_barrier + done == nthreads) {
      if (done) {
        s.error = "__syncthreads() that " + std::to_string(done) + " of the block's " + std::to_string(nthreads) +
                  " threads never reach (they ended): the barrier is in divergent code";
        return;
      }
      for (unsigned t = 0; t < nthreads; ++t) s.fibers[t].state = State::ready;
      ++g_stats.barriers;
      continue;
    }
    if (!ran) {
      s.error = "deadlock: " + std::to_string(at_barrier) + " threads wait at __syncthreads() while others wait at "
                "a warp shuffle";
      return;
    }
  }
}

}  // namespace

uint64_t shuffle(unsigned mask, uint64_t bits, int arg, int width, Shfl kind) {
  Scheduler& s = g_sched;
  Fiber* f = s.current;
  if (!f) {
    fail(cudaErrorLaunchFailure, "warp shuffle outside a kernel");
    return bits;
  }
  if (width < 1 || width > kWarp || (width & (width - 1))) {
    s.error = "warp shuffle width must be a power of 2 up to 32, got " + std::to_string(width);
    f->state = State::done;
    yield_to_scheduler();
  }
  f->mask = mask;
  f->value = bits;
  f->arg = arg;
  f->width = width;
  f->kind = kind;
  f->state = State::at_shuffle;
  yield_to_scheduler();
  return f->value;
}

void fresh_shared(void* p, size_t bytes) {
  for (auto& [q, serial] : g_fresh)
    if (q == p) {
      if (serial != g_block_serial) {
        std::memset(p, 0xff, bytes);
        serial = g_block_serial;
      }
      return;
    }
  std::memset(p, 0xff, bytes);
  g_fresh.emplace_back(p, g_block_serial);
}

void set_schedule(int order, uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  g_order = order;
  g_seed = seed;
}

int schedule_order() { return g_order; }

Stats stats() { return g_stats; }
void reset_stats() { g_stats = Stats{}; }

void run_grid(dim3 grid, dim3 block, size_t smem, const char* name, void (*body)(void*), void* arg) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  const uint64_t nthreads = uint64_t(block.x) * block.y * block.z;
  const std::string what = std::string("kernel ") + (name ? name : "?");
  if (g_last != cudaSuccess) return;  // a sticky error: nothing more runs until it is read
  if (nthreads == 0 || nthreads > kMaxThreads || block.z > 64) {
    fail(cudaErrorInvalidConfiguration, what + ": a block of " + std::to_string(nthreads) + " threads " +
         block_str(block) + " (1 to 1024, z up to 64)");
    return;
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) {
    fail(cudaErrorInvalidConfiguration, what + ": grid " + block_str(grid) +
         " (x 1 to 2^31 - 1, y and z 1 to 65535)");
    return;
  }
  if (smem > 0) {
    fail(cudaErrorInvalidValue, what + ": dynamic shared memory is not emulated");
    return;
  }
  Scheduler& s = g_sched;
  while (s.stacks.size() < nthreads) {
    char* st = new_stack();
    if (!st) {
      fail(cudaErrorLaunchFailure, what + ": out of memory for fiber stacks");
      return;
    }
    s.stacks.push_back(st);
  }
  if (s.fibers.size() < nthreads) s.fibers.resize(nthreads);
  s.body = body;
  s.arg = arg;
  s.error.clear();
  std::vector<unsigned> order(nthreads);
  std::iota(order.begin(), order.end(), 0u);
  if (g_order == 1) std::reverse(order.begin(), order.end());
  std::mt19937_64 rng(g_seed + g_stats.launches);
  ++g_stats.launches;
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = dim3(bx, by, bz);
        ++g_block_serial;
        if (g_order == 2) std::shuffle(order.begin(), order.end(), rng);
        run_block(unsigned(nthreads), order);
        ++g_stats.blocks;
        g_stats.threads += nthreads;
        if (!s.error.empty()) {
          fail(cudaErrorLaunchFailure, what + ", block " + block_str(blockIdx) + ": " + s.error);
          s.error.clear();
          return;
        }
      }
}

}  // namespace fastgan_emu

void __syncthreads() {
  using namespace fastgan_emu;
  Scheduler& s = g_sched;
  if (!s.current) {
    fail(cudaErrorLaunchFailure, "__syncthreads() outside a kernel");
    return;
  }
  s.current->state = State::at_barrier;
  yield_to_scheduler();
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = fastgan_emu::g_last;
  fastgan_emu::g_last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return fastgan_emu::g_last; }

const char* cudaGetErrorString(cudaError_t e) {
  static thread_local std::string msg;
  msg = e == cudaSuccess ? std::string("no error") : "CUDA emulator: " + fastgan_emu::g_last_msg;
  return msg.c_str();
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 0;
  return cudaSuccess;
}
