#ifndef LLMSERVE_ENGINE_COMMON_DTYPE_H_
#define LLMSERVE_ENGINE_COMMON_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/status/statusor.h"

namespace llmserve {

/// Element type of a tensor stored on the host (checkpoint files, packed weights).
///
/// The quantized types are ggml's block formats, bit for bit (llama.cpp's
/// ggml/src/ggml-common.h; gguf-py's quants.py): a row of a quantized tensor is
/// a sequence of blocks, each holding DTypeBlockElements consecutive values.
///  * kQ8_0: 32 values, `{f16 d; int8 qs[32]}` (34 bytes), x = d·q.
///  * kQ4_0: 32 values, `{f16 d; uint8 qs[16]}` (18 bytes), x[j] = d·((qs[j] & 15) − 8),
///    x[j+16] = d·((qs[j] >> 4) − 8).
///  * kQ4_K: 256 values, `{f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128]}` (144 bytes):
///    8 sub-blocks of 32 with 6-bit scales and mins, x = d·sc·q − dmin·m.
///  * kQ6_K: 256 values, `{uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d}` (210 bytes):
///    16 sub-blocks of 16 with int8 scales, x = d·sc·(q − 32).
enum class DType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ6_K };

/// True for the block-quantized types (kQ8_0, kQ4_0, kQ4_K, kQ6_K).
inline bool IsQuantized(DType t) {
  return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ4_K || t == DType::kQ6_K;
}

/// Values per block: 1 for f32/f16/bf16, 32 for Q8_0/Q4_0 (ggml's QK8_0, QK4_0),
/// 256 for Q4_K/Q6_K (QK_K).
int64_t DTypeBlockElements(DType t);

/// Bytes per block: 4 (f32), 2 (f16, bf16), 34 (Q8_0), 18 (Q4_0), 144 (Q4_K), 210 (Q6_K).
int64_t DTypeBlockBytes(DType t);

/// Bytes of `n` consecutive values (a row); -1 when n is not a multiple of
/// DTypeBlockElements(t) (a quantized row must hold whole blocks).
int64_t DTypeRowBytes(DType t, int64_t n);

/// Size of one element in bytes, for the unquantized types (4 for f32, 2 for
/// f16 / bf16). 0 for a quantized type: its elements have no byte size of
/// their own; use DTypeRowBytes.
inline std::size_t DTypeSize(DType t) {
  return t == DType::kF32 ? 4 : (t == DType::kF16 || t == DType::kBF16) ? 2 : 0;
}

/// Lower-case name ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k").
std::string_view DTypeName(DType t);

/// Parses "f32" / "float32", "f16" / "float16", "bf16" / "bfloat16" and the
/// quantized names "q8_0", "q4_0", "q4_k", "q6_k" (any case).
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

/// Converts `n` elements of type `src_type` at `src` to f32 at `dst`. For a
/// quantized type `src` is the first block and `n` a multiple of
/// DTypeBlockElements (dequantization as ggml's dequantize_row_* functions).
void ConvertToFloat(DType src_type, const void* src, std::size_t n, float* dst);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_DTYPE_H_
