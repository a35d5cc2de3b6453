#ifndef LLMSERVE_ENGINE_STRUCTURED_STATE_MASK_CACHE_H_
#define LLMSERVE_ENGINE_STRUCTURED_STATE_MASK_CACHE_H_

// Whole-state token masks of one compiled constraint, shared by all its
// matchers. A parser state (the set of stacks, written as the positions of
// each stack from top to bottom, the stacks sorted, plus the completion flag)
// recurs across steps and sequences: inside a string or a number, between the
// items of an array, at the same place of the next request with the same
// schema. Its mask is then one lookup and a copy, instead of the OR of the
// per-position masks plus the walk of the context-dependent tokens
// (token_mask_cache.h) — the adaptive side of xgrammar's mask cache (Dong et
// al. 2024, arXiv:2411.15100) taken to whole states. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace llmserve::structured {

/// A bounded map from canonical state keys to token bitmasks.
class StateMaskCache {
 public:
  /// At most `max_entries` masks are kept; when full, the map is emptied
  /// (states recur soon after they are first seen, so it refills quickly).
  explicit StateMaskCache(std::size_t max_entries) : max_entries_(max_entries) {}
  /// The mask stored for `key`, or null.
  std::shared_ptr<const std::vector<uint32_t>> Find(const std::vector<int32_t>& key) const;
  /// Stores `mask` for `key`.
  void Insert(const std::vector<int32_t>& key, std::shared_ptr<const std::vector<uint32_t>> mask);
  std::size_t size() const;
  /// Bytes of the stored keys and masks.
  std::size_t bytes() const;

 private:
  const std::size_t max_entries_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::vector<int32_t>, std::shared_ptr<const std::vector<uint32_t>>> map_;
  std::size_t bytes_ = 0;
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_STATE_MASK_CACHE_H_
