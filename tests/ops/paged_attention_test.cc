// Tests of WriteKVCache and PagedAttention against a dense causal attention
// reference (double accumulation over contiguous per-sequence K/V), for every
// ISA path this CPU supports, plus bitwise batch-invariance properties; a
// bf16 KV cache against the f32 kernels on its exactly widened values (bitwise).

#include "engine/ops/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/common/dtype.h"
#include "engine/ops/paged_attention_kernels.h"
#include "gtest/gtest.h"

namespace llmserve {
namespace {

using paged_attention_internal::Isa;
using paged_attention_internal::IsaName;
using paged_attention_internal::IsaSupported;
using paged_attention_internal::PagedAttentionWithIsa;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (IsaSupported(isa)) isas.push_back(isa);
  }
  return isas;
}

AttentionDims MakeDims(int num_heads, int num_kv_heads, int head_dim, int block_size) {
  AttentionDims dims;
  dims.num_heads = num_heads;
  dims.num_kv_heads = num_kv_heads;
  dims.head_dim = head_dim;
  dims.block_size = block_size;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  return dims;
}

struct SeqSpec {
  int context_len;
  int q_len;
};

/// A batch of sequences with dense K/V per sequence (the reference's input)
/// and the same K/V written into shuffled physical blocks of NaN-poisoned
/// pools (the kernel's input), so reading any unwritten slot shows up as NaN.
struct Problem {
  AttentionDims dims;
  std::vector<SeqSpec> seqs;
  float value_scale = 1.0f;                      // V entries are uniform in +-value_scale
  std::vector<std::vector<float>> keys, values;  // per seq [context_len, kv_heads, head_dim]
  int64_t query_row_stride = 0;                  // fused-QKV-like row stride
  std::vector<float> query;                      // [num_tokens, query_row_stride]
  std::vector<int32_t> query_start_loc, context_lens, block_tables;
  int block_table_stride = 0;
  int num_blocks = 0;
  std::vector<float> key_pool, value_pool;

  int num_tokens() const { return query_start_loc.back(); }
  int row_width() const { return dims.num_heads * dims.head_dim; }
  AttentionBatch batch() const {
    AttentionBatch b;
    b.num_seqs = static_cast<int>(seqs.size());
    b.query_start_loc = query_start_loc.data();
    b.context_lens = context_lens.data();
    b.block_tables = block_tables.data();
    b.block_table_stride = block_table_stride;
    return b;
  }
};

struct ProblemOptions {
  float query_scale = 4.0f;  // scores of std ~1.3 with unit K: a non-flat softmax
  float value_scale = 1.0f;
};

/// Fills the paged pools of `p` (block size p.dims.block_size) from its dense
/// K/V, with physical blocks drawn in shuffled order from `rng`.
void BuildPools(Problem& p, std::mt19937& rng) {
  const AttentionDims& d = p.dims;
  int max_blocks = 1, total_blocks = 0;
  for (const SeqSpec& s : p.seqs) {
    const int n = (s.context_len + d.block_size - 1) / d.block_size;
    max_blocks = std::max(max_blocks, n);
    total_blocks += n;
  }
  p.num_blocks = total_blocks + 3;  // a few never-used blocks
  p.block_table_stride = max_blocks + 2;
  std::vector<int32_t> physical(p.num_blocks);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  p.block_tables.assign(p.seqs.size() * p.block_table_stride, -1);
  const int64_t pool_size = int64_t{p.num_blocks} * d.num_kv_heads * d.block_size * d.head_dim;
  p.key_pool.assign(pool_size, kNaN);
  p.value_pool.assign(pool_size, kNaN);
  int next = 0;
  for (size_t s = 0; s < p.seqs.size(); ++s) {
    const int ctx = p.seqs[s].context_len;
    const int n = (ctx + d.block_size - 1) / d.block_size;
    for (int b = 0; b < n; ++b) p.block_tables[s * p.block_table_stride + b] = physical[next++];
    std::vector<int64_t> slots(ctx);
    for (int pos = 0; pos < ctx; ++pos) {
      slots[pos] =
          int64_t{p.block_tables[s * p.block_table_stride + pos / d.block_size]} * d.block_size +
          pos % d.block_size;
    }
    WriteKVCache(p.keys[s].data(), p.values[s].data(), int64_t{d.num_kv_heads} * d.head_dim, ctx,
                 slots.data(), d, p.key_pool.data(), p.value_pool.data());
  }
}

