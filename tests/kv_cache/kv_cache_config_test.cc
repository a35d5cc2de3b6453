// KV-cache sizing (GetKVCacheConfig) against hand-computed block counts.
#include "engine/kv_cache/kv_cache_config.h"

#include <gtest/gtest.h>

namespace llmserve {
namespace {

// stories260K: 5 layers, 4 KV heads of 8 → 5·2·4·8·4 = 1280 bytes per f32 token.
KVCacheSpec Stories260K(DType dtype = DType::kF32) {
  KVCacheSpec spec;
  spec.num_layers = 5;
  spec.num_kv_heads = 4;
  spec.head_dim = 8;
  spec.dtype = dtype;
  return spec;
}

TEST(KVCacheConfigTest, ByteBudgetGivesWholeBlocks) {
  KVCacheSizingOptions o;
  o.block_size = 16;
  o.num_bytes = 1280 * 16 * 10 + 100;  // ten blocks and change
  auto c = GetKVCacheConfig(Stories260K(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bytes_per_block, 1280 * 16);
  EXPECT_EQ(c->num_blocks, 10);
  EXPECT_EQ(c->num_tokens(), 160);
  EXPECT_EQ(c->num_bytes(), 1280 * 16 * 10);
}

TEST(KVCacheConfigTest, ElementSizeComesFromTheDType) {
  KVCacheSizingOptions o;
  o.block_size = 16;
  o.num_bytes = 1280 * 16 * 10;
  auto c = GetKVCacheConfig(Stories260K(DType::kBF16), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bytes_per_block, 640 * 16);
  EXPECT_EQ(c->num_blocks, 20);  // half the bytes per token: twice the blocks
}

TEST(KVCacheConfigTest, TokenBudgetRoundsUpToBlocks) {
  KVCacheSizingOptions o;
  o.block_size = 16;
  o.num_tokens = 33;
  auto c = GetKVCacheConfig(Stories260K(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_blocks, 3);
}

TEST(KVCacheConfigTest, DefaultFitsMaxNumSeqsFullSequencesUnderTheCap) {
  KVCacheSizingOptions o;
  o.block_size = 16;
  o.max_context = 100;  // 7 blocks per sequence
  o.max_num_seqs = 3;
  auto c = GetKVCacheConfig(Stories260K(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_blocks, 21);
  o.default_max_bytes = 1280 * 16 * 5;  // the cap wins
  c = GetKVCacheConfig(Stories260K(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_blocks, 5);
}

TEST(KVCacheConfigTest, BadOptionsNameTheOption) {
  KVCacheSizingOptions o;
  o.block_size = 0;
  auto c = GetKVCacheConfig(Stories260K(), o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("block_size"), absl::string_view::npos);
  o.block_size = 16;
  o.num_bytes = 100;  // less than one block
  c = GetKVCacheConfig(Stories260K(), o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("kv-cache-bytes"), absl::string_view::npos);
  o.num_bytes = -1;
  EXPECT_EQ(GetKVCacheConfig(Stories260K(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmserve
