// Each op's binding file registers a function that adds its entry points to the module,
// so adding an op never edits a central list.
#pragma once
#include <nanobind/nanobind.h>
#include <functional>
#include <vector>

namespace fastgan_bind {
namespace nb = nanobind;
using BindFn = void (*)(nb::module_&);
inline std::vector<BindFn>& registry() {
  static std::vector<BindFn> fns;
  return fns;
}
struct Registrar {
  explicit Registrar(BindFn fn) { registry().push_back(fn); }
};
}  // namespace fastgan_bind

#define FASTGAN_BIND(name) \
  static void fastgan_bind_##name(nanobind::module_& m); \
  static ::fastgan_bind::Registrar fastgan_registrar_##name(&fastgan_bind_##name); \
  static void fastgan_bind_##name(nanobind::module_& m)
