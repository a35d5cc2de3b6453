#include "engine/structured/grammar_matcher.h"

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace llmserve::structured {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> compiled)
    : compiled_(std::move(compiled)), rec_(&compiled_->pda(), &pool_) {
  Reset();
}

void GrammarMatcher::Reset() {
  pool_.Clear();
  walker_.Clear();
  ended_ = false;
  rec_.Start(&state_);
}

void GrammarMatcher::FillNextTokenBitmask(absl::Span<uint32_t> bitmask) {
  std::fill(bitmask.begin(), bitmask.end(), 0u);
  if (ended_) return;
  const std::size_t out_words = std::min<std::size_t>(bitmask.size(), bitmask_words());
  BuildStateKey();
  StateMaskCache& state_cache = compiled_->state_cache();
  std::shared_ptr<const std::vector<uint32_t>> mask = state_cache.Find(key_);
  if (mask == nullptr) {
    mask = ComputeMask();
    state_cache.Insert(key_, mask);
  }
  std::copy(mask->begin(), mask->begin() + out_words, bitmask.begin());
  MaybeCompactPool();
}

std::shared_ptr<const std::vector<uint32_t>> GrammarMatcher::ComputeMask() {
  const TokenMaskCache& cache = compiled_->mask_cache();
  const StructuredVocabulary& vocab = compiled_->vocab();
  const std::size_t words = bitmask_words();
  auto result = std::make_shared<std::vector<uint32_t>>(words, 0u);
  uint32_t* out = result->data();
  // Context-independent tokens: the OR of the cached bitmasks of each
  // (top, return position) pair.
  tops_.clear();
  for (int32_t s : state_.stacks) {
    const StackPool::Node n = pool_.node(s);
    const int32_t ret = n.parent >= 0 ? pool_.node(n.parent).pos : TokenMaskCache::kAtRoot;
    tops_.push_back(static_cast<int64_t>(n.pos) << 32 | static_cast<uint32_t>(ret));
  }
  std::sort(tops_.begin(), tops_.end());
  tops_.erase(std::unique(tops_.begin(), tops_.end()), tops_.end());
  for (int64_t top : tops_) {
    const std::shared_ptr<const PositionMask> entry =
        cache.Get(static_cast<int32_t>(top >> 32), static_cast<int32_t>(top & 0xffffffff));
    entry->OrInto(out);
  }
  // Context-dependent tokens: walked against each full stack.
  for (int32_t s : state_.stacks) {
    const StackPool::Node n = pool_.node(s);
    const int32_t ret = n.parent >= 0 ? pool_.node(n.parent).pos : TokenMaskCache::kAtRoot;
    const std::shared_ptr<const PositionMask> entry = cache.Get(n.pos, ret);
    const std::vector<int32_t>& uncertain = entry->uncertain;
    if (uncertain.empty()) continue;
    scratch_.Clear();
    rec_.Close(n.pos, n.parent, &scratch_);
    StackRecognizer::Normalize(&scratch_);
    walker_.Walk(
        rec_, scratch_, uncertain.size(), nullptr,
        [&](std::size_t i) -> std::string_view { return vocab.token_bytes(uncertain[i]); },
        [&](std::size_t i, TokenWalkResult r) {
          const int32_t id = uncertain[i];
          if (r.accepted) out[id >> 5] |= 1u << (id & 31);
        });
  }
  if (state_.accept) {
    for (int32_t id : vocab.eos_token_ids()) out[id >> 5] |= 1u << (id & 31);
  }
  return result;
}

const StackSet* GrammarMatcher::Run(std::string_view bytes) {
  if (ended_) return nullptr;
  const StackSet* cur = &state_;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (cur->Dead()) return nullptr;
    StackSet* dst = (cur == &next_) ? &scratch_ : &next_;
    rec_.Advance(*cur, static_cast<uint8_t>(bytes[i]), dst);
    cur = dst;
  }
  return cur->Empty() ? nullptr : cur;
}

bool GrammarMatcher::AcceptBytes(std::string_view bytes) {
  const StackSet* result = Run(bytes);
  if (result == nullptr) return false;
  if (result != &state_) state_ = *result;
  MaybeCompactPool();
  return true;
}

void GrammarMatcher::BuildStateKey() {
  if (chains_.size() < state_.stacks.size()) chains_.resize(state_.stacks.size());
  for (std::size_t k = 0; k < state_.stacks.size(); ++k) {
    std::vector<int32_t>& chain = chains_[k];
    chain.clear();
    for (int32_t id = state_.stacks[k]; id >= 0; id = pool_.node(id).parent) chain.push_back(pool_.node(id).pos);
  }
  std::sort(chains_.begin(), chains_.begin() + state_.stacks.size());
  key_.clear();
  for (std::size_t k = 0; k < state_.stacks.size(); ++k) {
    key_.insert(key_.end(), chains_[k].begin(), chains_[k].end());
    key_.push_back(-1);
  }
  key_.push_back(state_.accept ? -2 : -3);
}

bool GrammarMatcher::CanAcceptBytes(std::string_view bytes) { return Run(bytes) != nullptr; }

absl::Status GrammarMatcher::AcceptToken(int32_t token_id) {
  const StructuredVocabulary& vocab = compiled_->vocab();
  if (token_id < 0 || token_id >= vocab.vocab_size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("structured output: token ", token_id, " is outside the vocabulary"));
  }
  if (ended_) {
    return absl::FailedPreconditionError(
        absl::StrCat("structured output: token ", token_id, " after the end of the output"));
  }
  if (vocab.is_eos(token_id)) {
    if (!state_.accept) {
      return absl::FailedPreconditionError(
          absl::StrCat("structured output: end of sequence (token ", token_id,
                       ") before the output is complete"));
    }
    ended_ = true;
    return absl::OkStatus();
  }
  const std::string& bytes = vocab.token_bytes(token_id);
  if (bytes.empty() || !AcceptBytes(bytes)) {
    return absl::FailedPreconditionError(
        absl::StrCat("structured output: token ", token_id, " is not allowed here"));
  }
  return absl::OkStatus();
}

void GrammarMatcher::MaybeCompactPool() {
  if (pool_.size() < max_pool_nodes_) return;
  StackPool fresh;
  absl::flat_hash_map<int32_t, int32_t> moved;
  // Copies a chain root-first so parents exist before their children.
  auto copy = [&](auto&& self, int32_t id) -> int32_t {
    if (id < 0) return id;
    if (auto it = moved.find(id); it != moved.end()) return it->second;
    const StackPool::Node n = pool_.node(id);
    const int32_t parent = self(self, n.parent);
    const int32_t nid = fresh.Intern(n.pos, parent);
    moved[id] = nid;
    return nid;
  };
  for (int32_t& s : state_.stacks) s = copy(copy, s);
  std::sort(state_.stacks.begin(), state_.stacks.end());
  pool_ = std::move(fresh);
  walker_.Clear();
}

}  // namespace llmserve::structured
