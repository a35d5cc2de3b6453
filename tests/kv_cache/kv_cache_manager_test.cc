#include "engine/kv_cache/kv_cache_manager.h"

#include <cstdint>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llmserve {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

constexpr int kBlockSize = 4;

// Tokens start, start+1, ..., start+n-1.
std::vector<int32_t> Iota(int n, int32_t start) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<int32_t> Table(const KVCacheManager& m, int64_t seq) {
  const absl::Span<const int32_t> t = m.BlockTable(seq);
  return {t.begin(), t.end()};
}

// Schedules a whole prompt the way the scheduler does: prefix lookup, then
// allocation of the remaining tokens.
bool AddPrompt(KVCacheManager& m, int64_t seq, const std::vector<int32_t>& prompt) {
  const ComputedBlocks computed = m.GetComputedBlocks(prompt);
  return m.AllocateSlots(seq, prompt, computed.num_tokens,
                         static_cast<int>(prompt.size()) - computed.num_tokens, computed);
}

TEST(KVCacheManagerTest, AllocatesBlockTablesAndGrowsThem) {
  KVCacheManager m(10, kBlockSize, true);
  EXPECT_EQ(m.num_blocks(), 10);
  EXPECT_EQ(m.block_size(), kBlockSize);
  std::vector<int32_t> tokens = Iota(10, 100);
  ASSERT_TRUE(m.AllocateSlots(1, tokens, 0, 10));
  // A fresh pool hands out blocks in id order.
  EXPECT_THAT(Table(m, 1), ElementsAre(0, 1, 2));
  EXPECT_EQ(m.num_free_blocks(), 7);
  EXPECT_DOUBLE_EQ(m.Usage(), 0.3);

  // Decode tokens 10 and 11 fit in block 2; token 12 needs a new block.
  tokens.push_back(110);
  ASSERT_TRUE(m.AllocateSlots(1, tokens, 10, 1));
  tokens.push_back(111);
  ASSERT_TRUE(m.AllocateSlots(1, tokens, 11, 1));
  EXPECT_THAT(Table(m, 1), ElementsAre(0, 1, 2));
  tokens.push_back(112);
  ASSERT_TRUE(m.AllocateSlots(1, tokens, 12, 1));
  EXPECT_THAT(Table(m, 1), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(m.num_free_blocks(), 6);

  ASSERT_TRUE(m.AllocateSlots(2, Iota(3, 0), 0, 3));
  EXPECT_THAT(Table(m, 2), ElementsAre(4));
  EXPECT_THAT(Table(m, 99), IsEmpty());
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, ChunkedPrefillAllocatesPerChunk) {
  KVCacheManager m(10, kBlockSize, true);
  const std::vector<int32_t> prompt = Iota(11, 0);
  ASSERT_TRUE(m.AllocateSlots(1, prompt, 0, 5));
  EXPECT_EQ(Table(m, 1).size(), 2u);
  ASSERT_TRUE(m.AllocateSlots(1, prompt, 5, 3));  // tokens [5, 8): still 2 blocks
  EXPECT_EQ(Table(m, 1).size(), 2u);
  ASSERT_TRUE(m.AllocateSlots(1, prompt, 8, 3));
  EXPECT_EQ(Table(m, 1).size(), 3u);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, SlotMapsPositionsThroughTheBlockTable) {
  KVCacheManager m(6, kBlockSize, true);
  ASSERT_TRUE(m.AllocateSlots(1, Iota(8, 0), 0, 8));    // blocks 0, 1
  ASSERT_TRUE(m.AllocateSlots(2, Iota(4, 50), 0, 4));   // block 2
  m.Free(1);                                            // queue: 3 4 5 1 0
  ASSERT_TRUE(m.AllocateSlots(2, Concat(Iota(4, 50), {9}), 4, 1));  // block 3
  ASSERT_TRUE(m.AllocateSlots(3, Iota(13, 200), 0, 13));            // blocks 4 5 1 0
  ASSERT_THAT(Table(m, 2), ElementsAre(2, 3));
  ASSERT_THAT(Table(m, 3), ElementsAre(4, 5, 1, 0));
  EXPECT_EQ(m.Slot(2, 0), 8);
  EXPECT_EQ(m.Slot(2, 3), 11);
  EXPECT_EQ(m.Slot(2, 4), 12);
  EXPECT_EQ(m.Slot(3, 0), 16);
  EXPECT_EQ(m.Slot(3, 7), 23);
  EXPECT_EQ(m.Slot(3, 9), 5);
  EXPECT_EQ(m.Slot(3, 12), 0);
  EXPECT_EQ(m.Slot(3, 15), 3);  // allocated, not yet written
}

TEST(KVCacheManagerDeathTest, SlotOutsideTheTableAborts) {
  KVCacheManager m(4, kBlockSize, true);
  ASSERT_TRUE(m.AllocateSlots(1, Iota(5, 0), 0, 5));
  EXPECT_DEATH(m.Slot(1, 8), "not covered");
  EXPECT_DEATH(m.Slot(7, 0), "not covered");
}

TEST(KVCacheManagerTest, ExhaustionReturnsFalseWithoutChangingState) {
  KVCacheManager m(4, kBlockSize, true);
  ASSERT_TRUE(AddPrompt(m, 1, Iota(9, 0)));  // 3 blocks, 2 of them cached
  const std::vector<int32_t> queue = m.block_pool().FreeQueue();
  ASSERT_THAT(queue, ElementsAre(3));

  EXPECT_FALSE(m.AllocateSlots(2, Iota(8, 40), 0, 8));  // needs 2 blocks
  EXPECT_THAT(Table(m, 2), IsEmpty());
  std::vector<int32_t> grown = Concat(Iota(9, 0), Iota(8, 20));
  EXPECT_FALSE(m.AllocateSlots(1, grown, 9, 8));  // 17 tokens need 5 blocks
  EXPECT_THAT(Table(m, 1), ElementsAre(0, 1, 2));
  EXPECT_EQ(m.num_free_blocks(), 1);
  EXPECT_EQ(m.block_pool().FreeQueue(), queue);
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 2);
  EXPECT_EQ(m.CheckInvariants(), "");
  // Exactly enough still succeeds.
  EXPECT_TRUE(m.AllocateSlots(1, grown, 9, 7));
  EXPECT_EQ(m.num_free_blocks(), 0);
}

