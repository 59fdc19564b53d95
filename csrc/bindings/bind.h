// Binds a kernel's entry point straight from its C++ declaration, so its parameter list is
// written once (in the kernel's header) and the binding keeps its types:
//   - a pointer parameter (a tensor's data, a CUDA stream) takes an address: Python passes
//     tensor.data_ptr() / stream.cuda_stream (0 for a null pointer);
//   - fastgan::Strides<N> takes a sequence of exactly N ints (e.g. x.stride());
//   - numbers and bools pass as they are;
//   - a type with its own rule specialises `Param` beside its binding (see cpu/winograd.cpp).
// CPU kernels run with the GIL released (they may take milliseconds); CUDA entry points only
// enqueue work on the stream, so they keep it.
#pragma once
#include <nanobind/stl/array.h>

#include <cstdint>
#include <type_traits>

#include "bindings/registry.h"

namespace fastgan_bind {

template <typename T, typename = void>
struct Param {
  using py = std::remove_cv_t<std::remove_reference_t<T>>;
  static const py& from(const py& v) { return v; }
};

template <typename T>
struct Param<T*> {
  using py = uintptr_t;
  static T* from(uintptr_t v) { return reinterpret_cast<T*>(v); }
};

enum class Gil { release, keep };

template <auto Fn, Gil G, typename Sig>
struct Binder;

template <auto Fn, Gil G, typename R, typename... Args>
struct Binder<Fn, G, R (*)(Args...)> {
  static void def(nb::module_& m, const char* name) {
    m.def(name, [](typename Param<Args>::py... args) -> R {
      if constexpr (G == Gil::release) {
        nb::gil_scoped_release release;
        return Fn(Param<Args>::from(args)...);
      } else {
        return Fn(Param<Args>::from(args)...);
      }
    });
  }
};

// m.def(name, ...) for the C++ function Fn, its arguments converted as described above.
template <auto Fn, Gil G = Gil::release>
void def_kernel(nb::module_& m, const char* name) {
  Binder<Fn, G, decltype(Fn)>::def(m, name);
}

template <auto Fn>
void def_cuda_kernel(nb::module_& m, const char* name) {
  def_kernel<Fn, Gil::keep>(m, name);
}

}  // namespace fastgan_bind
