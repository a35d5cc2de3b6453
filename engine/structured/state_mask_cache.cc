#include "engine/structured/state_mask_cache.h"

namespace llmserve::structured {

std::shared_ptr<const std::vector<uint32_t>> StateMaskCache::Find(const std::vector<int32_t>& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second;
}

void StateMaskCache::Insert(const std::vector<int32_t>& key, std::shared_ptr<const std::vector<uint32_t>> mask) {
  std::lock_guard<std::mutex> lock(mu_);
  if (map_.size() >= max_entries_) map_.clear();
  map_.emplace(key, std::move(mask));
}

std::size_t StateMaskCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

}  // namespace llmserve::structured
