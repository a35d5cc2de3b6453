#ifndef LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_H_
#define LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve {

/// Shape of the paged KV-cache storage. For every layer, K and V each live in
/// a pool of `num_blocks` blocks laid out as
///   [num_blocks, num_kv_heads, block_size, head_dim]  (f32, row-major),
/// so one block of one KV head is a contiguous [block_size, head_dim] tile that
/// the attention kernel streams through. Token slot s (= block * block_size +
/// offset) of KV head h starts at element
///   ((block * num_kv_heads + h) * block_size + offset) * head_dim.
struct KVCacheShape {
  int num_layers = 0;
  int num_blocks = 0;
  int num_kv_heads = 0;
  int block_size = 0;
  int head_dim = 0;

  /// Elements in one layer's K (or V) pool.
  int64_t pool_elements() const {
    return int64_t{num_blocks} * num_kv_heads * block_size * head_dim;
  }
  /// Bytes of one block across all layers, K and V.
  int64_t bytes_per_block() const {
    return int64_t{num_layers} * 2 * num_kv_heads * block_size * head_dim * 4;
  }
};

/// The KV-cache storage: per layer, a K pool and a V pool (64-byte aligned,
/// zero-initialised). Allocated once at engine start.
class KVCache {
 public:
  /// Allocates the pools. Errors: INVALID_ARGUMENT for non-positive sizes,
  /// RESOURCE_EXHAUSTED if the allocation fails.
  static absl::StatusOr<std::unique_ptr<KVCache>> Create(const KVCacheShape& shape);

  const KVCacheShape& shape() const { return shape_; }
  float* key_pool(int layer) { return keys_[layer].get(); }
  float* value_pool(int layer) { return values_[layer].get(); }

 private:
  struct FreeDeleter {
    void operator()(float* p) const;
  };
  explicit KVCache(const KVCacheShape& shape) : shape_(shape) {}
  KVCacheShape shape_;
  std::vector<std::unique_ptr<float[], FreeDeleter>> keys_, values_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_H_
