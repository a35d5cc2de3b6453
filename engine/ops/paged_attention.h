#ifndef LLMSERVE_ENGINE_OPS_PAGED_ATTENTION_H_
#define LLMSERVE_ENGINE_OPS_PAGED_ATTENTION_H_

#include <cstdint>

namespace llmserve {

/// Head geometry of one attention layer and of the paged KV cache
/// (see engine/kv_cache/kv_cache.h for the pool layout
/// [num_blocks, num_kv_heads, block_size, head_dim]).
struct AttentionDims {
  int num_heads = 0;     ///< query heads
  int num_kv_heads = 0;  ///< key/value heads; num_heads % num_kv_heads == 0 (GQA group size)
  int head_dim = 0;
  int block_size = 0;    ///< tokens per KV-cache block
  float scale = 0;       ///< softmax scale, normally 1/sqrt(head_dim)
};

/// Describes the sequences of one batched forward step. Tokens of sequence s
/// are rows [query_start_loc[s], query_start_loc[s+1]) of the activations; they
/// are the *last* q_len = query_start_loc[s+1] - query_start_loc[s] tokens of
/// the sequence, whose total length (cached + new) is context_lens[s], so the
/// i-th of them sits at position context_lens[s] - q_len + i and attends to
/// positions [0, that position] (causal). A decode has q_len 1; a (chunked)
/// prefill has q_len > 1 and may start after already-cached tokens.
struct AttentionBatch {
  int num_seqs = 0;
  const int32_t* query_start_loc = nullptr;  ///< [num_seqs + 1], starts at 0
  const int32_t* context_lens = nullptr;     ///< [num_seqs]
  const int32_t* block_tables = nullptr;     ///< [num_seqs, block_table_stride] physical block ids
  int block_table_stride = 0;                ///< entries per row of block_tables
};

/// Writes the new keys and values of `num_tokens` tokens into the paged pools:
/// token t goes to slot slot_mapping[t] (= block * block_size + offset).
/// `key` / `value` rows are [num_kv_heads * head_dim] with `row_stride` floats
/// between consecutive tokens (so they can point into a fused QKV activation).
/// Slots < 0 are skipped.
void WriteKVCache(const float* key, const float* value, int64_t row_stride, int num_tokens,
                  const int64_t* slot_mapping, const AttentionDims& dims, float* key_pool,
                  float* value_pool);
/// The same into bf16 pools (a bf16 KV cache): each element rounded to
/// nearest even (FloatToBf16).
void WriteKVCache(const float* key, const float* value, int64_t row_stride, int num_tokens,
                  const int64_t* slot_mapping, const AttentionDims& dims, uint16_t* key_pool,
                  uint16_t* value_pool);

/// Paged causal self-attention over the KV cache (PagedAttention, Kwon et al.
/// 2023), for decode and (chunked) prefill tokens alike, with grouped-query
/// heads (query head h reads KV head h / (num_heads / num_kv_heads)) and a
/// numerically stable softmax (running max).
///   query: [num_tokens, num_heads * head_dim], `query_row_stride` floats apart
///   out:   [num_tokens, num_heads * head_dim], contiguous
/// The K/V of every attended position must already be in the pools
/// (WriteKVCache first). Vectorized (AVX-512 / AVX2 chosen at run time, with a
/// portable path) and parallelized with OpenMP over sequences × KV heads.
void PagedAttention(const float* query, int64_t query_row_stride, const AttentionBatch& batch,
                    const AttentionDims& dims, const float* key_pool, const float* value_pool,
                    float* out);
/// The same over bf16 pools: K/V are widened to f32 exactly at the load, so the
/// result is bitwise that of the f32 kernel on the widened values (and batch
/// invariant in the same way). AVX512_BF16 dot products (vdpbf16ps) are not
/// used: they would round the query to bf16 too.
void PagedAttention(const float* query, int64_t query_row_stride, const AttentionBatch& batch,
                    const AttentionDims& dims, const uint16_t* key_pool,
                    const uint16_t* value_pool, float* out);

/// The kernel PagedAttention runs on this CPU: "avx512", "avx2" or "scalar".
const char* PagedAttentionKernelName();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_OPS_PAGED_ATTENTION_H_
