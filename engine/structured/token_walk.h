#ifndef LLMSERVE_ENGINE_STRUCTURED_TOKEN_WALK_H_
#define LLMSERVE_ENGINE_STRUCTURED_TOKEN_WALK_H_

// Runs many tokens through a StackRecognizer from one StackSet, sharing the
// work of common prefixes: the tokens come sorted by their bytes, so walking
// them in order is a depth-first walk of the vocabulary's byte trie, and a
// prefix that killed every stack rejects all tokens below it at the cost of a
// comparison (xgrammar's trie-based mask computation, Dong et al. 2024,
// arXiv:2411.15100, section 3.2).

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "engine/structured/stack_recognizer.h"

namespace llmserve::structured {

/// The outcome of one token walked from a StackSet.
struct TokenWalkResult {
  /// Every byte was consumed and something remains (stacks, a completed
  /// match, or — from a kBottomParent start — an escape after the last byte).
  bool accepted = false;
  /// Some path popped the kBottomParent stack before the last byte, so the
  /// rest of the token depends on the unknown part of the stack.
  bool escaped_early = false;
};

/// Scratch state for walks; reuse one per thread. Stack sets met during walks
/// are interned and their transitions by byte memoized (a lazily built DFA
/// over the recognizer's states), so a trie node costs one table lookup once
/// its state was seen. The memo refers to the recognizer's StackPool ids:
/// Clear() it whenever the pool is cleared or rebuilt.
class TokenWalker {
 public:
  /// Forgets the interned sets and transitions.
  void Clear() {
    sets_.clear();
    index_.clear();
    next_.clear();
  }

  /// The bytes among `candidates` (4 words of 64 bits) on which `set` steps
  /// to itself, into `out` (4 words): a token made only of such bytes ends
  /// the walk in `set` (accepted iff `set` has a stack), whatever its length.
  /// The transitions found are memoized for the next Walk.
  void SelfLoopBytes(StackRecognizer& rec, const StackSet& set, const uint64_t* candidates, uint64_t* out) {
    if (sets_.size() > kMaxSets) Clear();
    const int32_t id = Intern(set);
    for (int w = 0; w < 4; ++w) {
      out[w] = 0;
      for (uint64_t m = candidates[w]; m != 0; m &= m - 1) {
        const int b = w * 64 + __builtin_ctzll(m);
        if (Step(rec, id, static_cast<uint8_t>(b)) == id) out[w] |= uint64_t{1} << (b & 63);
      }
    }
  }

  /// Calls on_token(index, TokenWalkResult) for each token in `tokens` that
  /// is accepted or escaped early (the others are rejected; a dead prefix's
  /// whole block of tokens is skipped by binary search). `bytes_of(i)` gives
  /// the bytes of token i; they are sorted ascending. An escape before byte b
  /// counts only if `follow` (4 words of 64 bits, nullptr: every byte) holds b.
  /// Returns the number of tokens visited (those not skipped as a block): a
  /// measure of the walk's work.
  template <typename BytesOf, typename OnToken>
  std::size_t Walk(StackRecognizer& rec, const StackSet& initial, std::size_t num_tokens, const uint64_t* follow,
            BytesOf&& bytes_of, OnToken&& on_token) {
    if (sets_.size() > kMaxSets) Clear();
    if (levels_.empty()) levels_.resize(1);
    levels_[0] = Intern(initial);
    esc_cum_.assign(1, 0);
    auto follows = [follow](uint8_t b) { return follow == nullptr || ((follow[b >> 6] >> (b & 63)) & 1u); };
    std::string_view prev;
    std::size_t computed = 0;  // levels_[0..computed] hold prev's prefix
    std::size_t visited = 0;
    for (std::size_t i = 0; i < num_tokens; ++i) {
      ++visited;
      const std::string_view b = bytes_of(i);
      const std::size_t len = b.size();
      std::size_t common = 0;
      const std::size_t lim = std::min(prev.size(), len);
      while (common < lim && prev[common] == b[common]) ++common;
      std::size_t d = std::min(common, computed);
      if (levels_.size() < len + 1) levels_.resize(len + 1);
      if (esc_cum_.size() < len + 2) esc_cum_.resize(len + 2, 0);
      while (d < len && !sets_[levels_[d]].Dead()) {
        const uint8_t byte = static_cast<uint8_t>(b[d]);
        levels_[d + 1] = Step(rec, levels_[d], byte);
        esc_cum_[d + 1] = esc_cum_[d] | static_cast<char>(sets_[levels_[d]].escape && follows(byte));
        ++d;
      }
      computed = d;
      prev = b;
      TokenWalkResult r;
      const StackSet& at = sets_[levels_[d]];
      if (d == len) {
        r.accepted = !at.Empty();
        r.escaped_early = esc_cum_[len] != 0;
      } else {
        const bool esc_here = at.escape && follows(static_cast<uint8_t>(b[d]));
        r.escaped_early = esc_cum_[d] != 0 || esc_here;
        if (!r.escaped_early && !at.escape) {
          // Every following token that starts with b[0..d] dies here too.
          const std::string_view dead = b.substr(0, d);
          std::size_t lo = i + 1, hi = num_tokens;
          while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (bytes_of(mid).substr(0, d) == dead) lo = mid + 1;
            else hi = mid;
          }
          i = lo - 1;
          continue;
        }
      }
      if (r.accepted || r.escaped_early) on_token(i, r);
    }
    return visited;
  }

 private:
  static constexpr std::size_t kMaxSets = 1 << 16;

  int32_t Intern(const StackSet& set) {
    key_.assign(set.stacks.begin(), set.stacks.end());
    key_.push_back(set.accept ? -1 : 0);
    key_.push_back(set.escape ? -1 : 0);
    auto [it, inserted] = index_.try_emplace(key_, static_cast<int32_t>(sets_.size()));
    if (inserted) {
      sets_.push_back(set);
      next_.emplace_back();
      next_.back().fill(-1);
    }
    return it->second;
  }

  int32_t Step(StackRecognizer& rec, int32_t from, uint8_t byte) {
    int32_t to = next_[from][byte];
    if (to >= 0) return to;
    rec.Advance(sets_[from], byte, &scratch_);
    to = Intern(scratch_);
    next_[from][byte] = to;
    return to;
  }

  std::vector<StackSet> sets_;
  absl::flat_hash_map<std::vector<int32_t>, int32_t> index_;
  std::vector<std::array<int32_t, 256>> next_;
  std::vector<int32_t> key_;
  StackSet scratch_;
  std::vector<int32_t> levels_;
  std::vector<char> esc_cum_;
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_TOKEN_WALK_H_
