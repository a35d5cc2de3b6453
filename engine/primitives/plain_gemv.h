#ifndef LLMSERVE_ENGINE_PRIMITIVES_PLAIN_GEMV_H_
#define LLMSERVE_ENGINE_PRIMITIVES_PLAIN_GEMV_H_

#include <cstdint>

namespace llmserve {

/// Few-row f32 matmul y[r, n] (+)= sum_k x[r, k] · W[k, n] (+ bias[n]) for
/// 1 ≤ rows (any count; linear.cc uses it from 2 to 8), straight from the plain row-major weight
/// layout oneDNN's GEMM-based matmul uses below AVX-512 ([k, n] with row
/// stride `ld` ≥ n floats, linear.cc pads it by 64 bytes). oneDNN 2.6's
/// `gemm:jit` with a run-time M is slow at 2–16 rows on AVX2 (a 2-sequence
/// decode step took longer than a 1-sequence one, docs/benchmarks.md "AVX2
/// path"). Each thread owns a contiguous range of columns and streams its part
/// of every weight row, 4 rows of W at a time (the next 4 prefetched
/// meanwhile), into f32 accumulators that stay in L1/L2; each output is one
/// fused multiply-add chain over k in order, so a row's result does not depend
/// on `rows` or the thread count.
/// x: [rows, k]; y: [rows, n]. AVX2 + FMA; only call when the active CPU-ISA
/// level includes AVX2 (engine/common/cpu_isa.h).
///
/// Linear uses it for kMinPlainGemvRows..kMaxPlainGemvRows rows: decode step
/// of the GPT-2 shape with LLMSERVE_CPU_ISA=avx2 on the Zen 4 VM, `gemm:jit`
/// → this kernel, ms: 1 row 17.2, 17.8 → 21.1, 19.3 (oneDNN's M = 1 path is
/// a good GEMV); 2 rows 31.6, 32.9 → 23.6, 20.5; 4 rows 34.0, 34.6 → 25.7,
/// 21.6; 8 rows 38.2, 37.4 → 28.0, 27.1; 16 rows 46.1, 45.2 → 58.4, 60.7.
inline constexpr int kMinPlainGemvRows = 2;
inline constexpr int kMaxPlainGemvRows = 8;
void GemvPlainF32(const float* x, int rows, const float* w, int64_t k, int64_t ld, int64_t n,
                  const float* bias, bool accumulate, float* y);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_PLAIN_GEMV_H_
