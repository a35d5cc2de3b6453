#ifndef LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_
#define LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_

#include <cstdint>

namespace llmserve {

/// Few-row matmul y[r, n] (+)= sum_k x[r, k] · W[k, n] (+ bias[n]) for
/// 1 ≤ rows ≤ kMaxGemvRows, straight from the weight layout oneDNN's brgemm
/// matmul uses on AVX-512, so small-batch decode streams the weights once (each
/// weight vector feeds every row) without a second copy. Measured to be faster
/// than oneDNN 2.6's brgemm at M = 1 (docs/benchmarks.md).
///
/// Layouts (oneDNN format tags for the [K, N] weight; K and N padded with
/// zeros to the blocks, `padded_k` / `padded_n`):
///  * f32  `BA16a64b`:   (k, n) at (n/64)·padded_k·64 + (k/16)·1024 + (k%16)·64 + n%64
///  * bf16 `BA16a64b2a`: (k, n) at (n/64)·padded_k·64 + (k/32)·2048 + ((k%32)/2)·128
///                                   + (n%64)·2 + k%2
/// x: [rows, k] (f32, or bf16 for the bf16 layout); y: [rows, n]. Each output
/// is one accumulator chain over k in order, so a row's result does not depend
/// on `rows` or the thread count. Parallel over 64-column blocks (OpenMP).
/// Only call with the active CPU-ISA level ≥ avx512 (bf16: with AVX512_BF16).
inline constexpr int kMaxGemvRows = 4;
void GemvBlockedF32(const float* x, int rows, const float* w, int64_t k, int64_t padded_k,
                    int64_t n, const float* bias, bool accumulate, float* y);
void GemvBlockedBf16(const uint16_t* x, int rows, const uint16_t* w, int64_t k, int64_t padded_k,
                     int64_t n, const float* bias, bool accumulate, float* y);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_
