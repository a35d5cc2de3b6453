#include "engine/kv_cache/block_pool.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "engine/kv_cache/kv_check.h"

namespace llmserve {
namespace {

// splitmix64 finalizer (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

}  // namespace

BlockHash HashBlockTokens(const BlockHash& parent, absl::Span<const int32_t> tokens) {
  BlockHash out;
  // Lane 1: absl::Hash of (parent, tokens); the span contributes its length too.
  out.lo = static_cast<uint64_t>(absl::HashOf(parent.hi, parent.lo, tokens));
  // Lane 2: a sequential splitmix64 chain with its own constants.
  uint64_t h = Mix64(parent.hi ^ Rotl(parent.lo, 29) ^
                     (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(tokens.size()) + 1)));
  for (const int32_t t : tokens) {
    h = Mix64(Rotl(h, 17) ^ (static_cast<uint64_t>(static_cast<uint32_t>(t)) +
                             0x632be59bd9b4e019ULL));
  }
  out.hi = h;
  return out;
}

BlockPool::BlockPool(int num_blocks, int block_size, bool enable_caching)
    : block_size_(block_size), enable_caching_(enable_caching) {
  LLMSERVE_KV_CHECK(num_blocks > 0 && block_size > 0, "num_blocks ", num_blocks,
                    ", block_size ", block_size);
  blocks_.resize(num_blocks);
  for (int32_t id = 0; id < num_blocks; ++id) LinkAtTail(id);
  if (enable_caching_) {
    tokens_.resize(static_cast<size_t>(num_blocks) * block_size);
    cached_.reserve(num_blocks);
  }
}

const BlockPool::Block& BlockPool::block(int32_t id) const {
  LLMSERVE_KV_CHECK(id >= 0 && id < num_blocks(), "block id ", id, " of ", num_blocks());
  return blocks_[id];
}

BlockPool::Block& BlockPool::block(int32_t id) {
  LLMSERVE_KV_CHECK(id >= 0 && id < num_blocks(), "block id ", id, " of ", num_blocks());
  return blocks_[id];
}

void BlockPool::LinkAtTail(int32_t id) {
  Block& b = blocks_[id];
  b.prev = tail_;
  b.next = kSentinel;
  if (tail_ == kSentinel) {
    head_ = id;
  } else {
    blocks_[tail_].next = id;
  }
  tail_ = id;
  b.in_free_queue = true;
  ++num_free_;
}

void BlockPool::Unlink(int32_t id) {
  Block& b = blocks_[id];
  if (b.prev == kSentinel) {
    head_ = b.next;
  } else {
    blocks_[b.prev].next = b.next;
  }
  if (b.next == kSentinel) {
    tail_ = b.prev;
  } else {
    blocks_[b.next].prev = b.prev;
  }
  b.prev = b.next = kSentinel;
  b.in_free_queue = false;
  --num_free_;
}

void BlockPool::Evict(int32_t id) {
  Block& b = blocks_[id];
  if (!b.cached) return;
  cached_.erase(b.hash);
  b.cached = false;
}

void BlockPool::Allocate(int n, std::vector<int32_t>* out) {
  LLMSERVE_KV_CHECK(n >= 0 && n <= num_free_, "allocating ", n, " blocks with ", num_free_,
                    " free");
  for (int i = 0; i < n; ++i) {
    const int32_t id = head_;
    Unlink(id);
    Evict(id);
    blocks_[id].ref_count = 1;
    out->push_back(id);
  }
}

void BlockPool::Touch(int32_t block_id) {
  Block& b = block(block_id);
  if (b.ref_count == 0) Unlink(block_id);
  ++b.ref_count;
}

void BlockPool::Release(int32_t block_id, bool keep_cached) {
  Block& b = block(block_id);
  LLMSERVE_KV_CHECK(b.ref_count > 0, "releasing unreferenced block ", block_id);
  if (--b.ref_count == 0) {
    if (!keep_cached) Evict(block_id);
    LinkAtTail(block_id);
  }
}

