// The bf16 KV cache: WriteKVCache rounds each element to nearest even, and
// PagedAttention on bf16 pools equals the f32 kernel on the widened values
// (bitwise) and stays within bf16 rounding of the float64 reference.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/common/dtype.h"
#include "engine/ops/paged_attention.h"
#include "engine/ops/paged_attention_kernels.h"
#include "gtest/gtest.h"
#include "tests/ops/paged_attention_problem.h"

namespace llmserve {
namespace paged_attention_testing {
namespace {

using paged_attention_internal::IsaName;
using paged_attention_internal::PagedAttentionWithIsa;

/// The f32 pools of `p` rounded to bf16 (NaN poison stays NaN), and those
/// values widened back to f32.
struct Bf16Pools {
  std::vector<uint16_t> key, value;
  std::vector<float> key_widened, value_widened;
};

Bf16Pools RoundPools(const Problem& p) {
  Bf16Pools b;
  for (float x : p.key_pool) b.key.push_back(FloatToBFloat16(x));
  for (float x : p.value_pool) b.value.push_back(FloatToBFloat16(x));
  for (uint16_t x : b.key) b.key_widened.push_back(BFloat16ToFloat(x));
  for (uint16_t x : b.value) b.value_widened.push_back(BFloat16ToFloat(x));
  return b;
}

TEST(PagedAttentionBf16Test, Bf16PoolsEqualTheF32KernelOnWidenedValuesBitwise) {
  // head_dim 72: an AVX-512 tail of 8 lanes; 36: an AVX2 tail of 4 lanes.
  for (int head_dim : {72, 36, 64}) {
    const AttentionDims d = MakeDims(/*num_heads=*/8, /*num_kv_heads=*/2, head_dim, /*block_size=*/16);
    Problem p = MakeProblem(d, {{37, 1}, {70, 5}, {130, 1}, {33, 33}}, 100 + head_dim);
    const Bf16Pools b = RoundPools(p);
    for (Isa isa : SupportedIsas()) {
      std::vector<float> got(int64_t{p.num_tokens()} * p.row_width(), kNaN);
      std::vector<float> want(got.size(), kNaN);
      PagedAttentionWithIsa(isa, p.query.data(), p.query_row_stride, p.batch(), d, b.key.data(),
                            b.value.data(), got.data());
      PagedAttentionWithIsa(isa, p.query.data(), p.query_row_stride, p.batch(), d,
                            b.key_widened.data(), b.value_widened.data(), want.data());
      ExpectBitwiseEqual(got, want, std::string(IsaName(isa)) + " head_dim " + std::to_string(head_dim));
      for (float x : got) ASSERT_TRUE(std::isfinite(x)) << IsaName(isa);
    }
  }
}

TEST(PagedAttentionBf16Test, Bf16CacheStaysWithinBf16RoundingOfTheReference) {
  // K/V rounded to 8 significant bits: outputs (convex combinations of V with
  // perturbed weights) stay within 2^-6 of the f64 reference for |V| <= 1.
  const AttentionDims d = MakeDims(8, 2, 64, 16);
  Problem p = MakeProblem(d, {{100, 1}, {50, 50}}, 77);
  const Bf16Pools b = RoundPools(p);
  const std::vector<double> ref = Reference(p);
  std::vector<float> got(ref.size(), kNaN);
  PagedAttention(p.query.data(), p.query_row_stride, p.batch(), d, b.key.data(), b.value.data(),
                 got.data());
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 0x1p-6) << i;
}

TEST(PagedAttentionBf16Test, WriteKVCacheRoundsEachElementToNearestEven) {
  const AttentionDims d = MakeDims(4, 2, 20, 4);
  const int num_tokens = 5, num_blocks = 3;
  const int64_t row_stride = int64_t{d.num_heads + 2 * d.num_kv_heads} * d.head_dim;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> qkv(num_tokens * row_stride);
  for (float& x : qkv) x = nd(rng);
  const std::vector<int64_t> slots = {3, 0, -1, 9, 5};
  const int64_t pool_size = int64_t{num_blocks} * d.num_kv_heads * d.block_size * d.head_dim;
  std::vector<float> key32(pool_size, 0.0f), value32(pool_size, 0.0f);
  std::vector<uint16_t> key16(pool_size, 0), value16(pool_size, 0);
  const float* key = qkv.data() + d.num_heads * d.head_dim;
  const float* value = key + d.num_kv_heads * d.head_dim;
  WriteKVCache(key, value, row_stride, num_tokens, slots.data(), d, key32.data(), value32.data());
  WriteKVCache(key, value, row_stride, num_tokens, slots.data(), d, key16.data(), value16.data());
  for (int64_t i = 0; i < pool_size; ++i) {
    ASSERT_EQ(key16[i], FloatToBFloat16(key32[i])) << i;
    ASSERT_EQ(value16[i], FloatToBFloat16(value32[i])) << i;
  }
}

TEST(PagedAttentionBf16Test, WriteKVCacheBothPoolTypesOnTheParallelPathTouchOnlyTheirSlots) {
  // 512 tokens x 2 KV heads x 64 = 2^16 elements: the OpenMP-parallel branch.
  // Both pool element types go through one template; each must write exactly
  // the mapped rows (slots in reverse order, every 7th token skipped) and the
  // bf16 pool must hold the f32 pool's values rounded.
  const AttentionDims d = MakeDims(4, 2, 64, 16);
  const int num_tokens = 512, num_blocks = num_tokens / 16 + 1;
  const int64_t row_stride = int64_t{d.num_heads + 2 * d.num_kv_heads} * d.head_dim;
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> qkv(num_tokens * row_stride);
  for (float& x : qkv) x = nd(rng);
  std::vector<int64_t> slots(num_tokens);
  int written_tokens = 0;
  for (int t = 0; t < num_tokens; ++t) {
    slots[t] = t % 7 == 3 ? -1 : num_blocks * d.block_size - 1 - t;
    written_tokens += slots[t] >= 0 ? 1 : 0;
  }
  const int64_t pool_size = int64_t{num_blocks} * d.num_kv_heads * d.block_size * d.head_dim;
  const float kSentinel32 = -7777.0f;
  const uint16_t kSentinel16 = 0x7fc1;  // a NaN: never the rounding of a finite input
  std::vector<float> key32(pool_size, kSentinel32), value32(pool_size, kSentinel32);
  std::vector<uint16_t> key16(pool_size, kSentinel16), value16(pool_size, kSentinel16);
  const float* key = qkv.data() + d.num_heads * d.head_dim;
  const float* value = key + d.num_kv_heads * d.head_dim;
  WriteKVCache(key, value, row_stride, num_tokens, slots.data(), d, key32.data(), value32.data());
  WriteKVCache(key, value, row_stride, num_tokens, slots.data(), d, key16.data(), value16.data());
  const std::vector<WrittenElement> elements = ElementsWritten(d, slots, row_stride);
  for (const WrittenElement& w : elements) {
    ASSERT_EQ(key32[w.pool], key[w.source]) << w.token;
    ASSERT_EQ(value32[w.pool], value[w.source]) << w.token;
    ASSERT_EQ(key16[w.pool], FloatToBFloat16(key[w.source])) << w.token;
    ASSERT_EQ(value16[w.pool], FloatToBFloat16(value[w.source])) << w.token;
  }
  const int64_t written = static_cast<int64_t>(elements.size());
  EXPECT_EQ(written, int64_t{written_tokens} * d.num_kv_heads * d.head_dim);
  EXPECT_EQ(pool_size - std::count(key32.begin(), key32.end(), kSentinel32), written);
  EXPECT_EQ(pool_size - std::count(value32.begin(), value32.end(), kSentinel32), written);
  EXPECT_EQ(pool_size - std::count(key16.begin(), key16.end(), kSentinel16), written);
  EXPECT_EQ(pool_size - std::count(value16.begin(), value16.end(), kSentinel16), written);
}
}  // namespace
}  // namespace paged_attention_testing
}  // namespace llmserve
