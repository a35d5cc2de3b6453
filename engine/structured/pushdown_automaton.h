#ifndef LLMSERVE_ENGINE_STRUCTURED_PUSHDOWN_AUTOMATON_H_
#define LLMSERVE_ENGINE_STRUCTURED_PUSHDOWN_AUTOMATON_H_

// A byte-level grammar (byte_grammar.h) lowered to a flat array of positions:
// every alternative of every rule is a run of nodes (a byte set, a byte-set
// star, a rule reference) closed by an end node. A parser state is a stack of
// positions (stack_recognizer.h); this is the pushdown automaton of xgrammar
// (Dong et al. 2024, arXiv:2411.15100, section 3) and of llama.cpp's GBNF
// sampler, built here from the grammar without sharing their code.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// One position of the automaton.
struct PdaNode {
  enum class Kind : uint8_t {
    kBytes,  ///< consume one byte of byte_sets[arg], then go to the next node
    kStar,   ///< consume a byte of byte_sets[arg] and stay, or go to the next node
    kOptional,  ///< consume a byte of byte_sets[arg] or not, then go to the next node
    kRef,    ///< enter rule `arg` (its alternatives), return to the next node
    kEnd,    ///< the alternative is complete: return to the caller
  };
  Kind kind = Kind::kEnd;
  int32_t arg = 0;
};

/// Where a rule sits in the chain of a bounded repetition x{m,n}: its n - m
/// optional copies are rules o_1 ::= x | (empty), o_k ::= x o_{k-1} | (empty),
/// so o_k allows at most k more copies of x. Kept only for chains whose x
/// consumes at least one byte and whose rules kept that shape; then, for
/// b = depth - 1, the stacks p → o_k … and p → o_j … (the same place p
/// inside x, or the same offset inside o_k and o_j, over the same rest of the
/// stack) accept the same byte strings of up to min(b_k, b_j) bytes: no such
/// string completes more copies than either allows.
struct RepeatLink {
  int32_t chain = -1;  ///< index of the chain, -1: not in a chain
  int32_t depth = 0;   ///< k of o_k (1 = the last optional copy)
};

/// The compiled form of a Grammar. Immutable.
class PushdownAutomaton {
 public:
  /// Lowers `grammar` (repetitions become right-recursive helper rules or
  /// byte-set stars), drops alternatives that can match nothing and checks it.
  /// `field` prefixes error messages ("structured_output.grammar").
  /// Errors: INVALID_ARGUMENT if the root matches no string, if a rule is
  /// left-recursive (a rule reaching itself before consuming a byte, which a
  /// top-down recognizer cannot run), or if repetition counts expand it past
  /// kMaxNodes.
  static absl::StatusOr<std::shared_ptr<const PushdownAutomaton>> Compile(const Grammar& grammar,
                                                                          std::string_view field);

  static constexpr int kMaxNodes = 1 << 20;

  const std::vector<PdaNode>& nodes() const { return nodes_; }
  const PdaNode& node(int32_t pos) const { return nodes_[pos]; }
  /// First node of each alternative of `rule`.
  const std::vector<int32_t>& alternatives(int32_t rule) const { return rule_alts_[rule]; }
  int32_t root_rule() const { return root_; }
  /// True iff `kind` consumes bytes (kBytes, kStar, kOptional).
  static bool IsByteNode(PdaNode::Kind kind) {
    return kind == PdaNode::Kind::kBytes || kind == PdaNode::Kind::kStar || kind == PdaNode::Kind::kOptional;
  }
  /// The rule whose alternative holds node `pos`.
  int32_t rule_of(int32_t pos) const { return node_rule_[pos]; }
  /// The bytes that can follow a completed `rule` in some context (its LL
  /// FOLLOW set; the end of the output is not a byte): 4 words of 64 bits.
  const uint64_t* follow(int32_t rule) const { return follow_[rule].w; }
  /// True iff node `pos` (a byte node) accepts `byte`.
  bool Matches(int32_t pos, uint8_t byte) const {
    const uint64_t* w = byte_sets_[nodes_[pos].arg].w;
    return (w[byte >> 6] >> (byte & 63)) & 1u;
  }
  /// The byte set of byte node `pos` (4 words of 64 bits).
  const uint64_t* byte_set(int32_t pos) const { return byte_sets_[nodes_[pos].arg].w; }
  int num_rules() const { return static_cast<int>(rule_alts_.size()); }
  /// The bounded-repetition chain of `rule` (chain -1 if none).
  const RepeatLink& repeat_link(int32_t rule) const { return repeat_links_[rule]; }
  /// The rule at `depth` (1-based) of `chain`, or -1 if the chain is shorter.
  int32_t chain_rule(int32_t chain, int32_t depth) const {
    const std::vector<int32_t>& c = chains_[chain];
    return depth >= 1 && depth <= static_cast<int32_t>(c.size()) ? c[depth - 1] : -1;
  }
  const std::string& rule_name(int32_t rule) const { return rule_names_[rule]; }
  /// The (byte node, return position) pairs a stack's top can take: every
  /// byte node of a rule under every return position the rule can be entered
  /// with (kRootReturn for the root rule; p + 1 for a call at p that is not
  /// last in its alternative; a call last in its alternative, a tail call,
  /// passes its caller's return positions on). A superset of what inputs
  /// reach (it ignores which bytes lead where). Sorted by (node, return).
  std::vector<std::pair<int32_t, int32_t>> ReachableTops() const;
  /// The return position of a stack at the root (TokenMaskCache::kAtRoot).
  static constexpr int32_t kRootReturn = -1;

 private:
  struct Set256 {
    uint64_t w[4];
  };
  friend class PdaLowering;
  std::vector<PdaNode> nodes_;
  std::vector<Set256> byte_sets_;
  std::vector<std::vector<int32_t>> rule_alts_;
  std::vector<std::string> rule_names_;
  std::vector<int32_t> node_rule_;
  std::vector<Set256> follow_;
  std::vector<RepeatLink> repeat_links_;       // [num_rules]
  std::vector<std::vector<int32_t>> chains_;   // rules of each chain by depth - 1
  int32_t root_ = 0;
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_PUSHDOWN_AUTOMATON_H_
