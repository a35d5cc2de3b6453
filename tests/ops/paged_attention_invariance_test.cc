// Bitwise batch invariance of PagedAttention: a sequence's output does not
// depend on the batch around it, the thread count, how its prompt was split
// into prefill chunks and decode steps, the block size or the placement of
// its blocks.

#include <omp.h>

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
using paged_attention_internal::PagedAttentionWithIsa;

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

}  // namespace
}  // namespace paged_attention_testing
}  // namespace llmserve
