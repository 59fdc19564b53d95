#include "bindings/registry.h"
#include <nanobind/stl/string.h>
#if FASTGAN_HAS_OPENMP
#include <omp.h>
#endif

NB_MODULE(_C, m) {
  m.doc() = "fastgan CPU kernels (C++17, OpenMP)";
  m.attr("has_openmp") = bool(FASTGAN_HAS_OPENMP);
  m.attr("native_build") = bool(FASTGAN_NATIVE_BUILD);
  m.def("compiler", []() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#else
    return std::string("unknown");
#endif
  });
  m.def("isa", []() {
    std::string s;
#ifdef __AVX512F__
    s += "avx512f ";
#endif
#ifdef __AVX2__
    s += "avx2 ";
#endif
#ifdef __FMA__
    s += "fma ";
#endif
#ifdef __F16C__
    s += "f16c ";
#endif
#ifdef __SSE4_2__
    s += "sse4.2 ";
#endif
#ifdef __ARM_NEON
    s += "neon ";
#endif
    return s;
  });
  for (auto fn : fastgan_bind::registry()) fn(m);
}
