// KVCacheManager::ShareBlocks: the `n` completions of one prompt reference
// the prompt's full blocks (reference counts), grow their own tails, and
// every block returns to the free list when all have finished.
#include <cstdint>
#include <numeric>
#include <vector>

#include "engine/kv_cache/kv_cache_manager.h"
#include "gtest/gtest.h"

namespace llmserve {
namespace {

constexpr int kBlockSize = 4;

std::vector<int32_t> Iota(int n, int32_t start) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

void CheckSharing(bool prefix_caching) {
  KVCacheManager m(16, kBlockSize, prefix_caching);
  const std::vector<int32_t> prompt = Iota(10, 100);  // 2 full blocks + 2 tokens
  ASSERT_TRUE(m.AllocateSlots(0, prompt, 0, 10));
  const std::vector<int32_t> parent(m.BlockTable(0).begin(), m.BlockTable(0).end());
  ASSERT_EQ(parent.size(), 3u);

  for (int64_t child = 1; child <= 2; ++child) {
    m.ShareBlocks(child, 0, 2);
    // The child recomputes the prompt's tail (tokens 8, 9) and grows on its own.
    std::vector<int32_t> tokens = prompt;
    ASSERT_TRUE(m.AllocateSlots(child, tokens, 8, 2));
    tokens.push_back(static_cast<int32_t>(child));
    ASSERT_TRUE(m.AllocateSlots(child, tokens, 10, 1));
    const auto table = m.BlockTable(child);
    ASSERT_EQ(table.size(), 3u);
    EXPECT_EQ(table[0], parent[0]);
    EXPECT_EQ(table[1], parent[1]);
    EXPECT_NE(table[2], parent[2]);  // own tail block
  }
  EXPECT_EQ(m.block_pool().ref_count(parent[0]), 3);
  EXPECT_EQ(m.block_pool().ref_count(parent[1]), 3);
  EXPECT_EQ(m.CheckInvariants(), "");
  EXPECT_EQ(m.num_free_blocks(), 16 - 5);

  m.Free(0);
  EXPECT_EQ(m.block_pool().ref_count(parent[0]), 2);
  m.Free(1);
  m.Free(2);
  EXPECT_EQ(m.CheckInvariants(), "");
  EXPECT_EQ(m.num_free_blocks(), 16);
}

TEST(ShareBlocksTest, ChildrenReferenceThePromptsFullBlocks) { CheckSharing(true); }

TEST(ShareBlocksTest, WorksWithoutPrefixCaching) { CheckSharing(false); }

TEST(ShareBlocksDeathTest, SharingMoreBlocksThanTheSourceHoldsAborts) {
  KVCacheManager m(8, kBlockSize, true);
  ASSERT_TRUE(m.AllocateSlots(0, Iota(5, 1), 0, 5));
  EXPECT_DEATH(m.ShareBlocks(1, 0, 3), "fewer than 3 blocks");
}

}  // namespace
}  // namespace llmserve
