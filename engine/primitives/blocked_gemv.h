#ifndef LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_
#define LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_

#include <cstdint>

namespace llmserve {

/// One-row matmul (GEMV) y[n] (+)= sum_k x[k] · W[k, n] (+ bias[n]) straight
/// from the weight layout oneDNN's brgemm matmul uses on AVX-512, so batch-1
/// decode streams the weights once without a second copy. Measured to be
/// faster than oneDNN 2.6's brgemm at M = 1 (docs/benchmarks.md).
///
/// Layouts (oneDNN format tags for the [K, N] weight; K and N padded with
/// zeros to the blocks, `padded_k` / `padded_n`):
///  * f32  `BA16a64b`:   (k, n) at (n/64)·padded_k·64 + (k/16)·1024 + (k%16)·64 + n%64
///  * bf16 `BA16a64b2a`: (k, n) at (n/64)·padded_k·64 + (k/32)·2048 + ((k%32)/2)·128
///                                   + (n%64)·2 + k%2
/// x: [k] (f32, or bf16 for the bf16 layout); y: [n]. The summation order is
/// fixed (independent of threads). Parallel over 64-column blocks (OpenMP).
/// Only call with the active CPU-ISA level ≥ avx512 (bf16: with AVX512_BF16).
void GemvBlockedF32(const float* x, const float* w, int64_t k, int64_t padded_k, int64_t n,
                    const float* bias, bool accumulate, float* y);
void GemvBlockedBf16(const uint16_t* x, const uint16_t* w, int64_t k, int64_t padded_k, int64_t n,
                     const float* bias, bool accumulate, float* y);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_
