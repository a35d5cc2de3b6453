#ifndef LLMSERVE_ENGINE_KV_CACHE_BLOCK_POOL_H_
#define LLMSERVE_ENGINE_KV_CACHE_BLOCK_POOL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"

namespace llmserve {

/// 128-bit identity of a full KV-cache block: a chained hash of the token ids
/// of the block and of every block before it in its sequence.
struct BlockHash {
  uint64_t hi = 0;
  uint64_t lo = 0;

  friend bool operator==(const BlockHash& a, const BlockHash& b) = default;
  template <typename H>
  friend H AbslHashValue(H h, const BlockHash& b) {
    return H::combine(std::move(h), b.hi, b.lo);
  }
};

/// The parent hash of a sequence's first block.
inline constexpr BlockHash kRootBlockHash{0x6c6c6d7365727665ULL, 0x726f6f74626c6f63ULL};

/// Hash of a full block: H(parent_hash, tokens) (vLLM's hash_block_tokens, with
/// the parent block's hash chained in so equal block contents after different
/// prefixes get different hashes). The two 64-bit halves come from unrelated
/// functions: `lo` is absl::Hash (per-process seeded, so values differ between
/// runs), `hi` a splitmix64-finalizer chain over the parent hash and tokens.
/// Not cryptographic; the pool additionally verifies the stored parent hash and
/// token ids of an entry on every lookup.
BlockHash HashBlockTokens(const BlockHash& parent, absl::Span<const int32_t> tokens);

/// The physical KV-cache blocks (vLLM v1's BlockPool): reference counts, the
/// free queue, and the prefix cache (hash → block) of full blocks.
///
/// Free queue: an intrusive doubly linked list over block ids holding exactly
/// the blocks with reference count 0, ordered least recently freed first.
/// Allocation pops the head (LRU); freed blocks are appended at the tail; a
/// cached block hit while in the queue is unlinked from the middle. All O(1).
///
/// Prefix cache: a full block can be registered under its BlockHash together
/// with its parent hash and token ids; at most one block per hash. A cached
/// block whose reference count drops to 0 stays cached (and in the free queue)
/// until it is allocated again, which evicts it from the cache.
///
/// Not thread-safe. Out-of-range ids and reference-count underflows abort.
class BlockPool {
 public:
  static constexpr int32_t kNoBlock = -1;

  /// `num_blocks` > 0 blocks of `block_size` > 0 tokens, all free and in id
  /// order in the free queue. With `enable_caching` false nothing is cached.
  BlockPool(int num_blocks, int block_size, bool enable_caching);

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  int block_size() const { return block_size_; }
  bool caching_enabled() const { return enable_caching_; }
  /// Blocks in the free queue (reference count 0, cached or not).
  int num_free_blocks() const { return num_free_; }
  /// Blocks registered in the prefix cache (referenced or evictable).
  int num_cached_blocks() const { return static_cast<int>(cached_.size()); }

  /// Pops `n` blocks from the head of the free queue (least recently freed
  /// first), evicting their cache entries, sets their reference count to 1 and
  /// appends their ids to `out`. Aborts if n > num_free_blocks().
  void Allocate(int n, std::vector<int32_t>* out);

  /// Takes one more reference on `block_id`; a block at count 0 (a cache hit
  /// on an evictable block) is unlinked from the free queue.
  void Touch(int32_t block_id);

  /// Drops one reference on `block_id`; at count 0 the block is appended at
  /// the tail of the free queue (staying cached if it is and `keep_cached`,
  /// else leaving the prefix cache). Aborts if the block is not referenced.
  void Release(int32_t block_id, bool keep_cached = true);

  /// The block cached under `hash` whose stored parent hash and token ids equal
  /// `parent` and `tokens` (so a 128-bit hash collision cannot alias two
  /// different blocks), else kNoBlock. Does not take a reference.
  int32_t Lookup(const BlockHash& hash, const BlockHash& parent,
                 absl::Span<const int32_t> tokens) const;

  /// Registers the referenced full block `block_id` (tokens.size() must equal
  /// block_size) under `hash`. Returns false and changes nothing if caching is
  /// disabled, `hash` is already cached (by this or another block; the existing
  /// entry is kept), or the block already carries a hash.
  bool Cache(int32_t block_id, const BlockHash& hash, const BlockHash& parent,
             absl::Span<const int32_t> tokens);

  int ref_count(int32_t block_id) const { return block(block_id).ref_count; }
  bool is_cached(int32_t block_id) const { return block(block_id).cached; }
  /// Hash of a cached block (meaningless if !is_cached).
  const BlockHash& cached_hash(int32_t block_id) const { return block(block_id).hash; }
  /// Token ids stored with a cached block (empty if !is_cached).
  absl::Span<const int32_t> cached_tokens(int32_t block_id) const;

  /// The free queue from head (next evicted) to tail. O(num_blocks); for tests.
  std::vector<int32_t> FreeQueue() const;

  /// Full consistency check (list links, free count, reference counts, cache
  /// map ↔ block hashes, stored hashes recomputed from stored tokens).
  /// Empty when consistent, else a description of the first problem found.
  std::string CheckInvariants() const;

 private:
  struct Block {
    int32_t ref_count = 0;
    int32_t prev = 0;  // free-queue links (block ids, or the sentinel)
    int32_t next = 0;
    bool in_free_queue = false;
    bool cached = false;
    BlockHash hash;    // valid when cached
    BlockHash parent;  // valid when cached
  };

  const Block& block(int32_t id) const;
  Block& block(int32_t id);
  void LinkAtTail(int32_t id);
  void Unlink(int32_t id);
  void Evict(int32_t id);

  const int block_size_;
  const bool enable_caching_;
  std::vector<Block> blocks_;
  // Free-queue ends; kSentinel marks "no neighbour" in the links.
  static constexpr int32_t kSentinel = -2;
  int32_t head_ = kSentinel;
  int32_t tail_ = kSentinel;
  int num_free_ = 0;
  // Token ids of cached blocks: block b at [b * block_size, (b+1) * block_size).
  std::vector<int32_t> tokens_;
  absl::flat_hash_map<BlockHash, int32_t> cached_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_KV_CACHE_BLOCK_POOL_H_
