#ifndef LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_
#define LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <memory>
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

  /// Releases all blocks of `seq_id` (reference counts drop; cached blocks
  /// become evictable, others free). Unknown ids are ignored.
  void Free(int64_t seq_id);

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
  /// Prefix-cache counters in tokens, since construction.
  int64_t prefix_cache_queries() const { return prefix_queries_; }
  int64_t prefix_cache_hits() const { return prefix_hits_; }

  /// Checks internal invariants (reference counts equal the number of block
  /// tables holding each block; free list holds exactly the unreferenced
  /// blocks; cached hashes map to blocks carrying that hash). For tests.
  /// Returns an empty string when consistent, else a description of the problem.
  std::string CheckInvariants() const;

 private:
  const int block_size_;
  const bool enable_prefix_caching_;
  BlockPool pool_;
  absl::flat_hash_map<int64_t, std::vector<int32_t>> block_tables_;
  int64_t prefix_queries_ = 0;
  int64_t prefix_hits_ = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_