Problem MakeProblem(const AttentionDims& dims, const std::vector<SeqSpec>& seqs, uint32_t seed,
                    const ProblemOptions& options = {}) {
  std::mt19937 rng(seed);
  // Uniform in [-1, 1) from one 24-bit draw (cheaper than uniform_real_distribution).
  auto uniform = [](std::mt19937& g) { return static_cast<float>(g() >> 8) * 0x1p-23f - 1.0f; };
  Problem p;
  p.dims = dims;
  p.seqs = seqs;
  p.value_scale = options.value_scale;
  const int kv_width = dims.num_kv_heads * dims.head_dim;
  p.query_start_loc = {0};
  for (const SeqSpec& s : seqs) {
    p.context_lens.push_back(s.context_len);
    p.query_start_loc.push_back(p.query_start_loc.back() + s.q_len);
    std::vector<float> k(int64_t{s.context_len} * kv_width), v(k.size());
    for (float& x : k) x = uniform(rng);
    for (float& x : v) x = options.value_scale * uniform(rng);
    p.keys.push_back(std::move(k));
    p.values.push_back(std::move(v));
  }
  p.query_row_stride = int64_t{dims.num_heads} * dims.head_dim + 2 * kv_width;
  p.query.assign(p.num_tokens() * p.query_row_stride, kNaN);  // K/V columns stay NaN
  for (int t = 0; t < p.num_tokens(); ++t) {
    for (int i = 0; i < p.row_width(); ++i) {
      p.query[t * p.query_row_stride + i] = options.query_scale * uniform(rng);
    }
  }
  BuildPools(p, rng);
  return p;
}

/// Dense causal attention in double: out [num_tokens, num_heads * head_dim].
std::vector<double> Reference(const Problem& p) {
  const AttentionDims& d = p.dims;
  const int group = d.num_heads / d.num_kv_heads;
  std::vector<double> out(int64_t{p.num_tokens()} * p.row_width());
  for (size_t s = 0; s < p.seqs.size(); ++s) {
    const int ctx = p.seqs[s].context_len, q_len = p.seqs[s].q_len;
    const float* k = p.keys[s].data();
    const float* v = p.values[s].data();
    for (int i = 0; i < q_len; ++i) {
      const int token = p.query_start_loc[s] + i;
      const int pos = ctx - q_len + i;
      for (int h = 0; h < d.num_heads; ++h) {
        const int kvh = h / group;
        const float* q = &p.query[token * p.query_row_stride + h * d.head_dim];
        std::vector<double> scores(pos + 1);
        double max = -std::numeric_limits<double>::infinity();
        for (int j = 0; j <= pos; ++j) {
          const float* kj = k + (int64_t{j} * d.num_kv_heads + kvh) * d.head_dim;
          double dot[4] = {0, 0, 0, 0};  // four partial sums: latency, not accuracy
          for (int e = 0; e < d.head_dim; ++e) dot[e % 4] += double{q[e]} * kj[e];
          scores[j] = ((dot[0] + dot[1]) + (dot[2] + dot[3])) * d.scale;
          max = std::max(max, scores[j]);
        }
        double sum = 0;
        for (double& x : scores) sum += (x = std::exp(x - max));
        double* o = &out[int64_t{token} * p.row_width() + h * d.head_dim];
        for (int j = 0; j <= pos; ++j) {
          const float* vj = v + (int64_t{j} * d.num_kv_heads + kvh) * d.head_dim;
          const double w = scores[j] / sum;
          for (int e = 0; e < d.head_dim; ++e) o[e] += w * vj[e];
        }
      }
    }
  }
  return out;
}

