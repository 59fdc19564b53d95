// Shared between the CPU (C++) and CUDA kernels: host/device qualifiers, dtype codes,
// 16-bit float storage types with float conversion, and the accumulate type.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define FASTGAN_HD __host__ __device__ __forceinline__
#define FASTGAN_DEV __device__ __forceinline__
#else
#define FASTGAN_HD inline
#define FASTGAN_DEV inline
#endif

namespace fastgan {

// Codes passed from Python (fastgan/ops/_native.py keeps the same table).
enum DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

// IEEE binary16 stored as bits; conversions are exact (float->half rounds to nearest even).
struct half_t { uint16_t bits; };
// bfloat16 stored as bits; float->bf16 rounds to nearest even, NaN stays NaN.
struct bf16_t { uint16_t bits; };

FASTGAN_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u; std::memcpy(&u, &f, 4); return u;
#endif
}
FASTGAN_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f; std::memcpy(&f, &u, 4); return f;
#endif
}

FASTGAN_HD float to_float(bf16_t v) { return bits_f32(uint32_t(v.bits) << 16); }
FASTGAN_HD bf16_t from_float_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_t{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16_t{uint16_t(u >> 16)};
}

FASTGAN_HD float to_float(half_t v) {
  uint32_t h = v.bits, sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; man <<= 1; } while ((man & 0x400u) == 0);
      u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 112u) << 23 | man << 13;
  }
  return bits_f32(u);
}
FASTGAN_HD half_t from_float_half(float f) {
  uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return half_t{uint16_t(sign | 0x7e00u)};       // NaN
  if (a >= 0x477ff000u) return half_t{uint16_t(sign | 0x7c00u)};      // overflow -> inf
  if (a < 0x38800000u) {                                               // subnormal or zero
    if (a < 0x33000000u) return half_t{uint16_t(sign)};
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;                                         // 14..24
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return half_t{uint16_t(sign | r)};
  }
  uint32_t r = a - 0x38000000u;                                        // rebias exponent
  r += 0xfffu + ((r >> 13) & 1u);
  return half_t{uint16_t(sign | (r >> 13))};
}

// Load/store with the accumulate type: float for f32/f16/bf16, double for f64.
template <class T> struct acc_of { using type = float; };
template <> struct acc_of<double> { using type = double; };
template <class T> using acc_t = typename acc_of<T>::type;

FASTGAN_HD float load(const float* p, int64_t i) { return p[i]; }
FASTGAN_HD double load(const double* p, int64_t i) { return p[i]; }
FASTGAN_HD float load(const half_t* p, int64_t i) { return to_float(p[i]); }
FASTGAN_HD float load(const bf16_t* p, int64_t i) { return to_float(p[i]); }
FASTGAN_HD void store(float* p, int64_t i, float v) { p[i] = v; }
FASTGAN_HD void store(double* p, int64_t i, double v) { p[i] = v; }
FASTGAN_HD void store(half_t* p, int64_t i, float v) { p[i] = from_float_half(v); }
FASTGAN_HD void store(bf16_t* p, int64_t i, float v) { p[i] = from_float_bf16(v); }

inline void check(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument("fastgan: " + msg);
}

// Call f with a null pointer of the storage type for `code` (a tag for template dispatch).
template <class F> auto dispatch_dtype(int code, F&& f) {
  switch (code) {
    case kFloat32: return f(static_cast<float*>(nullptr));
    case kFloat64: return f(static_cast<double*>(nullptr));
    case kFloat16: return f(static_cast<half_t*>(nullptr));
    case kBFloat16: return f(static_cast<bf16_t*>(nullptr));
  }
  throw std::invalid_argument("fastgan: unsupported dtype code " + std::to_string(code));
}

}  // namespace fastgan
