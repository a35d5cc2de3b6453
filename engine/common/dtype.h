#ifndef LLMSERVE_ENGINE_COMMON_DTYPE_H_
#define LLMSERVE_ENGINE_COMMON_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/status/statusor.h"

namespace llmserve {

/// Element type of a tensor stored on the host (checkpoint files, packed weights).
enum class DType { kF32, kF16, kBF16 };

/// Size of one element in bytes.
inline std::size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }

/// Lower-case name ("f32", "f16", "bf16").
std::string_view DTypeName(DType t);

/// Parses "f32" / "float32", "f16" / "float16", "bf16" / "bfloat16".
/// Errors: INVALID_ARGUMENT naming the unknown string.
absl::StatusOr<DType> ParseDType(std::string_view name);

/// IEEE 754 binary16 → binary32 (exact; handles subnormals, inf, NaN).
float HalfToFloat(uint16_t h);

/// bfloat16 → binary32 (exact: the bf16 bits are the top half of the f32).
inline float BFloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// binary32 → bfloat16 with round-to-nearest-even; NaN stays NaN.
inline uint16_t FloatToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

/// Converts `n` elements of type `src_type` at `src` to f32 at `dst`.
void ConvertToFloat(DType src_type, const void* src, std::size_t n, float* dst);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_DTYPE_H_
