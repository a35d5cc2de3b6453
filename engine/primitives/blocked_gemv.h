#ifndef LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_
#define LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_

#include <cstdint>

namespace llmserve {

/// Few-row matmul y[r, n] (+)= sum_k x[r, k] · W[k, n] (+ bias[n]) for
/// 1 ≤ rows ≤ kMaxGemvRowsF32 / kMaxGemvRowsBf16, straight from the weight
/// layout oneDNN's brgemm matmul uses on AVX-512, so small-batch decode streams
/// the weights once without a second copy: per 64-column block, rows in groups
/// of 4 (each weight vector loaded feeds 4 rows); with more than 4 rows k runs
/// in 16 KiB chunks, every group on a chunk while it is in L1, and the next
/// chunk is prefetched into L2 meanwhile, so the weight stream overlaps the
/// arithmetic. Measured faster than oneDNN 2.6's brgemm inside the engine up to
/// those row counts (Zen 4, docs/benchmarks.md), where brgemm reads a panel
/// from memory and then computes on it, one after the other.
///
/// Layouts (oneDNN format tags for the [K, N] weight; K and N padded with
/// zeros to the blocks, `padded_k` / `padded_n`):
///  * f32  `BA16a64b`:   (k, n) at (n/64)·padded_k·64 + (k/16)·1024 + (k%16)·64 + n%64
///  * bf16 `BA16a64b2a`: (k, n) at (n/64)·padded_k·64 + (k/32)·2048 + ((k%32)/2)·128
///                                   + (n%64)·2 + k%2
/// x: [rows, k] (f32, or bf16 for the bf16 layout); y: [rows, n]. Each output
/// is one accumulator chain over k in order (kept in f32 between chunks), so a
/// row's result does not depend on `rows`, the chunking or the thread count
/// (batch invariance up to these row counts). Parallel over 64-column blocks
/// (OpenMP). Only call with the active CPU-ISA level ≥ avx512 (bf16: with
/// AVX512_BF16).
///
/// Row limits: up to 64 rows the GEMV beats oneDNN 2.6's AVX-512 brgemm in the
/// engine (Zen 4, docs/benchmarks.md "Which kernel at which row count"). With
/// AMX, oneDNN's AMX brgemm computes ~8x faster than AVX-512 once the tiles
/// are full, so bf16 keeps the GEMV only where every kernel is memory-bound
/// (up to 8 rows, the switch point xFasterTransformer uses; not measured here,
/// no AMX host in these sessions). GemvMaxRows picks by the active CPU ISA.
inline constexpr int kMaxGemvRowsF32 = 64;
inline constexpr int kMaxGemvRowsBf16 = 64;
inline constexpr int kMaxGemvRowsBf16Amx = 8;
/// The largest row count Linear runs on the GEMV: kMaxGemvRowsF32, or for bf16
/// kMaxGemvRowsBf16 (kMaxGemvRowsBf16Amx when the active CPU ISA has AMX).
int GemvMaxRows(bool bf16);
void GemvBlockedF32(const float* x, int rows, const float* w, int64_t k, int64_t padded_k,
                    int64_t n, const float* bias, bool accumulate, float* y);
void GemvBlockedBf16(const uint16_t* x, int rows, const uint16_t* w, int64_t k, int64_t padded_k,
                     int64_t n, const float* bias, bool accumulate, float* y);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_BLOCKED_GEMV_H_
