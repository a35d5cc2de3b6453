// Tests of WriteKVCache and PagedAttention against a dense causal attention
// reference (double accumulation over contiguous per-sequence K/V), for every
// ISA path this CPU supports. Bitwise batch invariance:
// paged_attention_invariance_test.cc; the bf16 KV cache:
// paged_attention_bf16_test.cc.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/ops/paged_attention.h"
#include "engine/ops/paged_attention_kernels.h"
#include "gtest/gtest.h"
#include "tests/ops/paged_attention_problem.h"

namespace llmserve {
namespace paged_attention_testing {
namespace {

using paged_attention_internal::IsaName;

// GQA ratios 1, 2, 4, 8 and multi-query (one KV head for 12 query heads).
constexpr HeadConfig kHeadConfigs[] = {{3, 3}, {4, 2}, {8, 2}, {8, 1}, {12, 1}};
constexpr int kHeadDims[] = {8, 16, 64, 80, 128};
constexpr int kBlockSizes[] = {1, 4, 16, 32};

/// Runs `make_seqs(rng)` batches over every head config x head_dim x block size.
template <typename MakeSeqs>
void SweepShapes(MakeSeqs make_seqs) {
  uint32_t seed = 1;
  for (const HeadConfig& hc : kHeadConfigs) {
    for (int head_dim : kHeadDims) {
      for (int block_size : kBlockSizes) {
        std::mt19937 rng(seed);
        const std::vector<SeqSpec> seqs = make_seqs(rng);
        SCOPED_TRACE("heads " + std::to_string(hc.num_heads) + "/" +
                     std::to_string(hc.num_kv_heads) + " head_dim " + std::to_string(head_dim) +
                     " block_size " + std::to_string(block_size) + " seed " + std::to_string(seed));
        ExpectAllIsasMatchReference(
            MakeProblem(MakeDims(hc.num_heads, hc.num_kv_heads, head_dim, block_size), seqs, seed));
        ++seed;
      }
    }
  }
}

TEST(WriteKVCacheTest, PlacesRowsAtTheirSlotsAndSkipsNegativeSlots) {
  const AttentionDims d = MakeDims(/*num_heads=*/6, /*num_kv_heads=*/3, /*head_dim=*/20,
                                   /*block_size=*/4);
  const int num_blocks = 6, num_tokens = 12;
  const int64_t row_stride = int64_t{d.num_heads + 2 * d.num_kv_heads} * d.head_dim;
  std::mt19937 rng(7);
  std::vector<float> qkv(num_tokens * row_stride);
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = static_cast<float>(i + 1);
  std::vector<int64_t> all_slots(num_blocks * d.block_size);
  std::iota(all_slots.begin(), all_slots.end(), 0);
  std::shuffle(all_slots.begin(), all_slots.end(), rng);
  std::vector<int64_t> slots(all_slots.begin(), all_slots.begin() + num_tokens);
  slots[2] = -1;
  slots[9] = -1;
  const float kSentinel = -7777.0f;
  const int64_t pool_size = int64_t{num_blocks} * d.num_kv_heads * d.block_size * d.head_dim;
  std::vector<float> key_pool(pool_size, kSentinel), value_pool(pool_size, kSentinel);
  const float* key = qkv.data() + d.num_heads * d.head_dim;
  const float* value = key + d.num_kv_heads * d.head_dim;
  WriteKVCache(key, value, row_stride, num_tokens, slots.data(), d, key_pool.data(),
               value_pool.data());

  const std::vector<WrittenElement> written = ElementsWritten(d, slots, row_stride);
  for (const WrittenElement& w : written) {
    const std::string where = "token " + std::to_string(w.token) + " head " +
                              std::to_string(w.head) + " dim " + std::to_string(w.dim);
    EXPECT_EQ(key_pool[w.pool], key[w.source]) << where;
    EXPECT_EQ(value_pool[w.pool], value[w.source]) << where;
  }
  // Nothing else was touched (in particular not by the slot -1 tokens).
  const int64_t count = static_cast<int64_t>(written.size());
  EXPECT_EQ(pool_size - std::count(key_pool.begin(), key_pool.end(), kSentinel), count);
  EXPECT_EQ(pool_size - std::count(value_pool.begin(), value_pool.end(), kSentinel), count);
  EXPECT_EQ(count, int64_t{num_tokens - 2} * d.num_kv_heads * d.head_dim);
}

TEST(PagedAttentionTest, PureDecodeBatchMatchesReference) {
  SweepShapes([](std::mt19937& rng) {
    std::vector<SeqSpec> seqs;
    const int n = RandInt(rng, 1, 6);
    for (int i = 0; i < n; ++i) seqs.push_back({RandInt(rng, 1, 140), 1});
    return seqs;
  });
}

TEST(PagedAttentionTest, PurePrefillMatchesReference) {
  SweepShapes([](std::mt19937& rng) {
    const int len = RandInt(rng, 33, 64);
    return std::vector<SeqSpec>{{len, len}};
  });
}

TEST(PagedAttentionTest, ChunkedPrefillMatchesReference) {
  SweepShapes([](std::mt19937& rng) {
    const int cached = RandInt(rng, 1, 70), q_len = RandInt(rng, 2, 40);
    return std::vector<SeqSpec>{{cached + q_len, q_len}};
  });
}

TEST(PagedAttentionTest, MixedBatchMatchesReference) {
  SweepShapes([](std::mt19937& rng) {
    std::vector<SeqSpec> seqs = {{RandInt(rng, 1, 120), 1},
                                 {RandInt(rng, 2, 40), 0},  // in the batch, no tokens
                                 {RandInt(rng, 2, 30), 0}};
    seqs[2].q_len = seqs[2].context_len;  // prefill
    const int cached = RandInt(rng, 5, 60), q_len = RandInt(rng, 2, 20);
    seqs.push_back({cached + q_len, q_len});  // chunked prefill
    seqs.push_back({RandInt(rng, 30, 90), 1});
    std::shuffle(seqs.begin(), seqs.end(), rng);
    return seqs;
  });
}

TEST(PagedAttentionTest, OddHeadDimsAndTinyContexts) {
  uint32_t seed = 100;
  for (int head_dim : {1, 3, 5, 12, 20, 36, 100}) {
    for (int block_size : {1, 3, 16}) {
      SCOPED_TRACE("head_dim " + std::to_string(head_dim) + " block_size " +
                   std::to_string(block_size));
      const std::vector<SeqSpec> seqs = {{1, 1}, {2, 2}, {33, 1}, {47, 9}, {5, 0}, {64, 64}};
      ExpectAllIsasMatchReference(MakeProblem(MakeDims(6, 2, head_dim, block_size), seqs, seed++));
    }
  }
}

TEST(PagedAttentionTest, LargeScoresStayFiniteAndExact) {
  // Each query is 300x one key it may attend to, so its scores reach ~1e3
  // (exp overflows without max subtraction) and one position dominates.
  const AttentionDims d = MakeDims(4, 2, 64, 16);
  ProblemOptions options;
  options.value_scale = 1000.0f;  // outputs ~1e3: relative tolerance
  Problem p = MakeProblem(d, {{100, 1}, {70, 20}, {40, 40}}, 11, options);
  std::mt19937 rng(12);
  for (size_t s = 0; s < p.seqs.size(); ++s) {
    for (int i = 0; i < p.seqs[s].q_len; ++i) {
      const int token = p.query_start_loc[s] + i;
      const int pos = p.seqs[s].context_len - p.seqs[s].q_len + i;
      for (int h = 0; h < d.num_heads; ++h) {
        const int target = RandInt(rng, 0, pos);
        const int kvh = h / (d.num_heads / d.num_kv_heads);
        for (int e = 0; e < d.head_dim; ++e) {
          p.query[token * p.query_row_stride + h * d.head_dim + e] =
              300.0f * p.keys[s][(int64_t{target} * d.num_kv_heads + kvh) * d.head_dim + e];
        }
      }
    }
  }
  ExpectAllIsasMatchReference(p);
}

TEST(PagedAttentionTest, ModeratelyLargeValuesMatchRelatively) {
  ProblemOptions options;
  options.query_scale = 12.0f;  // scores of std ~4: peaked softmax
  options.value_scale = 500.0f;
  ExpectAllIsasMatchReference(
      MakeProblem(MakeDims(8, 2, 64, 16), {{300, 1}, {130, 65}, {257, 1}}, 21, options));
}

TEST(PagedAttentionTest, VectorPathsAgreeWithScalarPath) {
  if (!IsaSupported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const Problem p =
      MakeProblem(MakeDims(8, 2, 80, 16), {{150, 1}, {77, 77}, {90, 30}, {33, 1}, {200, 1}}, 31);
  const std::vector<float> scalar = RunAttention(p, Isa::kScalar);
  for (Isa isa : SupportedIsas()) {
    if (isa == Isa::kScalar) continue;
    const std::vector<float> vec = RunAttention(p, isa);
    double max_diff = 0;
    for (size_t i = 0; i < scalar.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(double{vec[i]} - scalar[i]));
    }
    EXPECT_LE(max_diff, 1e-5) << IsaName(isa) << " vs scalar";
    EXPECT_NE(std::memcmp(vec.data(), scalar.data(), vec.size() * sizeof(float)), 0)
        << "paths are expected to differ in rounding; identical output suggests the "
        << IsaName(isa) << " kernels were not used";
  }
}

TEST(PagedAttentionTest, ActiveIsaIsTheWidestSupported) {
  EXPECT_EQ(paged_attention_internal::ActiveIsa(), SupportedIsas().back());
}

}  // namespace
}  // namespace paged_attention_testing
}  // namespace llmserve
