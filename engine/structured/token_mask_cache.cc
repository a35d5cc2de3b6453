#include "engine/structured/token_mask_cache.h"

#include "engine/structured/stack_recognizer.h"
#include "engine/structured/token_walk.h"

namespace llmserve::structured {

TokenMaskCache::TokenMaskCache(std::shared_ptr<const PushdownAutomaton> pda,
                               std::shared_ptr<const StructuredVocabulary> vocab)
    : pda_(std::move(pda)), vocab_(std::move(vocab)) {}

const PositionMask& TokenMaskCache::Get(int32_t pos, int32_t ret) const {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(ret);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) return *it->second;
  }
  std::unique_ptr<PositionMask> entry = Compute(pos, ret);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = entries_.try_emplace(key, std::move(entry));
  return *it->second;
}

std::size_t TokenMaskCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::unique_ptr<PositionMask> TokenMaskCache::Compute(int32_t pos, int32_t ret) const {
  auto entry = std::make_unique<PositionMask>();
  entry->accepted.assign((vocab_->vocab_size() + 31) / 32, 0u);
  StackPool pool;
  StackRecognizer rec(pda_.get(), &pool);
  StackSet initial;
  const int32_t parent = ret == kAtRoot ? kRootParent : pool.Intern(ret, kBottomParent);
  rec.Close(pos, parent, &initial);
  StackRecognizer::Normalize(&initial);
  // An escape completes the rule of the return position; only bytes of its
  // FOLLOW set can come next (at the root nothing escapes).
  const uint64_t* follow = ret == kAtRoot ? nullptr : pda_->follow(pda_->rule_of(ret));
  const std::vector<int32_t>& ids = vocab_->sorted_ids();
  TokenWalker walker;
  walker.Walk(
      rec, initial, ids.size(), follow, [&](std::size_t i) -> std::string_view { return vocab_->token_bytes(ids[i]); },
      [&](std::size_t i, TokenWalkResult r) {
        const int32_t id = ids[i];
        if (r.accepted) {
          entry->accepted[id >> 5] |= 1u << (id & 31);
        } else if (r.escaped_early) {
          entry->uncertain.push_back(id);
        }
      });
  return entry;
}

}  // namespace llmserve::structured
