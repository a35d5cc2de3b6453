// KV-cache storage: f32 and bf16 pools (sizes, accessors by dtype, zeroed,
// aligned) and shape validation.
#include "engine/kv_cache/kv_cache.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace llmserve {
namespace {

KVCacheShape Shape(DType dtype) {
  KVCacheShape s;
  s.num_layers = 2;
  s.num_blocks = 3;
  s.num_kv_heads = 4;
  s.block_size = 16;
  s.head_dim = 8;
  s.dtype = dtype;
  return s;
}

TEST(KVCacheTest, Bf16HalvesTheBytesPerBlock) {
  EXPECT_EQ(Shape(DType::kF32).bytes_per_block(), int64_t{2} * 2 * 4 * 16 * 8 * 4);
  EXPECT_EQ(Shape(DType::kBF16).bytes_per_block() * 2, Shape(DType::kF32).bytes_per_block());
}

TEST(KVCacheTest, PoolsOfTheCacheDtypeOnlyAlignedAndZeroed) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    auto cache = KVCache::Create(Shape(dtype));
    ASSERT_TRUE(cache.ok()) << cache.status();
    EXPECT_EQ((*cache)->dtype(), dtype);
    for (int l = 0; l < 2; ++l) {
      const bool f32 = dtype == DType::kF32;
      EXPECT_EQ((*cache)->key_pool(l) != nullptr, f32);
      EXPECT_EQ((*cache)->value_pool(l) != nullptr, f32);
      EXPECT_EQ((*cache)->key_pool_bf16(l) != nullptr, !f32);
      EXPECT_EQ((*cache)->value_pool_bf16(l) != nullptr, !f32);
      const int64_t n = Shape(dtype).pool_elements();
      if (f32) {
        const float* k = (*cache)->key_pool(l);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(k) % 64, 0u);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(k[i], 0.0f);
      } else {
        const uint16_t* k = (*cache)->key_pool_bf16(l);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(k) % 64, 0u);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(k[i], 0);
      }
    }
  }
}

TEST(KVCacheTest, RejectsBadShapesAndDtypes) {
  KVCacheShape s = Shape(DType::kF16);
  auto cache = KVCache::Create(s);
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(std::string(cache.status().message()).find("f16"), std::string::npos);
  s = Shape(DType::kF32);
  s.num_blocks = 0;
  EXPECT_FALSE(KVCache::Create(s).ok());
}

}  // namespace
}  // namespace llmserve
