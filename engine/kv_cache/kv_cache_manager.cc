#include "engine/kv_cache/kv_cache_manager.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/kv_cache/kv_check.h"

// Design after vLLM v1 (vllm/v1/core/kv_cache_manager.py, block_pool.py):
// the manager owns per-sequence block tables and chained block hashes; the
// BlockPool owns reference counts, the LRU free queue and the hash → block map.
//
// Note on timing: like vLLM, blocks are registered in the prefix cache when
// AllocateSlots makes them full, i.e. before the forward step that writes
// their K/V runs. A sequence scheduled in the same step may therefore share
// them; this is correct as long as the model runner writes the K/V of every
// token in the batch (WriteKVCache) before running attention for that layer,
// and every allocated step is actually executed (or its sequences freed).

namespace llmserve {

KVCacheManager::KVCacheManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : block_size_(block_size),
      enable_prefix_caching_(enable_prefix_caching),
      pool_(num_blocks, block_size, enable_prefix_caching) {}

int KVCacheManager::BlocksFor(int64_t num_tokens) const {
  return static_cast<int>((num_tokens + block_size_ - 1) / block_size_);
}

ComputedBlocks KVCacheManager::GetComputedBlocks(absl::Span<const int32_t> tokens) {
  ComputedBlocks out = PeekComputedBlocks(tokens);
  if (enable_prefix_caching_ && !tokens.empty()) {
    RecordPrefixCacheLookup(static_cast<int64_t>(tokens.size()), out.num_tokens);
  }
  return out;
}

ComputedBlocks KVCacheManager::PeekComputedBlocks(absl::Span<const int32_t> tokens) const {
  ComputedBlocks out;
  if (!enable_prefix_caching_ || tokens.empty()) return out;
  // Leave at least one token to compute: its logits sample the next token.
  const size_t max_blocks = (tokens.size() - 1) / block_size_;
  BlockHash parent = kRootBlockHash;
  for (size_t i = 0; i < max_blocks; ++i) {
    const absl::Span<const int32_t> block_tokens = tokens.subspan(i * block_size_, block_size_);
    const BlockHash hash = HashBlockTokens(parent, block_tokens);
    const int32_t id = pool_.Lookup(hash, parent, block_tokens);
    if (id == BlockPool::kNoBlock) break;
    out.block_ids.push_back(id);
    parent = hash;
  }
  out.num_tokens = static_cast<int>(out.block_ids.size()) * block_size_;
  return out;
}

bool KVCacheManager::AllocateSlots(int64_t seq_id, absl::Span<const int32_t> tokens,
                                   int num_computed, int num_new_tokens,
                                   const ComputedBlocks& computed) {
  LLMSERVE_KV_CHECK(num_computed >= 0 && num_new_tokens >= 0, "seq ", seq_id,
                    ": num_computed ", num_computed, ", num_new_tokens ", num_new_tokens);
  auto it = seqs_.find(seq_id);
  const bool is_new = it == seqs_.end();
  const int64_t total_tokens = int64_t{num_computed} + num_new_tokens;

  // 1. Validate everything and count the blocks needed, touching no state.
  std::vector<BlockHash> computed_hashes;
  int blocks_held = 0;
  int reused_from_free_queue = 0;  // computed blocks at ref 0 leave the free queue
  if (is_new) {
    const int num_reused = static_cast<int>(computed.block_ids.size());
    LLMSERVE_KV_CHECK(computed.num_tokens == num_reused * block_size_ &&
                          num_computed == computed.num_tokens &&
                          computed.num_tokens <= static_cast<int64_t>(tokens.size()),
                      "seq ", seq_id, ": num_computed ", num_computed, ", computed ",
                      num_reused, " blocks / ", computed.num_tokens, " tokens, ",
                      tokens.size(), " tokens known");
    LLMSERVE_KV_CHECK(num_reused == 0 || enable_prefix_caching_, "seq ", seq_id,
                      ": computed blocks with prefix caching disabled");
    // The blocks must still hold exactly this prefix: nothing may have been
    // allocated between GetComputedBlocks and this call.
    computed_hashes.reserve(num_reused);
    BlockHash parent = kRootBlockHash;
    for (int i = 0; i < num_reused; ++i) {
      const absl::Span<const int32_t> block_tokens =
          tokens.subspan(static_cast<size_t>(i) * block_size_, block_size_);
      const BlockHash hash = HashBlockTokens(parent, block_tokens);
      const int32_t id = computed.block_ids[i];
      LLMSERVE_KV_CHECK(pool_.Lookup(hash, parent, block_tokens) == id, "seq ", seq_id,
                        ": computed block ", id, " (logical ", i,
                        ") no longer caches this prefix (stale GetComputedBlocks result)");
      if (pool_.ref_count(id) == 0) ++reused_from_free_queue;
      computed_hashes.push_back(hash);
      parent = hash;
    }
    blocks_held = num_reused;
  } else {
    LLMSERVE_KV_CHECK(computed.block_ids.empty() && computed.num_tokens == 0, "seq ", seq_id,
                      ": computed blocks passed for a sequence that already has blocks");
    blocks_held = static_cast<int>(it->second.blocks.size());
  }
  const int new_blocks = std::max(0, BlocksFor(total_tokens) - blocks_held);
  if (new_blocks + reused_from_free_queue > pool_.num_free_blocks()) return false;

  // 2. Commit: attach reused blocks, then allocate (evicting LRU cached blocks).
  if (is_new && blocks_held == 0 && new_blocks == 0) return true;  // nothing to hold
  if (is_new) {
    it = seqs_.try_emplace(seq_id).first;
    SeqBlocks& seq = it->second;
    for (const int32_t id : computed.block_ids) pool_.Touch(id);
    seq.blocks = computed.block_ids;
    seq.hashes = std::move(computed_hashes);
  }
  SeqBlocks& seq = it->second;
  pool_.Allocate(new_blocks, &seq.blocks);

  // 3. Register the blocks that become full with this step's tokens.
  if (enable_prefix_caching_) {
    const int64_t known = std::min<int64_t>(total_tokens, static_cast<int64_t>(tokens.size()));
    const int num_full = static_cast<int>(known / block_size_);
    for (int i = static_cast<int>(seq.hashes.size()); i < num_full; ++i) {
      const BlockHash parent = i == 0 ? kRootBlockHash : seq.hashes[i - 1];
      const absl::Span<const int32_t> block_tokens =
          tokens.subspan(static_cast<size_t>(i) * block_size_, block_size_);
      const BlockHash hash = HashBlockTokens(parent, block_tokens);
      // False if another block already caches this hash: keep that entry. The
      // hash is still recorded so the chain continues for later blocks.
      pool_.Cache(seq.blocks[i], hash, parent, block_tokens);
      seq.hashes.push_back(hash);
    }
  }
  return true;
}

void KVCacheManager::ShareBlocks(int64_t seq_id, int64_t source_seq_id, int num_blocks) {
  LLMSERVE_KV_CHECK(!seqs_.contains(seq_id), "seq ", seq_id, " already holds blocks");
  if (num_blocks <= 0) return;
  const auto src = seqs_.find(source_seq_id);
  LLMSERVE_KV_CHECK(src != seqs_.end() &&
                        static_cast<int>(src->second.blocks.size()) >= num_blocks,
                    "seq ", source_seq_id, " holds fewer than ", num_blocks, " blocks to share");
  // Copy first: try_emplace may rehash and move the source entry.
  SeqBlocks shared;
  shared.blocks.assign(src->second.blocks.begin(), src->second.blocks.begin() + num_blocks);
  const std::size_t hashed = std::min<std::size_t>(src->second.hashes.size(), num_blocks);
  shared.hashes.assign(src->second.hashes.begin(), src->second.hashes.begin() + hashed);
  for (const int32_t id : shared.blocks) pool_.Touch(id);
  seqs_.emplace(seq_id, std::move(shared));
}

void KVCacheManager::Free(int64_t seq_id, bool keep_cached) {
  const auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  // Reverse order: the sequence's tail blocks (least likely to be shared) are
  // queued first and therefore evicted first.
  const std::vector<int32_t>& blocks = it->second.blocks;
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) pool_.Release(*b, keep_cached);
  seqs_.erase(it);
}

