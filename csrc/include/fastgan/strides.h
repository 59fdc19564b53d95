// Element strides of a tensor, outermost dimension first, as the kernels' entry points take them
// (from Python: a tuple such as x.stride(), whose length the binding checks).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace fastgan {
template <std::size_t N>
using Strides = std::array<int64_t, N>;
}  // namespace fastgan
