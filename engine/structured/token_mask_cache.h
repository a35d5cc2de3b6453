#ifndef LLMSERVE_ENGINE_STRUCTURED_TOKEN_MASK_CACHE_H_
#define LLMSERVE_ENGINE_STRUCTURED_TOKEN_MASK_CACHE_H_

// The per-position token-mask cache (xgrammar's adaptive token-mask cache,
// Dong et al. 2024, arXiv:2411.15100, section 3.1, with one level of its
// context expansion). For a byte node p whose stack continues at return
// position q (or at the root), every token is walked from the stack
// p → q → (unknown) — p with its caller's continuation known and the rest of
// the stack unknown (at the root nothing is unknown):
//   * accepted: some path consumes all its bytes without needing the rest of
//     the stack (context-independent: allowed under any stack with top p);
//   * uncertain: not accepted, but a path popped the unknown part before the
//     last byte (context-dependent: checked against the real stack per step);
//   * rejected: otherwise (no path survives, whatever lies below p).
// Accepted tokens are kept as a bitmask, uncertain ones as a list sorted by
// bytes; a step's mask is then the OR of its tops' bitmasks plus the uncertain
// tokens that the full stacks accept. Entries are computed on first use.

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/structured/pushdown_automaton.h"
#include "engine/structured/structured_output.h"

namespace llmserve::structured {

/// The cached tokens of one byte node.
struct PositionMask {
  std::vector<uint32_t> accepted;   ///< bitmask, [ceil(vocab_size / 32)]
  std::vector<int32_t> uncertain;   ///< token ids, sorted by their bytes
};

/// PositionMasks of one automaton and vocabulary by (byte node, return
/// position). Thread-safe; entries live as long as the cache.
class TokenMaskCache {
 public:
  /// The return position of a root stack.
  static constexpr int32_t kAtRoot = -1;

  TokenMaskCache(std::shared_ptr<const PushdownAutomaton> pda,
                 std::shared_ptr<const StructuredVocabulary> vocab);
  /// The entry of byte node `pos` under return position `ret` (the position
  /// of the stack's parent node, or kAtRoot), computed on first use.
  const PositionMask& Get(int32_t pos, int32_t ret) const;
  /// Number of entries computed so far.
  std::size_t size() const;

 private:
  std::unique_ptr<PositionMask> Compute(int32_t pos, int32_t ret) const;
  std::shared_ptr<const PushdownAutomaton> pda_;
  std::shared_ptr<const StructuredVocabulary> vocab_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<uint64_t, std::unique_ptr<PositionMask>> entries_;
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_TOKEN_MASK_CACHE_H_
