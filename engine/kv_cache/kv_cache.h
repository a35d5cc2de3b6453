#ifndef LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_H_
#define LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"

namespace llmserve {

/// Shape of the paged KV-cache storage. For every layer, K and V each live in
/// a pool of `num_blocks` blocks laid out as
///   [num_blocks, num_kv_heads, block_size, head_dim]  (f32 or bf16, row-major),
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
  /// Element type: kF32 or kBF16 (`--kv-cache-dtype`; bf16 halves the bytes
  /// attention reads per step).
  DType dtype = DType::kF32;

  /// Bytes of one element (4 or 2).
  int64_t element_bytes() const { return dtype == DType::kF32 ? 4 : 2; }
  /// Elements in one layer's K (or V) pool.
  int64_t pool_elements() const {
    return int64_t{num_blocks} * num_kv_heads * block_size * head_dim;
  }
  /// Bytes of one block across all layers, K and V.
  int64_t bytes_per_block() const {
    return int64_t{num_layers} * 2 * num_kv_heads * block_size * head_dim * element_bytes();
  }
};

/// The KV-cache storage: per layer, a K pool and a V pool (64-byte aligned,
/// zero-initialised). Allocated once at engine start.
class KVCache {
 public:
  /// Allocates the pools. Errors: INVALID_ARGUMENT for non-positive sizes or
  /// a dtype other than f32 / bf16, RESOURCE_EXHAUSTED if the allocation fails.
  static absl::StatusOr<std::unique_ptr<KVCache>> Create(const KVCacheShape& shape);

  const KVCacheShape& shape() const { return shape_; }
  DType dtype() const { return shape_.dtype; }
  /// f32 pools; nullptr when dtype() is bf16.
  float* key_pool(int layer) { return Pool<float>(keys_, layer, DType::kF32); }
  float* value_pool(int layer) { return Pool<float>(values_, layer, DType::kF32); }
  /// bf16 pools (bit patterns); nullptr when dtype() is f32.
  uint16_t* key_pool_bf16(int layer) { return Pool<uint16_t>(keys_, layer, DType::kBF16); }
  uint16_t* value_pool_bf16(int layer) { return Pool<uint16_t>(values_, layer, DType::kBF16); }

 private:
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  using Buffer = std::unique_ptr<void, FreeDeleter>;
  explicit KVCache(const KVCacheShape& shape) : shape_(shape) {}
  template <typename T>
  T* Pool(std::vector<Buffer>& pools, int layer, DType want) {
    return shape_.dtype == want ? static_cast<T*>(pools[layer].get()) : nullptr;
  }
  KVCacheShape shape_;
  std::vector<Buffer> keys_, values_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_H_
