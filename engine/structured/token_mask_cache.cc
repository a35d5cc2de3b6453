#include "engine/structured/token_mask_cache.h"

#include "engine/structured/stack_recognizer.h"
#include "engine/structured/token_walk.h"

namespace llmserve::structured {

TokenMaskCache::TokenMaskCache(std::shared_ptr<const PushdownAutomaton> pda,
                               std::shared_ptr<const StructuredVocabulary> vocab)
    : pda_(std::move(pda)),
      vocab_(std::move(vocab)),
      once_(new std::once_flag[pda_->nodes().size()]),
      entries_(pda_->nodes().size()) {}

const PositionMask& TokenMaskCache::Get(int32_t pos) const {
  std::call_once(once_[pos], [&] { entries_[pos] = Compute(pos); });
  return *entries_[pos];
}

void TokenMaskCache::ComputeAll() const {
  for (std::size_t p = 0; p < pda_->nodes().size(); ++p) {
    if (PushdownAutomaton::IsByteNode(pda_->node(static_cast<int32_t>(p)).kind)) {
      Get(static_cast<int32_t>(p));
    }
  }
}

int TokenMaskCache::num_computed() const {
  int n = 0;
  for (const auto& e : entries_) n += e != nullptr;
  return n;
}

std::unique_ptr<PositionMask> TokenMaskCache::Compute(int32_t pos) const {
  auto entry = std::make_unique<PositionMask>();
  entry->accepted.assign((vocab_->vocab_size() + 31) / 32, 0u);
  StackPool pool;
  StackRecognizer rec(pda_.get(), &pool);
  StackSet initial;
  rec.Close(pos, kBottomParent, &initial);
  StackRecognizer::Normalize(&initial);
  const std::vector<int32_t>& ids = vocab_->sorted_ids();
  TokenWalker walker;
  walker.Walk(
      rec, initial, ids.size(), pda_->follow(pda_->rule_of(pos)), [&](std::size_t i) -> std::string_view { return vocab_->token_bytes(ids[i]); },
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
