#include "engine/kv_cache/kv_cache.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace llmserve {

void KVCache::FreeDeleter::operator()(void* p) const { std::free(p); }

absl::StatusOr<std::unique_ptr<KVCache>> KVCache::Create(const KVCacheShape& shape) {
  if (shape.num_layers <= 0 || shape.num_blocks <= 0 || shape.num_kv_heads <= 0 ||
      shape.block_size <= 0 || shape.head_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid KV cache shape: layers ", shape.num_layers, ", blocks ", shape.num_blocks,
        ", kv heads ", shape.num_kv_heads, ", block size ", shape.block_size, ", head dim ",
        shape.head_dim));
  }
  if (shape.dtype != DType::kF32 && shape.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported KV cache dtype ",
                                                   std::string(DTypeName(shape.dtype)),
                                                   " (expected f32 or bf16)"));
  }
  std::unique_ptr<KVCache> cache(new KVCache(shape));
  const std::size_t bytes =
      static_cast<std::size_t>(shape.pool_elements()) * static_cast<std::size_t>(shape.element_bytes());
  const std::size_t rounded = (bytes + 63) / 64 * 64;
  for (int l = 0; l < shape.num_layers; ++l) {
    for (auto* pools : {&cache->keys_, &cache->values_}) {
      void* p = std::aligned_alloc(64, rounded);
      if (p == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot allocate KV cache: ", rounded, " bytes per pool"));
      }
      std::memset(p, 0, rounded);
      pools->emplace_back(p);
    }
  }
  return cache;
}

}  // namespace llmserve
