#ifndef LLMSERVE_ENGINE_PRIMITIVES_BF16_CONVERT_H_
#define LLMSERVE_ENGINE_PRIMITIVES_BF16_CONVERT_H_

#include <cstdint>

namespace llmserve {

/// out[i] = bf16(x[i]) for i < n, round to nearest even, NaN kept NaN: bitwise
/// the same as FloatToBFloat16 (engine/common/dtype.h) on every ISA path
/// (AVX-512 and AVX2 integer rounding, scalar loop; chosen by the CPU-ISA
/// dispatcher). Not vcvtneps2bf16, which flushes denormals. Single-threaded.
void FloatToBf16(const float* x, int64_t n, uint16_t* out);

/// out[i] = f32(x[i]) for i < n (exact). Single-threaded.
void Bf16ToFloat(const uint16_t* x, int64_t n, float* out);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_BF16_CONVERT_H_
