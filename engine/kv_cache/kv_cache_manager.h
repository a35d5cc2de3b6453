#ifndef LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_
#define LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "engine/kv_cache/block_pool.h"

namespace llmserve {

/// Blocks a new sequence can reuse from the prefix cache.
struct ComputedBlocks {
  std::vector<int32_t> block_ids;  ///< leading full blocks of the prompt found cached
  int num_tokens = 0;              ///< block_ids.size() * block_size
};

/// Maps sequences to KV-cache blocks (vLLM's KVCacheManager; Kwon et al. 2023,
/// "Efficient Memory Management for LLM Serving with PagedAttention").
///
/// Each sequence owns a block table: logical block i of the sequence (token
/// positions [i*block_size, (i+1)*block_size)) lives in physical block
/// block_table[i]. With prefix caching, every *full* block is identified by the
/// hash of (parent block hash, its block_size token ids); a new sequence whose
/// prompt starts with cached blocks shares them (reference counted) instead of
/// recomputing them. Blocks whose reference count drops to 0 stay cached and
/// are evicted least-recently-used when a free block is needed.
///
/// With enable_prefix_caching false nothing is hashed or cached:
/// GetComputedBlocks returns no blocks and counts neither queries nor hits.
///
/// Contract violations by the caller (a stale ComputedBlocks whose blocks were
/// evicted between GetComputedBlocks and AllocateSlots, `computed` passed for
/// a sequence that already has blocks, num_computed != computed.num_tokens,
/// Slot() of an uncovered position) abort the process rather than corrupt the
/// KV cache of other sequences.
///
/// Not thread-safe: owned and used by the scheduler on the engine thread.
class KVCacheManager {
 public:
  /// `num_blocks` physical blocks of `block_size` tokens each.
  KVCacheManager(int num_blocks, int block_size, bool enable_prefix_caching);

  /// Looks up the longest run of cached full blocks that prefixes `tokens`
  /// (a new sequence's prompt, or prompt + generated tokens after preemption).
  /// At most (tokens.size() - 1) / block_size blocks are matched, so at least one
  /// token is left to compute (its logits are needed). Does not take
  /// references; pass the result to AllocateSlots in the same step. Counts
  /// tokens.size() prefix-cache query tokens and num_tokens hit tokens.
  ComputedBlocks GetComputedBlocks(absl::Span<const int32_t> tokens);

  /// As GetComputedBlocks, without counting the lookup in the prefix-cache
  /// counters (for retries and readmissions after preemption); count it with
  /// RecordPrefixCacheLookup once the sequence is admitted for the first time.
  ComputedBlocks PeekComputedBlocks(absl::Span<const int32_t> tokens) const;
  /// Adds one lookup to the counters: `query_tokens` looked up, `hit_tokens` found.
  void RecordPrefixCacheLookup(int64_t query_tokens, int64_t hit_tokens) {
    prefix_queries_ += query_tokens;
    prefix_hits_ += hit_tokens;
  }

  /// Makes room to compute `num_new_tokens` more tokens of sequence `seq_id`:
  /// tokens [num_computed, num_computed + num_new_tokens) of `tokens` (the
  /// sequence's tokens known so far). For a sequence without blocks yet,
  /// `computed` (from GetComputedBlocks) are attached first and num_computed
  /// must equal computed.num_tokens. Takes references on reused blocks,
  /// allocates new blocks from the free list (evicting cached ones LRU), and
  /// registers in the prefix cache every block that becomes full.
  /// Returns false, changing nothing, if not enough blocks are free.
  bool AllocateSlots(int64_t seq_id, absl::Span<const int32_t> tokens, int num_computed,
                     int num_new_tokens, const ComputedBlocks& computed = {});

  /// Makes the new sequence `seq_id` (holding no blocks) share the first
  /// `num_blocks` blocks of `source_seq_id`'s table — full blocks whose K/V is
  /// computed — by reference (counts + 1), as the `n` completions of one
  /// prompt do. Afterwards `seq_id` is an existing sequence with
  /// num_blocks × block_size computed tokens for AllocateSlots. Aborts if
  /// `seq_id` has blocks or the source holds fewer than `num_blocks`.
  void ShareBlocks(int64_t seq_id, int64_t source_seq_id, int num_blocks);

  /// Releases all blocks of `seq_id` (reference counts drop; cached blocks
  /// become evictable, others free). Unknown ids are ignored. With
  /// `keep_cached` false — a sequence whose last step failed, so blocks it
  /// registered may hold incomplete K/V — its blocks that become unreferenced
  /// also leave the prefix cache.
  void Free(int64_t seq_id, bool keep_cached = true);

  /// The block table of `seq_id` (empty if it has none).
  absl::Span<const int32_t> BlockTable(int64_t seq_id) const;

  /// Physical slot (block_id * block_size + offset) of token `position` of `seq_id`;
  /// the position must be covered by its block table.
  int64_t Slot(int64_t seq_id, int position) const;

  int num_blocks() const;
  int block_size() const { return block_size_; }
  /// Blocks immediately allocatable (free + cached with reference count 0).
  int num_free_blocks() const;
  /// Fraction of blocks referenced by sequences, 0..1.
  double Usage() const;
  /// Sequences holding a block table.
  int num_sequences() const { return static_cast<int>(seqs_.size()); }
  /// Prefix-cache counters in tokens, since construction.
  int64_t prefix_cache_queries() const { return prefix_queries_; }
  int64_t prefix_cache_hits() const { return prefix_hits_; }

  /// Checks internal invariants (reference counts equal the number of block
  /// tables holding each block; free list holds exactly the unreferenced
  /// blocks; cached hashes map to blocks carrying that hash). For tests.
  /// Returns an empty string when consistent, else a description of the problem.
  std::string CheckInvariants() const;

  /// The underlying block pool (reference counts, LRU free queue, prefix-cache
  /// entries), read-only, for tests and metrics.
  const BlockPool& block_pool() const { return pool_; }

 private:
  // Per-sequence state: the block table and the chained hashes of its leading
  // full blocks (hashes[i] identifies blocks[i]; hashes.size() <= blocks.size()),
  // kept so growing a sequence hashes only its newly full blocks.
  struct SeqBlocks {
    std::vector<int32_t> blocks;
    std::vector<BlockHash> hashes;
  };

  // Blocks needed to hold `num_tokens` tokens.
  int BlocksFor(int64_t num_tokens) const;

  const int block_size_;
  const bool enable_prefix_caching_;
  BlockPool pool_;
  absl::flat_hash_map<int64_t, SeqBlocks> seqs_;
  int64_t prefix_queries_ = 0;
  int64_t prefix_hits_ = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_
