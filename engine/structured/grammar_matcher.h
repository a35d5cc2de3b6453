#ifndef LLMSERVE_ENGINE_STRUCTURED_GRAMMAR_MATCHER_H_
#define LLMSERVE_ENGINE_STRUCTURED_GRAMMAR_MATCHER_H_

// The compiled constraint (automaton + vocabulary + mask cache) and the
// per-sequence matcher over it: the implementations behind
// CompiledStructuredOutput and StructuredOutputMatcher.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/structured/pushdown_automaton.h"
#include "engine/structured/stack_recognizer.h"
#include "engine/structured/state_mask_cache.h"
#include "engine/structured/structured_output.h"
#include "engine/structured/token_mask_cache.h"
#include "engine/structured/token_walk.h"

namespace llmserve::structured {

/// A PushdownAutomaton bound to a vocabulary, with its token-mask cache.
class CompiledGrammar final : public CompiledStructuredOutput {
 public:
  /// With `precompute_masks`, fills the token-mask cache here, on the
  /// constructing thread (TokenMaskCache::Precompute with its default
  /// budget), so decode steps find the entries; otherwise they are computed
  /// on first use.
  CompiledGrammar(std::shared_ptr<const PushdownAutomaton> pda, std::shared_ptr<const StructuredVocabulary> vocab,
                  bool precompute_masks = false)
      : pda_(pda), vocab_(vocab), cache_(std::move(pda), std::move(vocab)), state_cache_(kMaxStateMasks) {
    if (precompute_masks) precompute_stats_ = cache_.Precompute();
  }
  const PushdownAutomaton& pda() const { return *pda_; }
  const StructuredVocabulary& vocab() const { return *vocab_; }
  const TokenMaskCache& mask_cache() const { return cache_; }
  /// What the constructor's precompute did (all zero without it).
  const PrecomputeStats& precompute_stats() const { return precompute_stats_; }
  /// Whole-state masks, filled by the matchers (shared, thread-safe).
  StateMaskCache& state_cache() const { return state_cache_; }
  /// The per-position and whole-state mask caches' bytes.
  std::size_t memory_bytes() const override { return cache_.bytes() + state_cache_.bytes(); }
  /// Most whole-state masks kept (each ceil(vocab_size / 32) words).
  static constexpr std::size_t kMaxStateMasks = 512;

 private:
  std::shared_ptr<const PushdownAutomaton> pda_;
  std::shared_ptr<const StructuredVocabulary> vocab_;
  TokenMaskCache cache_;
  PrecomputeStats precompute_stats_;
  mutable StateMaskCache state_cache_;
};

/// StructuredOutputMatcher over a CompiledGrammar; also matches raw bytes
/// (tests, and byte-level checks without a vocabulary).
class GrammarMatcher final : public StructuredOutputMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> compiled);

  int bitmask_words() const override { return (compiled_->vocab().vocab_size() + 31) / 32; }
  void FillNextTokenBitmask(absl::Span<uint32_t> bitmask) override;
  absl::Status AcceptToken(int32_t token_id) override;
  bool IsComplete() const override { return ended_ || state_.accept; }
  bool IsTerminated() const override { return ended_ || (state_.accept && state_.stacks.empty()); }
  void Reset() override;

  /// Advances by `bytes` if the grammar allows them here (returns true), else
  /// leaves the state unchanged and returns false.
  bool AcceptBytes(std::string_view bytes);
  /// Whether AcceptBytes(bytes) would succeed; the state is unchanged.
  bool CanAcceptBytes(std::string_view bytes);
  /// Number of stacks in the current state (a measure of ambiguity).
  int num_stacks() const { return static_cast<int>(state_.stacks.size()); }
  /// Stack nodes kept before the pool is rebuilt from the current state
  /// (default kMaxPoolNodes; tests lower it to exercise the rebuild).
  void set_max_pool_nodes(int32_t n) { max_pool_nodes_ = n; }
  static constexpr int32_t kMaxPoolNodes = 1 << 20;

 private:
  // Re-interns the current stacks into a fresh pool once the pool has grown
  // past a bound (each step may add nodes).
  void MaybeCompactPool();
  // Runs `bytes` from the state; the result is in *out (nullptr: rejected).
  const StackSet* Run(std::string_view bytes);
  std::shared_ptr<const CompiledGrammar> compiled_;
  StackPool pool_;
  StackRecognizer rec_;
  StackSet state_;
  StackSet next_;
  StackSet scratch_;
  TokenWalker walker_;
  std::vector<int64_t> tops_;  // (top position << 32 | return position)
  bool ended_ = false;  // EOS accepted
  int32_t max_pool_nodes_ = kMaxPoolNodes;
  // The mask of the current state from the per-position cache and walks of
  // the context-dependent tokens; [bitmask_words()].
  std::shared_ptr<const std::vector<uint32_t>> ComputeMask();
  // The canonical key of the state (StateMaskCache).
  void BuildStateKey();
  std::vector<std::vector<int32_t>> chains_;
  std::vector<int32_t> key_;
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_GRAMMAR_MATCHER_H_
