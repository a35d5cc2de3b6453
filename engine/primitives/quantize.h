#ifndef LLMSERVE_ENGINE_PRIMITIVES_QUANTIZE_H_
#define LLMSERVE_ENGINE_PRIMITIVES_QUANTIZE_H_

#include <cstdint>
#include <vector>

#include "engine/common/ggml_blocks.h"

namespace llmserve {

/// IEEE binary32 → binary16, round to nearest even (as F16C's vcvtps2ph and
/// ggml's GGML_FP32_TO_FP16); overflow gives ±inf, NaN stays NaN.
uint16_t FloatToHalf(float f);

/// Quantizes `n` values (a multiple of 32) of `x` into n/32 Q8_0 blocks at
/// `y`, exactly as llama.cpp's quantize_row_q8_0_ref (ggml-quants.c): per
/// block d = amax/127 (stored as f16), q = roundf(x/d) (halves away from 0),
/// all-zero blocks get d = 0, q = 0.
void QuantizeRowQ8_0(const float* x, int64_t n, BlockQ8_0* y);

/// Quantizes `n` values (a multiple of 32) into n/32 Q4_0 blocks exactly as
/// llama.cpp's quantize_row_q4_0_ref: per block the value of largest
/// magnitude `max` (the first on ties) gives d = max/−8 (f16); q =
/// min(15, (int8)(x/d + 8.5)), x[j] in the low nibble of qs[j], x[j+16] in the
/// high nibble.
void QuantizeRowQ4_0(const float* x, int64_t n, BlockQ4_0* y);

/// Activations quantized to int8 per block for the quantized matmul kernels
/// (llama.cpp's approach: Q8_0-style blocks of 32 for Q8_0 / Q4_0 weights,
/// Q8_K-style blocks of 256 for the K-quants). For `rows` rows of `n` values:
///  * qs    [rows, n]          int8, x ≈ d · q, |q| ≤ 127
///  * d     [rows, n / block]  f32 scale per block: amax / 127 (0 for an all-zero block)
///  * sum16 [rows, n / 16]     Σ q over each 16 consecutive values (for the
///                             zero-point / min terms of Q4_0, Q4_K, Q6_K)
/// q = nearest-even(x · (1/d)): the same on every ISA (the SIMD conversion's
/// rounding), so every kernel sees the same integers.
struct QuantizedActivations {
  int64_t rows = 0, n = 0;
  int block = 32;
  std::vector<int8_t> qs;
  std::vector<float> d;
  std::vector<int16_t> sum16;

  const int8_t* row_qs(int64_t r) const { return qs.data() + r * n; }
  const float* row_d(int64_t r) const { return d.data() + r * (n / block); }
  const int16_t* row_sum16(int64_t r) const { return sum16.data() + r * (n / 16); }
};

/// Fills `out` with x [rows, n] quantized in blocks of `block` (32 or 256; n a
/// multiple of it), reusing its buffers. Parallel over rows with OpenMP when large.
void QuantizeActivations(const float* x, int64_t rows, int64_t n, int block,
                         QuantizedActivations* out);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_QUANTIZE_H_