TEST(KVCacheManagerTest, ReusedFreeCachedBlocksCountAgainstTheFreeBlocks) {
  KVCacheManager m(4, kBlockSize, true);
  const std::vector<int32_t> prefix = Iota(8, 0);
  ASSERT_TRUE(AddPrompt(m, 1, Concat(prefix, {99})));
  m.Free(1);
  ASSERT_EQ(m.num_free_blocks(), 4);

  // 8 cached + 9 new = 17 tokens = 5 blocks: 2 reused (free) + 3 new > 4.
  const std::vector<int32_t> long_prompt = Concat(prefix, Iota(9, 50));
  const ComputedBlocks computed = m.GetComputedBlocks(long_prompt);
  ASSERT_THAT(computed.block_ids, ElementsAre(0, 1));
  const std::vector<int32_t> queue = m.block_pool().FreeQueue();
  EXPECT_FALSE(m.AllocateSlots(2, long_prompt, 8, 9, computed));
  EXPECT_THAT(Table(m, 2), IsEmpty());
  EXPECT_EQ(m.block_pool().ref_count(0), 0);
  EXPECT_EQ(m.block_pool().FreeQueue(), queue);
  EXPECT_EQ(m.num_free_blocks(), 4);
  EXPECT_EQ(m.CheckInvariants(), "");

  // 8 cached + 5 new = 13 tokens = 4 blocks: 2 reused + 2 new = 4 fits.
  const std::vector<int32_t> prompt = Concat(prefix, Iota(5, 50));
  const ComputedBlocks computed2 = m.GetComputedBlocks(prompt);
  ASSERT_TRUE(m.AllocateSlots(2, prompt, 8, 5, computed2));
  // Free queue was [3, 2, 1, 0]: the hits leave it, 3 and 2 are allocated.
  EXPECT_THAT(Table(m, 2), ElementsAre(0, 1, 3, 2));
  EXPECT_EQ(m.num_free_blocks(), 0);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, FreeReturnsEveryBlock) {
  KVCacheManager m(8, kBlockSize, true);
  ASSERT_TRUE(AddPrompt(m, 1, Iota(10, 0)));
  ASSERT_TRUE(AddPrompt(m, 2, Iota(10, 0)));  // shares 2 blocks
  ASSERT_TRUE(AddPrompt(m, 3, Iota(5, 100)));
  EXPECT_EQ(m.num_free_blocks(), 8 - 3 - 1 - 2);
  m.Free(1);
  EXPECT_EQ(m.num_free_blocks(), 8 - 3 - 2);  // shared blocks still held by 2
  EXPECT_THAT(Table(m, 1), IsEmpty());
  m.Free(1);   // already freed: ignored
  m.Free(42);  // unknown: ignored
  m.Free(2);
  m.Free(3);
  EXPECT_EQ(m.num_free_blocks(), 8);
  EXPECT_DOUBLE_EQ(m.Usage(), 0.0);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, IdenticalPromptsShareFullBlocks) {
  KVCacheManager m(10, kBlockSize, true);
  const std::vector<int32_t> prompt = Iota(10, 7);
  const ComputedBlocks first = m.GetComputedBlocks(prompt);
  EXPECT_THAT(first.block_ids, IsEmpty());
  EXPECT_EQ(first.num_tokens, 0);
  EXPECT_EQ(m.prefix_cache_queries(), 10);
  EXPECT_EQ(m.prefix_cache_hits(), 0);
  ASSERT_TRUE(m.AllocateSlots(1, prompt, 0, 10, first));

  const ComputedBlocks second = m.GetComputedBlocks(prompt);
  EXPECT_THAT(second.block_ids, ElementsAre(0, 1));
  EXPECT_EQ(second.num_tokens, 8);
  EXPECT_EQ(m.prefix_cache_queries(), 20);
  EXPECT_EQ(m.prefix_cache_hits(), 8);
  ASSERT_TRUE(m.AllocateSlots(2, prompt, 8, 2, second));
  EXPECT_THAT(Table(m, 2), ElementsAre(0, 1, 3));
  EXPECT_EQ(m.block_pool().ref_count(0), 2);
  EXPECT_EQ(m.block_pool().ref_count(1), 2);
  EXPECT_EQ(m.block_pool().ref_count(2), 1);
  EXPECT_EQ(m.block_pool().ref_count(3), 1);
  EXPECT_EQ(m.num_free_blocks(), 6);
  EXPECT_DOUBLE_EQ(m.Usage(), 0.4);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, PartialPrefixHit) {
  KVCacheManager m(10, kBlockSize, true);
  const std::vector<int32_t> a = Iota(12, 0);
  std::vector<int32_t> b = a;
  b[5] = 1000;  // differs inside the second block
  ASSERT_TRUE(AddPrompt(m, 1, a));
  const ComputedBlocks computed = m.GetComputedBlocks(b);
  EXPECT_THAT(computed.block_ids, ElementsAre(Table(m, 1)[0]));
  EXPECT_EQ(computed.num_tokens, 4);
  EXPECT_EQ(m.prefix_cache_queries(), 24);
  EXPECT_EQ(m.prefix_cache_hits(), 4);
  ASSERT_TRUE(m.AllocateSlots(2, b, 4, 8, computed));
  EXPECT_EQ(Table(m, 2)[0], Table(m, 1)[0]);
  EXPECT_NE(Table(m, 2)[1], Table(m, 1)[1]);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, LastTokenIsNeverServedFromTheCache) {
  KVCacheManager m(10, kBlockSize, true);
  const std::vector<int32_t> eight = Iota(8, 0);
  ASSERT_TRUE(AddPrompt(m, 1, eight));
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 2);
  // Both blocks are cached, but the 8th token must be computed.
  EXPECT_EQ(m.GetComputedBlocks(eight).num_tokens, 4);
  EXPECT_EQ(m.GetComputedBlocks(Concat(eight, {8})).num_tokens, 8);
  EXPECT_EQ(m.GetComputedBlocks(Iota(4, 0)).num_tokens, 0);
  EXPECT_EQ(m.GetComputedBlocks(Iota(1, 0)).num_tokens, 0);
  EXPECT_EQ(m.GetComputedBlocks({}).num_tokens, 0);
  EXPECT_EQ(m.prefix_cache_queries(), 8 + 8 + 9 + 4 + 1);
  EXPECT_EQ(m.prefix_cache_hits(), 0 + 4 + 8);
}

