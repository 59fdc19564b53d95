#include "bindings/registry.h"
#include <cuda_runtime_api.h>

NB_MODULE(_C_cuda, m) {
  m.doc() = "fastgan CUDA kernels";
  m.attr("archs") = FASTGAN_CUDA_ARCHS;
  m.def("runtime_version", []() { int v = 0; cudaRuntimeGetVersion(&v); return v; });
  m.def("device_count", []() { int n = 0; if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0; return n; });
  for (auto fn : fastgan_bind::registry()) fn(m);
}
