#ifndef LLMSERVE_ENGINE_OPS_PAGED_ATTENTION_KERNELS_H_
#define LLMSERVE_ENGINE_OPS_PAGED_ATTENTION_KERNELS_H_

// Internal interface between the paged-attention driver (paged_attention.cc)
// and its per-ISA inner kernels (paged_attention_{scalar,avx2,avx512}.cc).
// Exposed for the tests and the benchmark, which force a particular ISA.
//
// The driver runs a flash-attention style online softmax (Dao et al. 2022;
// Milakov & Gimelshein 2018, "Online normalizer calculation for softmax") over
// fixed *logical* chunks of kChunk positions: chunk c covers positions
// [c * kChunk, (c + 1) * kChunk) of a sequence, whatever the block size and
// wherever the blocks physically live. Per query row and chunk it calls
//   scores     s_j = scale * <q, k_j>            (returns max_j s_j)
//   exp_sum    p_j = exp(s_j - m), in place       (returns sum_j p_j)
//   accumulate acc += sum_j p_j * v_j             (sequential over j)
// The arithmetic of one query row depends only on its query vector, its
// position and the K/V values it attends to, never on the rows processed
// alongside it; that makes the output batch invariant (bitwise).

#include <cstdint>

#include "engine/ops/paged_attention.h"

namespace llmserve::paged_attention_internal {

/// Positions per online-softmax step (multiple of 16, the widest vector).
inline constexpr int kChunk = 32;

enum class Isa { kScalar, kAvx2, kAvx512 };

/// "scalar" / "avx2" / "avx512".
const char* IsaName(Isa isa);

/// True if the process's active CPU-ISA level (engine/common/cpu_isa.h: the
/// CPU's, lowered by LLMSERVE_CPU_ISA) includes `isa`.
bool IsaSupported(Isa isa);

/// The ISA PagedAttention uses: the widest supported one. Decided once per process.
Isa ActiveIsa();

/// Inner kernels of one ISA. Buffers: `scores` holds kChunk floats per row;
/// `acc` rows hold RoundUp(head_dim, 16) floats (padding lanes are scratch).
struct Kernels {
  /// scores[j] = scale * dot(q[0:head_dim], keys[j][0:head_dim]) for
  /// j < n (1 <= n <= kChunk); entries from n up to the next multiple of the
  /// vector width may be overwritten with -inf. Returns max_j scores[j].
  float (*scores)(const float* q, const float* const* keys, int n, int head_dim, float scale,
                  float* scores);
  /// scores[j] = exp(scores[j] - max) for j < n (entries up to the next
  /// multiple of the vector width become 0). Returns the sum of the n values.
  float (*exp_sum)(float* scores, int n, float max);
  /// For each of `rows` (1..4) rows r and every lane d < head_dim:
  ///   acc[r][d] += p[r][j] * values[j][d] for j = j_begin .. j_end - 1, in
  /// that order, one rounding per step (fused multiply-add where available).
  void (*accumulate)(int rows, float* const* acc, const float* const* p, const float* const* values,
                     int j_begin, int j_end, int head_dim);
  /// scores and accumulate over a bf16 cache: the same arithmetic on the
  /// exactly widened K/V values (so bitwise the f32 kernels' result on them).
  float (*scores_bf16)(const float* q, const uint16_t* const* keys, int n, int head_dim,
                       float scale, float* scores);
  void (*accumulate_bf16)(int rows, float* const* acc, const float* const* p,
                          const uint16_t* const* values, int j_begin, int j_end, int head_dim);
};

/// The kernels of `isa`; only call them if IsaSupported(isa).
const Kernels& KernelsFor(Isa isa);

extern const Kernels kScalarKernels;
extern const Kernels kAvx2Kernels;
extern const Kernels kAvx512Kernels;

/// PagedAttention (see paged_attention.h) with the kernels of `isa`, which
/// must be supported.
void PagedAttentionWithIsa(Isa isa, const float* query, int64_t query_row_stride,
                           const AttentionBatch& batch, const AttentionDims& dims,
                           const float* key_pool, const float* value_pool, float* out);
/// The same over bf16 pools.
void PagedAttentionWithIsa(Isa isa, const float* query, int64_t query_row_stride,
                           const AttentionBatch& batch, const AttentionDims& dims,
                           const uint16_t* key_pool, const uint16_t* value_pool, float* out);

}  // namespace llmserve::paged_attention_internal

#endif  // LLMSERVE_ENGINE_OPS_PAGED_ATTENTION_KERNELS_H_