TEST(KVCacheManagerTest, BlocksAreCachedOnlyOnceFull) {
  KVCacheManager m(10, kBlockSize, true);
  std::vector<int32_t> tokens = Iota(6, 0);
  ASSERT_TRUE(AddPrompt(m, 1, tokens));
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 1);
  // Allocated slots beyond the known tokens do not make a block cacheable.
  ASSERT_TRUE(m.AllocateSlots(1, tokens, 6, 2));
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 1);
  EXPECT_EQ(m.CheckInvariants(), "");

  KVCacheManager m2(10, kBlockSize, true);
  ASSERT_TRUE(AddPrompt(m2, 1, tokens));
  tokens.push_back(6);
  ASSERT_TRUE(m2.AllocateSlots(1, tokens, 6, 1));
  EXPECT_EQ(m2.block_pool().num_cached_blocks(), 1);
  tokens.push_back(7);
  ASSERT_TRUE(m2.AllocateSlots(1, tokens, 7, 1));  // block 1 now full
  EXPECT_EQ(m2.block_pool().num_cached_blocks(), 2);
  const ComputedBlocks hit = m2.GetComputedBlocks(Concat(tokens, {8}));
  EXPECT_THAT(hit.block_ids, ElementsAreArray(Table(m2, 1)));
  EXPECT_EQ(m2.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, EvictsLeastRecentlyFreedAndTailBlocksFirst) {
  KVCacheManager m(6, kBlockSize, true);
  const std::vector<int32_t> a = Iota(9, 0);
  const std::vector<int32_t> b = Iota(9, 100);
  ASSERT_TRUE(AddPrompt(m, 1, a));  // blocks 0 1 2; 0 and 1 cached
  ASSERT_TRUE(AddPrompt(m, 2, b));  // blocks 3 4 5; 3 and 4 cached
  m.Free(1);
  m.Free(2);
  // Each sequence's blocks are queued tail first.
  EXPECT_THAT(m.block_pool().FreeQueue(), ElementsAre(2, 1, 0, 5, 4, 3));

  ASSERT_TRUE(m.AllocateSlots(10, Iota(3, 500), 0, 3));
  EXPECT_THAT(Table(m, 10), ElementsAre(2));  // uncached tail block of a
  EXPECT_THAT(m.GetComputedBlocks(a).block_ids, ElementsAre(0, 1));
  ASSERT_TRUE(m.AllocateSlots(11, Iota(3, 600), 0, 3));
  EXPECT_THAT(Table(m, 11), ElementsAre(1));  // evicts a's second block
  EXPECT_THAT(m.GetComputedBlocks(a).block_ids, ElementsAre(0));
  EXPECT_THAT(m.GetComputedBlocks(b).block_ids, ElementsAre(3, 4));

  // A cache hit on b pulls its blocks out of the free queue: allocation
  // skips them and evicts a's first block instead.
  const ComputedBlocks hit = m.GetComputedBlocks(b);
  ASSERT_TRUE(m.AllocateSlots(12, b, 8, 1, hit));
  EXPECT_THAT(Table(m, 12), ElementsAre(3, 4, 0));
  EXPECT_THAT(m.block_pool().FreeQueue(), ElementsAre(5));
  EXPECT_THAT(m.GetComputedBlocks(a).block_ids, IsEmpty());
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, HashChainSeparatesEqualBlocksAfterDifferentPrefixes) {
  KVCacheManager m(10, kBlockSize, true);
  const std::vector<int32_t> x = {5, 6, 7, 8};
  const std::vector<int32_t> s1 = Concat(Concat(Iota(4, 0), x), {1});
  const std::vector<int32_t> s2 = Concat(Concat(Iota(4, 20), x), {1});
  ASSERT_TRUE(AddPrompt(m, 1, s1));
  EXPECT_THAT(m.GetComputedBlocks(s2).block_ids, IsEmpty());
  ASSERT_TRUE(AddPrompt(m, 2, s2));
  EXPECT_NE(Table(m, 1)[1], Table(m, 2)[1]);
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 4);
  EXPECT_THAT(m.GetComputedBlocks(s2).block_ids,
              ElementsAre(Table(m, 2)[0], Table(m, 2)[1]));
  EXPECT_THAT(m.GetComputedBlocks(s1).block_ids,
              ElementsAre(Table(m, 1)[0], Table(m, 1)[1]));
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, DuplicateBlocksAreNotRegisteredTwiceButExtendTheChain) {
  KVCacheManager m(10, kBlockSize, true);
  std::vector<int32_t> prompt = Iota(9, 0);
  // Both computed from scratch (no prefix lookup), e.g. scheduled together.
  ASSERT_TRUE(m.AllocateSlots(1, prompt, 0, 9));
  ASSERT_TRUE(m.AllocateSlots(2, prompt, 0, 9));
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 2);
  EXPECT_TRUE(m.block_pool().is_cached(Table(m, 1)[0]));
  EXPECT_FALSE(m.block_pool().is_cached(Table(m, 2)[0]));
  EXPECT_EQ(m.CheckInvariants(), "");
  // Sequence 2's next full block chains onto the shared prefix hashes.
  for (int32_t t = 9; t < 12; ++t) {
    prompt.push_back(t);
    ASSERT_TRUE(m.AllocateSlots(2, prompt, t, 1));
  }
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 3);
  EXPECT_THAT(m.GetComputedBlocks(Concat(prompt, {12})).block_ids,
              ElementsAre(Table(m, 1)[0], Table(m, 1)[1], Table(m, 2)[2]));
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerTest, DisabledPrefixCachingSharesAndCountsNothing) {
  KVCacheManager m(8, kBlockSize, /*enable_prefix_caching=*/false);
  const std::vector<int32_t> prompt = Iota(10, 0);
  ASSERT_TRUE(AddPrompt(m, 1, prompt));
  const ComputedBlocks computed = m.GetComputedBlocks(prompt);
  EXPECT_THAT(computed.block_ids, IsEmpty());
  EXPECT_EQ(computed.num_tokens, 0);
  ASSERT_TRUE(m.AllocateSlots(2, prompt, 0, 10, computed));
  EXPECT_THAT(Table(m, 1), ElementsAre(0, 1, 2));
  EXPECT_THAT(Table(m, 2), ElementsAre(3, 4, 5));
  EXPECT_EQ(m.prefix_cache_queries(), 0);
  EXPECT_EQ(m.prefix_cache_hits(), 0);
  EXPECT_EQ(m.block_pool().num_cached_blocks(), 0);
  m.Free(1);
  m.Free(2);
  EXPECT_EQ(m.num_free_blocks(), 8);
  EXPECT_THAT(m.GetComputedBlocks(prompt).block_ids, IsEmpty());
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(KVCacheManagerDeathTest, StaleComputedBlocksAbort) {
  KVCacheManager m(3, kBlockSize, true);
  const std::vector<int32_t> prompt = Iota(9, 0);
  ASSERT_TRUE(AddPrompt(m, 1, prompt));
  m.Free(1);
  const ComputedBlocks computed = m.GetComputedBlocks(prompt);
  ASSERT_THAT(computed.block_ids, ElementsAre(0, 1));
  // Another sequence evicts them before the hit is used.
  ASSERT_TRUE(m.AllocateSlots(2, Iota(12, 100), 0, 12));
  EXPECT_DEATH(m.AllocateSlots(3, prompt, 8, 1, computed), "stale");
}

TEST(KVCacheManagerDeathTest, InconsistentComputedAborts) {
  KVCacheManager m(8, kBlockSize, true);
  const std::vector<int32_t> prompt = Iota(9, 0);
  ASSERT_TRUE(AddPrompt(m, 1, prompt));
  const ComputedBlocks computed = m.GetComputedBlocks(prompt);
  EXPECT_DEATH(m.AllocateSlots(2, prompt, 4, 5, computed), "num_computed");
  EXPECT_DEATH(m.AllocateSlots(1, prompt, 8, 1, computed), "already has blocks");
}

}  // namespace
}  // namespace llmserve

namespace llmserve {
namespace {

// A sequence whose step failed is freed without keeping its blocks cached:
// their K/V may never have been written.
TEST(KVCacheManagerTest, FreeWithoutKeepingCachedDropsItsBlocksFromThePrefixCache) {
  const int block = 4;
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (bool keep : {true, false}) {
    KVCacheManager m(8, block, true);
    ASSERT_TRUE(m.AllocateSlots(1, prompt, 0, static_cast<int>(prompt.size())));
    m.Free(1, keep);
    EXPECT_EQ(m.CheckInvariants(), "");
    EXPECT_EQ(m.num_free_blocks(), 8);
    EXPECT_EQ(m.GetComputedBlocks(prompt).num_tokens, keep ? 8 : 0) << "keep_cached " << keep;
  }
}

}  // namespace
}  // namespace llmserve
