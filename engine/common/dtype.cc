#include "engine/common/dtype.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/common/ggml_blocks.h"

namespace llmserve {

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kQ8_0: return "q8_0";
    case DType::kQ4_0: return "q4_0";
    case DType::kQ4_K: return "q4_k";
    case DType::kQ6_K: return "q6_k";
  }
  return "unknown";
}

int64_t DTypeBlockElements(DType t) {
  switch (t) {
    case DType::kQ8_0:
    case DType::kQ4_0: return kQBlock;
    case DType::kQ4_K:
    case DType::kQ6_K: return kQKBlock;
    default: return 1;
  }
}

int64_t DTypeBlockBytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16:
    case DType::kBF16: return 2;
    case DType::kQ8_0: return sizeof(BlockQ8_0);
    case DType::kQ4_0: return sizeof(BlockQ4_0);
    case DType::kQ4_K: return sizeof(BlockQ4_K);
    case DType::kQ6_K: return sizeof(BlockQ6_K);
  }
  return 0;
}

int64_t DTypeRowBytes(DType t, int64_t n) {
  const int64_t block = DTypeBlockElements(t);
  if (n < 0 || n % block != 0) return -1;
  return n / block * DTypeBlockBytes(t);
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  if (name == "f32" || name == "float32" || name == "F32") return DType::kF32;
  if (name == "f16" || name == "float16" || name == "F16") return DType::kF16;
  if (name == "bf16" || name == "bfloat16" || name == "BF16") return DType::kBF16;
  const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  if (lower == "q8_0") return DType::kQ8_0;
  if (lower == "q4_0") return DType::kQ4_0;
  if (lower == "q4_k") return DType::kQ4_K;
  if (lower == "q6_k") return DType::kQ6_K;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", std::string(name), "' (expected f32, f16, bf16, q8_0, q4_0, q4_k or q6_k)"));
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  float value;
  if (exp == 0) {
    value = std::ldexp(static_cast<float>(mant), -24);  // subnormal or zero
  } else if (exp == 31) {
    value = mant == 0 ? INFINITY : NAN;
  } else {
    value = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  }
  return sign ? -value : value;
}

void ConvertToFloat(DType src_type, const void* src, std::size_t n, float* dst) {
  if (n == 0) return;
  switch (src_type) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::kF16: {
      const auto* p = static_cast<const uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = HalfToFloat(p[i]);
      return;
    }
    case DType::kBF16: {
      const auto* p = static_cast<const uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = BFloat16ToFloat(p[i]);
      return;
    }
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ6_K:
      DequantizeRow(src_type, src, static_cast<int64_t>(n), dst);
      return;
  }
}

}  // namespace llmserve
