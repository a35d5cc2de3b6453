// The shared fixture of the paged attention tests (tests/ops/paged_attention*_test.cc):
// a batch of sequences with dense per-sequence K/V, the same K/V written into
// shuffled physical blocks of NaN-poisoned pools, a float64 dense causal
// attention reference, and runners for each ISA path.

#ifndef LLMSERVE_TESTS_OPS_PAGED_ATTENTION_PROBLEM_H_
#define LLMSERVE_TESTS_OPS_PAGED_ATTENTION_PROBLEM_H_

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/ops/paged_attention.h"
#include "engine/ops/paged_attention_kernels.h"

namespace llmserve {
namespace paged_attention_testing {

using paged_attention_internal::Isa;

/// The value unwritten pool slots and outputs are poisoned with.
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// The paged attention ISA paths this CPU runs, narrowest first.
std::vector<Isa> SupportedIsas();

/// Attention dimensions with scale 1/sqrt(head_dim).
AttentionDims MakeDims(int num_heads, int num_kv_heads, int head_dim, int block_size);

/// One sequence of a batch: its context length (tokens, including the new
/// ones) and how many query tokens it brings this step.
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

/// Scales of the random queries and values.
struct ProblemOptions {
  float query_scale = 4.0f;  // scores of std ~1.3 with unit K: a non-flat softmax
  float value_scale = 1.0f;
};

/// Fills the paged pools of `p` (block size p.dims.block_size) from its dense
/// K/V, with physical blocks drawn in shuffled order from `rng`.
void BuildPools(Problem& p, std::mt19937& rng);

/// A random problem: K uniform in [-1, 1), V in +-value_scale, queries in
/// +-query_scale, the K/V columns of the fused query rows NaN.
Problem MakeProblem(const AttentionDims& dims, const std::vector<SeqSpec>& seqs, uint32_t seed,
                    const ProblemOptions& options = {});

/// Dense causal attention in double: out [num_tokens, num_heads * head_dim].
std::vector<double> Reference(const Problem& p);

/// The kernel of `isa` on the whole batch: [num_tokens, num_heads * head_dim].
std::vector<float> RunAttention(const Problem& p, Isa isa);

/// Every output within 1e-5 of the reference, relative to the magnitude of
/// the values being averaged when that exceeds 1: an output is a convex
/// combination of V rows, so float rounding of the scores perturbs it in
/// proportion to |V| (not to |output|, which cancellation can make small).
void ExpectMatchesReference(const Problem& p, const std::vector<double>& ref, Isa isa);

/// ExpectMatchesReference for every supported ISA.
void ExpectAllIsasMatchReference(const Problem& p);

/// One K (or V) element WriteKVCache copies: from `source` in the fused rows
/// ([num_tokens, row_stride], K at column head · head_dim + dim of the K
/// part) to `pool` in a pool ([num_blocks, num_kv_heads, block_size,
/// head_dim]).
struct WrittenElement {
  int token, head, dim;
  int64_t source, pool;
};

/// Every element WriteKVCache writes for `slots` (one per token; negative:
/// not written), in token, head, dim order.
std::vector<WrittenElement> ElementsWritten(const AttentionDims& d,
                                            const std::vector<int64_t>& slots,
                                            int64_t row_stride);

/// Query heads and KV heads of one attention shape.
struct HeadConfig {
  int num_heads, num_kv_heads;
};

/// Uniform in [lo, hi].
int RandInt(std::mt19937& rng, int lo, int hi);

/// Rows [first, first + count) of `out` ([rows, row_width]).
std::vector<float> Rows(const std::vector<float>& out, int row_width, int first, int count);

/// `a` and `b` have the same size and the same bits.
void ExpectBitwiseEqual(const std::vector<float>& a, const std::vector<float>& b,
                        const std::string& what);

/// Sequence `s` of `p` run as a batch of one (same pools, its own rows).
std::vector<float> RunSequenceAlone(const Problem& p, size_t s, Isa isa);

}  // namespace paged_attention_testing
}  // namespace llmserve

#endif  // LLMSERVE_TESTS_OPS_PAGED_ATTENTION_PROBLEM_H_