int32_t BlockPool::Lookup(const BlockHash& hash, const BlockHash& parent,
                          absl::Span<const int32_t> tokens) const {
  if (!enable_caching_) return kNoBlock;
  const auto it = cached_.find(hash);
  if (it == cached_.end()) return kNoBlock;
  const Block& b = blocks_[it->second];
  if (!(b.parent == parent) || cached_tokens(it->second) != tokens) return kNoBlock;
  return it->second;
}

bool BlockPool::Cache(int32_t block_id, const BlockHash& hash, const BlockHash& parent,
                      absl::Span<const int32_t> tokens) {
  Block& b = block(block_id);
  LLMSERVE_KV_CHECK(static_cast<int>(tokens.size()) == block_size_, "caching a block of ",
                    tokens.size(), " tokens, block size ", block_size_);
  LLMSERVE_KV_CHECK(b.ref_count > 0, "caching unreferenced block ", block_id);
  if (!enable_caching_ || b.cached) return false;
  if (!cached_.try_emplace(hash, block_id).second) return false;
  b.cached = true;
  b.hash = hash;
  b.parent = parent;
  std::copy(tokens.begin(), tokens.end(),
            tokens_.begin() + static_cast<ptrdiff_t>(block_id) * block_size_);
  return true;
}

absl::Span<const int32_t> BlockPool::cached_tokens(int32_t block_id) const {
  if (!block(block_id).cached) return {};
  return absl::MakeConstSpan(tokens_).subspan(static_cast<size_t>(block_id) * block_size_,
                                              block_size_);
}

std::vector<int32_t> BlockPool::FreeQueue() const {
  std::vector<int32_t> out;
  out.reserve(num_free_);
  for (int32_t id = head_; id != kSentinel && out.size() <= blocks_.size();
       id = blocks_[id].next) {
    out.push_back(id);
  }
  return out;
}

std::string BlockPool::CheckInvariants() const {
  const int n = num_blocks();
  // Walk the free queue: links consistent, no repeats, only unreferenced blocks.
  std::vector<char> seen(n, 0);
  int count = 0;
  int32_t prev = kSentinel;
  for (int32_t id = head_; id != kSentinel; id = blocks_[id].next) {
    if (id < 0 || id >= n) return absl::StrCat("free queue holds invalid id ", id);
    if (seen[id]) return absl::StrCat("free queue visits block ", id, " twice");
    seen[id] = 1;
    const Block& b = blocks_[id];
    if (b.prev != prev) {
      return absl::StrCat("free queue block ", id, " has prev ", b.prev, ", expected ", prev);
    }
    if (!b.in_free_queue) return absl::StrCat("block ", id, " linked but not marked free");
    if (b.ref_count != 0) {
      return absl::StrCat("block ", id, " in free queue with ref count ", b.ref_count);
    }
    prev = id;
    ++count;
  }
  if (tail_ != prev) return absl::StrCat("free queue tail ", tail_, ", last visited ", prev);
  if (count != num_free_) {
    return absl::StrCat("free queue length ", count, " but num_free ", num_free_);
  }
  int num_cached = 0;
  for (int32_t id = 0; id < n; ++id) {
    const Block& b = blocks_[id];
    if (b.ref_count < 0) return absl::StrCat("block ", id, " ref count ", b.ref_count);
    if ((b.ref_count == 0) != static_cast<bool>(seen[id])) {
      return absl::StrCat("block ", id, " ref count ", b.ref_count,
                          seen[id] ? " but in free queue" : " but not in free queue");
    }
    if (b.in_free_queue != static_cast<bool>(seen[id])) {
      return absl::StrCat("block ", id, " free flag disagrees with the queue");
    }
    if (!b.cached) continue;
    ++num_cached;
    if (!enable_caching_) return absl::StrCat("block ", id, " cached with caching disabled");
    const auto it = cached_.find(b.hash);
    if (it == cached_.end() || it->second != id) {
      return absl::StrCat("cached block ", id, " not mapped by its hash");
    }
    if (!(HashBlockTokens(b.parent, cached_tokens(id)) == b.hash)) {
      return absl::StrCat("cached block ", id, " hash does not match its stored tokens");
    }
  }
  if (num_cached != static_cast<int>(cached_.size())) {
    return absl::StrCat(cached_.size(), " cache entries but ", num_cached, " cached blocks");
  }
  return "";
}

}  // namespace llmserve