absl::Span<const int32_t> KVCacheManager::BlockTable(int64_t seq_id) const {
  const auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return {};
  return it->second.blocks;
}

int64_t KVCacheManager::Slot(int64_t seq_id, int position) const {
  const absl::Span<const int32_t> table = BlockTable(seq_id);
  LLMSERVE_KV_CHECK(position >= 0 && static_cast<int64_t>(position) <
                                         static_cast<int64_t>(table.size()) * block_size_,
                    "seq ", seq_id, ": position ", position, " not covered by ", table.size(),
                    " blocks");
  return int64_t{table[position / block_size_]} * block_size_ + position % block_size_;
}

int KVCacheManager::num_blocks() const { return pool_.num_blocks(); }

int KVCacheManager::num_free_blocks() const { return pool_.num_free_blocks(); }

double KVCacheManager::Usage() const {
  return static_cast<double>(pool_.num_blocks() - pool_.num_free_blocks()) / pool_.num_blocks();
}

std::string KVCacheManager::CheckInvariants() const {
  if (std::string pool_error = pool_.CheckInvariants(); !pool_error.empty()) {
    return absl::StrCat("block pool: ", pool_error);
  }
  const int n = pool_.num_blocks();
  std::vector<int> refs(n, 0);
  for (const auto& [seq_id, seq] : seqs_) {
    if (seq.blocks.empty()) return absl::StrCat("seq ", seq_id, " has an empty block table");
    if (seq.hashes.size() > seq.blocks.size()) {
      return absl::StrCat("seq ", seq_id, " has ", seq.hashes.size(), " hashes for ",
                          seq.blocks.size(), " blocks");
    }
    if (!enable_prefix_caching_ && !seq.hashes.empty()) {
      return absl::StrCat("seq ", seq_id, " has block hashes with caching disabled");
    }
    absl::flat_hash_set<int32_t> in_table;
    for (size_t i = 0; i < seq.blocks.size(); ++i) {
      const int32_t id = seq.blocks[i];
      if (id < 0 || id >= n) return absl::StrCat("seq ", seq_id, " holds invalid block ", id);
      if (!in_table.insert(id).second) {
        return absl::StrCat("seq ", seq_id, " holds block ", id, " twice");
      }
      ++refs[id];
      // A cached block of the table must be cached under the hash the
      // sequence computed for that position; blocks past the hashed prefix
      // are not full yet and must not be cached.
      if (pool_.is_cached(id)) {
        if (i >= seq.hashes.size()) {
          return absl::StrCat("seq ", seq_id, " block ", id, " (logical ", i,
                              ") is cached but not full");
        }
        if (!(pool_.cached_hash(id) == seq.hashes[i])) {
          return absl::StrCat("seq ", seq_id, " block ", id, " (logical ", i,
                              ") is cached under a different hash");
        }
      }
    }
  }
  for (int32_t id = 0; id < n; ++id) {
    if (refs[id] != pool_.ref_count(id)) {
      return absl::StrCat("block ", id, " ref count ", pool_.ref_count(id), " but held by ",
                          refs[id], " tables");
    }
  }
  return "";
}

}  // namespace llmserve
