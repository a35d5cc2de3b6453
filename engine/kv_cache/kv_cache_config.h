#ifndef LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_CONFIG_H_
#define LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_CONFIG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"

namespace llmserve {

/// What one token's K/V costs: the model's attention dimensions and the
/// element type of the cache storage.
struct KVCacheSpec {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  /// Element type of the K/V pools (f32 today; bf16 halves every size below).
  DType dtype = DType::kF32;

  /// Bytes of one token across all layers, K and V:
  /// layers × 2 × kv_heads × head_dim × element size.
  int64_t bytes_per_token() const {
    return int64_t{num_layers} * 2 * num_kv_heads * head_dim *
           static_cast<int64_t>(DTypeSize(dtype));
  }
};

/// The sizing options a user gives (engine flags).
struct KVCacheSizingOptions {
  /// Tokens per block, 1..1024.
  int block_size = 16;
  /// Budget in bytes (all layers, K and V); 0 = use num_tokens.
  int64_t num_bytes = 0;
  /// Budget in tokens (rounded up to blocks), used when num_bytes == 0; 0 =
  /// enough for max_num_seqs sequences of max_context tokens, capped at
  /// default_max_bytes.
  int64_t num_tokens = 0;
  /// The context in effect (positions per sequence) and the batch size, for the default.
  int max_context = 0;
  int max_num_seqs = 0;
  int64_t default_max_bytes = int64_t{2} << 30;
};

/// The resolved KV-cache configuration (vLLM's KVCacheConfig).
struct KVCacheConfig {
  int num_blocks = 0;
  int block_size = 0;
  int64_t bytes_per_block = 0;  ///< all layers, K and V
  int64_t num_bytes() const { return int64_t{num_blocks} * bytes_per_block; }
  int64_t num_tokens() const { return int64_t{num_blocks} * block_size; }
};

/// Resolves the number of blocks from the options (after vLLM's
/// get_kv_cache_config): num_bytes / bytes_per_block when a byte budget is
/// given, else ceil(num_tokens / block_size), else max_num_seqs full-context
/// sequences capped at default_max_bytes.
/// Errors: INVALID_ARGUMENT naming the option — block_size outside 1..1024,
/// negative budgets, a spec without dimensions, or a budget that gives no
/// block (or more than 2^30 blocks).
absl::StatusOr<KVCacheConfig> GetKVCacheConfig(const KVCacheSpec& spec,
                                               const KVCacheSizingOptions& options);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_CONFIG_H_
