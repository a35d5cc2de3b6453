#include "tests/ops/paged_attention_problem.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "gtest/gtest.h"

namespace llmserve {
namespace paged_attention_testing {

using paged_attention_internal::IsaName;
using paged_attention_internal::IsaSupported;
using paged_attention_internal::PagedAttentionWithIsa;

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

std::vector<WrittenElement> ElementsWritten(const AttentionDims& d,
                                            const std::vector<int64_t>& slots,
                                            int64_t row_stride) {
  std::vector<WrittenElement> elements;
  for (int t = 0; t < static_cast<int>(slots.size()); ++t) {
    if (slots[t] < 0) continue;
    const int64_t block = slots[t] / d.block_size, offset = slots[t] % d.block_size;
    for (int h = 0; h < d.num_kv_heads; ++h) {
      for (int e = 0; e < d.head_dim; ++e) {
        elements.push_back({t, h, e, t * row_stride + h * d.head_dim + e,
                            ((block * d.num_kv_heads + h) * d.block_size + offset) * d.head_dim + e});
      }
    }
  }
  return elements;
}

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
                    const ProblemOptions& options) {
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

int RandInt(std::mt19937& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

std::vector<float> Rows(const std::vector<float>& out, int row_width, int first, int count) {
  return std::vector<float>(out.begin() + int64_t{first} * row_width,
                            out.begin() + int64_t{first + count} * row_width);
}

void ExpectBitwiseEqual(const std::vector<float>& a, const std::vector<float>& b,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

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

}  // namespace paged_attention_testing
}  // namespace llmserve
