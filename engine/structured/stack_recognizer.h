#ifndef LLMSERVE_ENGINE_STRUCTURED_STACK_RECOGNIZER_H_
#define LLMSERVE_ENGINE_STRUCTURED_STACK_RECOGNIZER_H_

// The parser state of a PushdownAutomaton: the set of all stacks the bytes so
// far can have led to (a nondeterministic pushdown automaton run breadth-first,
// as llama.cpp's GBNF sampler and xgrammar's persistent stacks do). Stacks are
// hash-consed linked lists in a StackPool, so a stack is one int32 and equal
// stacks share one id; a set is a sorted vector of ids whose tops are byte
// nodes (kBytes / kStar). Calls into a rule at the end of an alternative
// replace the caller instead of pushing (tail calls), so `x*` loops keep the
// stack flat.

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/structured/pushdown_automaton.h"

namespace llmserve::structured {

/// Parent of a root stack: popping it completes the whole output.
inline constexpr int32_t kRootParent = -1;
/// Parent of a stack that starts from one position alone (the mask cache):
/// popping it leaves the part of the stack that is known.
inline constexpr int32_t kBottomParent = -2;

/// Hash-consed stack nodes: (position, parent stack id).
class StackPool {
 public:
  struct Node {
    int32_t pos;
    int32_t parent;  ///< a stack id, kRootParent or kBottomParent
  };
  int32_t Intern(int32_t pos, int32_t parent);
  const Node& node(int32_t id) const { return nodes_[id]; }
  int32_t size() const { return static_cast<int32_t>(nodes_.size()); }
  void Clear();

 private:
  std::vector<Node> nodes_;
  absl::flat_hash_map<uint64_t, int32_t> index_;
};

/// A set of stacks after some bytes.
struct StackSet {
  std::vector<int32_t> stacks;  ///< sorted, unique; every top is a byte node
  bool accept = false;          ///< the root rule is complete here
  bool escape = false;          ///< a kBottomParent stack was popped here
  /// No stack can consume another byte.
  bool Dead() const { return stacks.empty(); }
  /// Nothing at all (not even a completed match).
  bool Empty() const { return stacks.empty() && !accept && !escape; }
  void Clear() {
    stacks.clear();
    accept = escape = false;
  }
  bool operator==(const StackSet& o) const {
    return stacks == o.stacks && accept == o.accept && escape == o.escape;
  }
};

/// Runs a PushdownAutomaton over bytes. Holds scratch memory: one per thread.
class StackRecognizer {
 public:
  StackRecognizer(const PushdownAutomaton* pda, StackPool* pool) : pda_(pda), pool_(pool) {}

  /// The stacks before any byte: every alternative of the root rule.
  void Start(StackSet* out);
  /// Adds to `out` the closure of (pos, parent): the stacks whose top is a
  /// byte node reachable without consuming a byte (out is not re-sorted).
  void Close(int32_t pos, int32_t parent, StackSet* out);
  /// `out` = the stacks after `in` consumes `byte` (sorted, unique). A state
  /// of more than kMaxStacks stacks (a grammar ambiguous enough to double its
  /// stacks per byte) is cut to nothing, so no step can take exponential time:
  /// such a continuation is simply not allowed.
  void Advance(const StackSet& in, uint8_t byte, StackSet* out);
  static constexpr std::size_t kMaxStacks = 4096;
  /// Sorts and deduplicates out->stacks.
  static void Normalize(StackSet* out);

  const PushdownAutomaton& pda() const { return *pda_; }
  StackPool& pool() { return *pool_; }

 private:
  void CloseRec(int32_t pos, int32_t parent, StackSet* out);
  const PushdownAutomaton* pda_;
  StackPool* pool_;
  std::vector<uint64_t> visited_;  // (kRef pos, parent) pairs of this closure
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_STACK_RECOGNIZER_H_
