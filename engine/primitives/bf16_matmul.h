#ifndef LLMSERVE_ENGINE_PRIMITIVES_BF16_MATMUL_H_
#define LLMSERVE_ENGINE_PRIMITIVES_BF16_MATMUL_H_

#include <cstdint>
#include <vector>

namespace llmserve {

/// A weight matrix stored as bfloat16, row-major [rows = out_features, cols = in_features].
struct Bf16Matrix {
  std::vector<uint16_t> data;
  int64_t rows = 0;
  int64_t cols = 0;

  /// Rounds an f32 [rows, cols] matrix to bf16 (round to nearest even).
  static Bf16Matrix FromFloat(const float* values, int64_t rows, int64_t cols);
};

/// y[m, out] (+)= x[m, in] · Wᵀ (+ bias[out]) with W in bf16 and f32 inputs,
/// outputs and accumulation. Used where oneDNN has no bf16 matmul for the CPU
/// (oneDNN 2.x implements bf16 only from avx512_core up). The bf16 → f32
/// widening is a 16-bit shift, done in registers: an AVX2+FMA kernel when the CPU
/// has it (chosen at run time), else portable C++. Parallel over output
/// features with OpenMP; the per-element summation order does not depend on m,
/// so a row's result is the same whatever the batch.
void Bf16Matmul(const float* x, int64_t m, const Bf16Matrix& w, const float* bias,
                bool accumulate, float* y);

/// "avx2" or "generic": the kernel Bf16Matmul uses on this CPU.
const char* Bf16MatmulIsa();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_BF16_MATMUL_H_
