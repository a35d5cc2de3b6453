#include "engine/kv_cache/block_pool.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llmserve {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<int32_t> Allocate(BlockPool& pool, int n) {
  std::vector<int32_t> out;
  pool.Allocate(n, &out);
  return out;
}

TEST(BlockPoolTest, StartsWithEveryBlockFreeInIdOrder) {
  BlockPool pool(5, 4, /*enable_caching=*/true);
  EXPECT_EQ(pool.num_blocks(), 5);
  EXPECT_EQ(pool.num_free_blocks(), 5);
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockPoolTest, AllocatePopsHeadAndReleaseAppendsAtTail) {
  BlockPool pool(5, 4, true);
  EXPECT_THAT(Allocate(pool, 2), ElementsAre(0, 1));
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.ref_count(1), 1);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(2, 3, 4));
  pool.Release(1);
  pool.Release(0);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(2, 3, 4, 1, 0));
  EXPECT_EQ(pool.num_free_blocks(), 5);
  // Least recently freed first: the never-used blocks, then 1, then 0.
  EXPECT_THAT(Allocate(pool, 4), ElementsAre(2, 3, 4, 1));
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockPoolTest, TouchUnlinksFromTheMiddleAndCountsReferences) {
  BlockPool pool(4, 2, true);
  pool.Touch(2);  // unreferenced: leaves the queue from the middle
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(0, 1, 3));
  pool.Touch(2);
  EXPECT_EQ(pool.ref_count(2), 2);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  pool.Release(2);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(0, 1, 3));  // still referenced once
  pool.Release(2);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(0, 1, 3, 2));
  pool.Touch(3);  // the tail
  pool.Touch(0);  // the head
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(1, 2));
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockPoolTest, CachedBlockSurvivesReleaseAndIsEvictedWhenReallocated) {
  BlockPool pool(2, 2, true);
  const std::vector<int32_t> tokens = {7, 8};
  const BlockHash hash = HashBlockTokens(kRootBlockHash, tokens);
  const std::vector<int32_t> ids = Allocate(pool, 1);
  ASSERT_THAT(ids, ElementsAre(0));
  ASSERT_TRUE(pool.Cache(0, hash, kRootBlockHash, tokens));
  EXPECT_TRUE(pool.is_cached(0));
  EXPECT_THAT(pool.cached_tokens(0), ElementsAre(7, 8));
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, tokens), 0);

  pool.Release(0);  // evictable but still cached
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, tokens), 0);
  EXPECT_EQ(pool.num_cached_blocks(), 1);
  EXPECT_EQ(pool.CheckInvariants(), "");

  EXPECT_THAT(Allocate(pool, 2), ElementsAre(1, 0));  // 0 was freed last → evicted last
  EXPECT_FALSE(pool.is_cached(0));
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, tokens), BlockPool::kNoBlock);
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockPoolTest, CacheKeepsTheExistingEntryForADuplicateHash) {
  BlockPool pool(3, 2, true);
  const std::vector<int32_t> tokens = {1, 2};
  const BlockHash hash = HashBlockTokens(kRootBlockHash, tokens);
  Allocate(pool, 2);
  EXPECT_TRUE(pool.Cache(0, hash, kRootBlockHash, tokens));
  EXPECT_FALSE(pool.Cache(1, hash, kRootBlockHash, tokens));
  EXPECT_FALSE(pool.Cache(0, hash, kRootBlockHash, tokens));  // already cached
  EXPECT_FALSE(pool.is_cached(1));
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, tokens), 0);
  EXPECT_EQ(pool.num_cached_blocks(), 1);
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockPoolTest, LookupVerifiesParentAndTokensSoCollisionsMiss) {
  BlockPool pool(2, 3, true);
  const std::vector<int32_t> tokens = {4, 5, 6};
  const BlockHash hash = HashBlockTokens(kRootBlockHash, tokens);
  Allocate(pool, 1);
  ASSERT_TRUE(pool.Cache(0, hash, kRootBlockHash, tokens));
  // Same key presented with other contents (a simulated hash collision).
  const std::vector<int32_t> other_tokens = {4, 5, 7};
  const BlockHash other_parent = HashBlockTokens(kRootBlockHash, other_tokens);
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, other_tokens), BlockPool::kNoBlock);
  EXPECT_EQ(pool.Lookup(hash, other_parent, tokens), BlockPool::kNoBlock);
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, tokens), 0);
}

TEST(BlockPoolTest, DisabledCachingCachesNothing) {
  BlockPool pool(2, 2, /*enable_caching=*/false);
  const std::vector<int32_t> tokens = {1, 2};
  const BlockHash hash = HashBlockTokens(kRootBlockHash, tokens);
  Allocate(pool, 1);
  EXPECT_FALSE(pool.Cache(0, hash, kRootBlockHash, tokens));
  EXPECT_EQ(pool.Lookup(hash, kRootBlockHash, tokens), BlockPool::kNoBlock);
  EXPECT_THAT(pool.cached_tokens(0), IsEmpty());
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockHashTest, ChainsTheParentAndDistinguishesContents) {
  const std::vector<int32_t> x = {1, 2, 3, 4};
  const std::vector<int32_t> p1 = {9, 9, 9, 9};
  const std::vector<int32_t> p2 = {9, 9, 9, 8};
  const BlockHash after_p1 = HashBlockTokens(HashBlockTokens(kRootBlockHash, p1), x);
  const BlockHash after_p2 = HashBlockTokens(HashBlockTokens(kRootBlockHash, p2), x);
  EXPECT_FALSE(after_p1 == after_p2);
  EXPECT_FALSE(after_p1.hi == after_p2.hi);
  EXPECT_FALSE(after_p1.lo == after_p2.lo);
  EXPECT_TRUE(HashBlockTokens(kRootBlockHash, x) == HashBlockTokens(kRootBlockHash, x));
  // Order, value and length all matter.
  const std::vector<int32_t> swapped = {2, 1, 3, 4};
  const std::vector<int32_t> shorter = {1, 2, 3};
  const std::vector<int32_t> negative = {1, 2, 3, -4};
  EXPECT_FALSE(HashBlockTokens(kRootBlockHash, x) == HashBlockTokens(kRootBlockHash, swapped));
  EXPECT_FALSE(HashBlockTokens(kRootBlockHash, x) == HashBlockTokens(kRootBlockHash, shorter));
  EXPECT_FALSE(HashBlockTokens(kRootBlockHash, x) == HashBlockTokens(kRootBlockHash, negative));
}

TEST(BlockPoolDeathTest, RejectsMisuse) {
  BlockPool pool(2, 2, true);
  EXPECT_DEATH(pool.Release(0), "unreferenced");
  EXPECT_DEATH(pool.Touch(2), "block id 2");
  std::vector<int32_t> out;
  EXPECT_DEATH(pool.Allocate(3, &out), "allocating 3 blocks");
}

}  // namespace
}  // namespace llmserve