std::vector<float> RunAttention(const Problem& p, Isa isa) {
  std::vector<float> out(int64_t{p.num_tokens()} * p.row_width(), kNaN);
  PagedAttentionWithIsa(isa, p.query.data(), p.query_row_stride, p.batch(), p.dims,
                        p.key_pool.data(), p.value_pool.data(), out.data());
  return out;
}

/// Every output within 1e-5 of the reference, relative to the magnitude of
/// the values being averaged when that exceeds 1: an output is a convex
/// combination of V rows, so float rounding of the scores perturbs it in
/// proportion to |V| (not to |output|, which cancellation can make small).
void ExpectMatchesReference(const Problem& p, const std::vector<double>& ref, Isa isa) {
  const std::vector<float> got = RunAttention(p, isa);
  ASSERT_EQ(got.size(), ref.size());
  const double magnitude = std::max(1.0, double{p.value_scale});
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    const double tol = 1e-5 * std::max(magnitude, std::abs(ref[i]));
    if (!(std::abs(got[i] - ref[i]) <= tol)) {  // also catches NaN
      ADD_FAILURE() << IsaName(isa) << " element " << i << " (token " << i / p.row_width()
                    << ", head " << i % p.row_width() / p.dims.head_dim << "): got " << got[i]
                    << ", reference " << ref[i];
      ++bad;
    }
  }
}

void ExpectAllIsasMatchReference(const Problem& p) {
  const std::vector<double> ref = Reference(p);
  for (Isa isa : SupportedIsas()) ExpectMatchesReference(p, ref, isa);
}

struct HeadConfig {
  int num_heads, num_kv_heads;
};
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

