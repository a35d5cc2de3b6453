#include "engine/kv_cache/kv_cache_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace llmserve {

absl::StatusOr<KVCacheConfig> GetKVCacheConfig(const KVCacheSpec& spec,
                                               const KVCacheSizingOptions& options) {
  if (options.block_size <= 0 || options.block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_size must be in 1..1024, got ", options.block_size));
  }
  if (options.num_bytes < 0 || options.num_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the KV-cache size must be >= 0, got kv_cache_bytes ", options.num_bytes,
        ", kv_cache_tokens ", options.num_tokens));
  }
  if (spec.num_layers <= 0 || spec.num_kv_heads <= 0 || spec.head_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV-cache spec needs positive dimensions, got ", spec.num_layers, " layers, ",
        spec.num_kv_heads, " KV heads, head_dim ", spec.head_dim));
  }
  KVCacheConfig config;
  config.block_size = options.block_size;
  config.bytes_per_block = spec.bytes_per_token() * options.block_size;
  int64_t num_blocks;
  if (options.num_bytes > 0) {
    num_blocks = options.num_bytes / config.bytes_per_block;
  } else if (options.num_tokens > 0) {
    num_blocks = (options.num_tokens + options.block_size - 1) / options.block_size;
  } else {
    const int64_t blocks_per_seq =
        (int64_t{options.max_context} + options.block_size - 1) / options.block_size;
    num_blocks = std::min<int64_t>(blocks_per_seq * options.max_num_seqs,
                                   options.default_max_bytes / config.bytes_per_block);
  }
  if (num_blocks < 1 || num_blocks > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the KV cache would have ", num_blocks, " blocks of ", config.bytes_per_block,
        " bytes; give a --kv-cache-bytes of at least one block"));
  }
  config.num_blocks = static_cast<int>(num_blocks);
  return config;
}

}  // namespace llmserve
