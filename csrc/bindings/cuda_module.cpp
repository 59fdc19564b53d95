#include "bindings/registry.h"
#include <cuda_runtime_api.h>
#include <nanobind/stl/string.h>

#include <string>

namespace nb = nanobind;

// fastgan._C_cuda; the emulated build (csrc/emu) names it _C_cuda_emu
#ifndef FASTGAN_CUDA_MODULE
#define FASTGAN_CUDA_MODULE _C_cuda
#endif

NB_MODULE(FASTGAN_CUDA_MODULE, m) {
  m.doc() = "fastgan CUDA kernels";
  m.attr("archs") = FASTGAN_CUDA_ARCHS;
  m.def("runtime_version", []() { int v = 0; cudaRuntimeGetVersion(&v); return v; });
  m.def("device_count", []() { int n = 0; if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0; return n; });
#if defined(FASTGAN_CUDA_EMU)
  m.attr("emulated") = true;
#if defined(__SANITIZE_ADDRESS__)
  m.attr("sanitized") = true;  // built by scripts/emu_memcheck.sh: ASan watches every kernel's memory accesses
#else
  m.attr("sanitized") = false;
#endif
  m.def("set_schedule", [](const std::string& order, uint64_t seed) {
    const int code = order == "forward" ? 0 : order == "reverse" ? 1 : order == "shuffle" ? 2 : -1;
    if (code < 0) throw std::invalid_argument("order must be forward, reverse or shuffle; got '" + order + "'");
    fastgan_emu::set_schedule(code, seed);
  }, nb::arg("order"), nb::arg("seed") = 0);
  m.def("schedule", []() { return std::string(fastgan_emu::schedule_order() == 0 ? "forward"
                                               : fastgan_emu::schedule_order() == 1 ? "reverse" : "shuffle"); });
  m.def("stats", []() {
    const auto s = fastgan_emu::stats();
    nb::dict d;
    d["launches"] = s.launches; d["blocks"] = s.blocks; d["threads"] = s.threads;
    d["barriers"] = s.barriers; d["shuffles"] = s.shuffles;
    return d;
  });
  m.def("reset_stats", []() { fastgan_emu::reset_stats(); });
  m.def("selftest", &fastgan_emu::selftest, nb::arg("case"),
        "Run one of the emulator's own test kernels (csrc/emu/selftest.cpp); returns the error it reports, or 'ok: ' and the kernel's output.");
#else
  m.attr("emulated") = false;
#endif
  for (auto fn : fastgan_bind::registry()) fn(m);
}
