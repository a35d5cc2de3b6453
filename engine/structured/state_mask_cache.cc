#include "engine/structured/state_mask_cache.h"

namespace llmserve::structured {

std::shared_ptr<const std::vector<uint32_t>> StateMaskCache::Find(const std::vector<int32_t>& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second;
}

void StateMaskCache::Insert(const std::vector<int32_t>& key, std::shared_ptr<const std::vector<uint32_t>> mask) {
  std::lock_guard<std::mutex> lock(mu_);
  if (map_.size() >= max_entries_) {
    map_.clear();
    bytes_ = 0;
  }
  const std::size_t entry_bytes = key.size() * sizeof(int32_t) + mask->size() * sizeof(uint32_t);
  if (map_.emplace(key, std::move(mask)).second) bytes_ += entry_bytes;
}

std::size_t StateMaskCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::size_t StateMaskCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

}  // namespace llmserve::structured