int RandInt(std::mt19937& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
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

  int64_t written = 0;
  for (int t = 0; t < num_tokens; ++t) {
    if (slots[t] < 0) continue;
    const int64_t block = slots[t] / d.block_size, offset = slots[t] % d.block_size;
    for (int h = 0; h < d.num_kv_heads; ++h) {
      for (int e = 0; e < d.head_dim; ++e) {
        const int64_t at = ((block * d.num_kv_heads + h) * d.block_size + offset) * d.head_dim + e;
        const int64_t src = t * row_stride + h * d.head_dim + e;
        EXPECT_EQ(key_pool[at], key[src]) << "token " << t << " head " << h << " dim " << e;
        EXPECT_EQ(value_pool[at], value[src]) << "token " << t << " head " << h << " dim " << e;
        ++written;
      }
    }
  }
  // Nothing else was touched (in particular not by the slot -1 tokens).
  EXPECT_EQ(pool_size - std::count(key_pool.begin(), key_pool.end(), kSentinel), written);
  EXPECT_EQ(pool_size - std::count(value_pool.begin(), value_pool.end(), kSentinel), written);
  EXPECT_EQ(written, int64_t{num_tokens - 2} * d.num_kv_heads * d.head_dim);
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

// ---- Batch invariance: bitwise equality --------------------------------------

std::vector<float> Rows(const std::vector<float>& out, int row_width, int first, int count) {
  return std::vector<float>(out.begin() + int64_t{first} * row_width,
                            out.begin() + int64_t{first + count} * row_width);
}

void ExpectBitwiseEqual(const std::vector<float>& a, const std::vector<float>& b,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

/// Sequence `s` of `p` run as a batch of one (same pools, its own rows).
std::vector<float> RunSequenceAlone(const Problem& p, size_t s, Isa isa) {
  const int first = p.query_start_loc[s], q_len = p.seqs[s].q_len;
  const int32_t qsl[2] = {0, q_len};
  AttentionBatch alone;
  alone.num_seqs = 1;
  alone.query_start_loc = qsl;
  alone.context_lens = &p.context_lens[s];
  alone.block_tables = &p.block_tables[s * p.block_table_stride];
  alone.block_table_stride = p.block_table_stride;
  std::vector<float> out(int64_t{q_len} * p.row_width(), kNaN);
  PagedAttentionWithIsa(isa, p.query.data() + first * p.query_row_stride, p.query_row_stride,
                        alone, p.dims, p.key_pool.data(), p.value_pool.data(), out.data());
  return out;
}

TEST(PagedAttentionTest, SequenceAloneEqualsSequenceInBatchBitwise) {
  for (const HeadConfig hc : {HeadConfig{4, 4}, HeadConfig{8, 2}, HeadConfig{12, 1}}) {
    for (int head_dim : {20, 64}) {
      const Problem p =
          MakeProblem(MakeDims(hc.num_heads, hc.num_kv_heads, head_dim, 16),
                      {{90, 1}, {130, 45}, {60, 60}, {257, 1}, {35, 1}, {200, 17}}, 41 + head_dim);
      for (Isa isa : SupportedIsas()) {
        const std::vector<float> batched = RunAttention(p, isa);
        for (size_t s = 0; s < p.seqs.size(); ++s) {
          ExpectBitwiseEqual(RunSequenceAlone(p, s, isa),
                             Rows(batched, p.row_width(), p.query_start_loc[s], p.seqs[s].q_len),
                             std::string(IsaName(isa)) + " seq " + std::to_string(s) +
                                 " head_dim " + std::to_string(head_dim));
        }
      }
    }
  }
}

// A large decode batch: each work item then covers several (up to all) KV
// heads of a sequence and prefetches across them (alone, a sequence's heads
// are separate items). Against the float64 reference, and bitwise against
// each sequence alone.
TEST(PagedAttentionTest, LargeDecodeBatchMatchesReferenceAndSequencesAlone) {
  uint32_t seed = 300;
  for (const HeadConfig hc : {HeadConfig{12, 12}, HeadConfig{8, 4}, HeadConfig{6, 3}}) {
    for (int num_decodes : {9, 40}) {
      for (int head_dim : {20, 64}) {
        std::mt19937 rng(seed);
        std::vector<SeqSpec> seqs;
        for (int i = 0; i < num_decodes; ++i) seqs.push_back({RandInt(rng, 1, 150), 1});
        seqs.push_back({50, 20});  // a chunked prefill in the same step
        const Problem p = MakeProblem(MakeDims(hc.num_heads, hc.num_kv_heads, head_dim, 16), seqs,
                                      seed++);
        SCOPED_TRACE("heads " + std::to_string(hc.num_heads) + "/" +
                     std::to_string(hc.num_kv_heads) + " decodes " + std::to_string(num_decodes) +
                     " head_dim " + std::to_string(head_dim));
        const std::vector<double> ref = Reference(p);
        for (Isa isa : SupportedIsas()) {
          ExpectMatchesReference(p, ref, isa);
          const std::vector<float> batched = RunAttention(p, isa);
          for (size_t s = 0; s < p.seqs.size(); ++s) {
            ExpectBitwiseEqual(RunSequenceAlone(p, s, isa),
                               Rows(batched, p.row_width(), p.query_start_loc[s], p.seqs[s].q_len),
                               std::string(IsaName(isa)) + " seq " + std::to_string(s));
          }
        }
      }
    }
  }
}

TEST(PagedAttentionTest, ThreadCountDoesNotChangeBits) {
  const Problem p =
      MakeProblem(MakeDims(8, 2, 64, 16), {{300, 1}, {200, 120}, {64, 1}, {97, 97}, {150, 1}}, 51);
  const int default_threads = omp_get_max_threads();
  for (Isa isa : SupportedIsas()) {
    omp_set_num_threads(1);
    const std::vector<float> one = RunAttention(p, isa);
    omp_set_num_threads(3);
    const std::vector<float> three = RunAttention(p, isa);
    omp_set_num_threads(default_threads);
    const std::vector<float> dflt = RunAttention(p, isa);
    ExpectBitwiseEqual(one, three, std::string(IsaName(isa)) + " 1 vs 3 threads");
    ExpectBitwiseEqual(one, dflt, std::string(IsaName(isa)) + " 1 vs default threads");
  }
}

TEST(PagedAttentionTest, PrefillEqualsChunkedPrefillEqualsDecodeStepsBitwise) {
  const int len = 75;
  const Problem full = MakeProblem(MakeDims(8, 2, 64, 4), {{len, len}}, 61);
  // The same tokens as one-token decodes and as chunks of 13 / 40 / 22,
  // replayed against the same pools with a shorter context each time.
  const std::vector<std::vector<int>> splits = {std::vector<int>(len, 1), {13, 40, 22}};
  for (Isa isa : SupportedIsas()) {
    const std::vector<float> reference = RunAttention(full, isa);
    for (const std::vector<int>& split : splits) {
      std::vector<float> pieces;
      int done = 0;
      for (int q_len : split) {
        const int32_t qsl[2] = {0, q_len};
        const int32_t ctx = done + q_len;
        AttentionBatch b = full.batch();
        b.query_start_loc = qsl;
        b.context_lens = &ctx;
        std::vector<float> out(int64_t{q_len} * full.row_width(), kNaN);
        PagedAttentionWithIsa(isa, full.query.data() + done * full.query_row_stride,
                              full.query_row_stride, b, full.dims, full.key_pool.data(),
                              full.value_pool.data(), out.data());
        pieces.insert(pieces.end(), out.begin(), out.end());
        done += q_len;
      }
      ExpectBitwiseEqual(
          pieces, reference,
          std::string(IsaName(isa)) + " split into " + std::to_string(split.size()) + " pieces");
    }
  }
}

TEST(PagedAttentionTest, BlockSizeAndPlacementDoNotChangeBits) {
  const Problem base = MakeProblem(MakeDims(4, 2, 36, 1), {{130, 1}, {70, 30}, {45, 45}}, 71);
  for (Isa isa : SupportedIsas()) {
    const std::vector<float> expected = RunAttention(base, isa);
    for (int block_size : {1, 5, 16, 32, 64}) {
      Problem p = base;
      p.dims.block_size = block_size;
      std::mt19937 rng(block_size);
      BuildPools(p, rng);
      ExpectBitwiseEqual(RunAttention(p, isa), expected,
                         std::string(IsaName(isa)) + " block_size " + std::to_string(block_size));
    }
  }
}

TEST(PagedAttentionTest, ActiveIsaIsTheWidestSupported) {
  EXPECT_EQ(paged_attention_internal::ActiveIsa(), SupportedIsas().back());
}

// ---- bf16 KV cache ----

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
  int64_t written = 0;
  for (int t = 0; t < num_tokens; ++t) {
    if (slots[t] < 0) continue;
    const int64_t block = slots[t] / d.block_size, offset = slots[t] % d.block_size;
    for (int h = 0; h < d.num_kv_heads; ++h) {
      for (int e = 0; e < d.head_dim; ++e) {
        const int64_t at = ((block * d.num_kv_heads + h) * d.block_size + offset) * d.head_dim + e;
        const int64_t src = t * row_stride + h * d.head_dim + e;
        ASSERT_EQ(key32[at], key[src]) << t;
        ASSERT_EQ(value32[at], value[src]) << t;
        ASSERT_EQ(key16[at], FloatToBFloat16(key[src])) << t;
        ASSERT_EQ(value16[at], FloatToBFloat16(value[src])) << t;
        ++written;
      }
    }
  }
  EXPECT_EQ(written, int64_t{written_tokens} * d.num_kv_heads * d.head_dim);
  EXPECT_EQ(pool_size - std::count(key32.begin(), key32.end(), kSentinel32), written);
  EXPECT_EQ(pool_size - std::count(value32.begin(), value32.end(), kSentinel32), written);
  EXPECT_EQ(pool_size - std::count(key16.begin(), key16.end(), kSentinel16), written);
  EXPECT_EQ(pool_size - std::count(value16.begin(), value16.end(), kSentinel16), written);
}

}  // namespace
}  // namespace llmserve
