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
// Accepted tokens are kept as a bitmask (precomputed ones as a list of ids
// when they are few), uncertain ones as a list sorted by bytes; a step's
// mask is then the OR of its tops' accepted tokens plus the uncertain tokens
// that the full stacks accept. Entries are computed on first use or
// precomputed (below).
//
// Entries of one bounded repetition (PushdownAutomaton::RepeatLink: the same
// place under o_k and o_j, e.g. a string with maxLength at two character
// counts) agree on every token of up to min(k, j) - 1 bytes, so an entry whose
// sibling is cached copies those tokens' results and walks only the longer
// tokens (few once the count is large; dying after a few bytes when it is
// small) instead of the whole vocabulary. Chains whose units are rules with
// the same nodes (every bounded JSON string of a schema) and whose rules have
// the same FOLLOW set form one family, so their entries derive from each
// other too. Likewise the places of a run of d byte nodes of one set (x{m},
// e.g. a uuid's hex digits) agree on tokens of up to min(d, d') - 1 bytes.
// And where the start state loops to itself on some bytes (a byte-set star:
// a JSON string's plain characters, digits), the tokens made only of those
// bytes are accepted without a walk.
//
// Precompute (at compile time, xgrammar's section 3.1: masks computed before
// decoding) fills the entries of PushdownAutomaton::ReachableTops() up to a
// budget, ordered so that each family's entries derive from one another; the
// entries it computes are pinned (kept when the cache is emptied), the rest
// stay lazy.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/structured/pushdown_automaton.h"
#include "engine/structured/structured_output.h"

namespace llmserve::structured {

/// The cached tokens of one byte node.
struct PositionMask {
  /// The accepted tokens as a bitmask [words], or empty when they are few
  /// (Compact, done to precomputed entries): then `accepted_ids` lists them.
  /// Read them with OrInto or Bitmask.
  std::vector<uint32_t> accepted;
  std::vector<int32_t> accepted_ids;  ///< ascending; only when `accepted` is empty
  std::vector<int32_t> uncertain;     ///< token ids, sorted by their bytes
  int32_t words = 0;                  ///< ceil(vocab_size / 32)

  /// ORs the accepted tokens into `out` ([words]).
  void OrInto(uint32_t* out) const;
  /// The accepted tokens as a bitmask [words].
  std::vector<uint32_t> Bitmask() const;
  /// Keeps the accepted tokens as ids when the list takes at most a quarter
  /// of the bitmask's bytes (a UTF-8 lead byte's place accepts a few dozen
  /// of GPT-2's tokens: about 100 bytes instead of 6.3 KB).
  void Compact();
  /// Bytes held (header, bitmask or ids, uncertain ids).
  std::size_t bytes() const;
};

/// What TokenMaskCache::Precompute did.
struct PrecomputeStats {
  std::size_t entries = 0;        ///< entries computed (and pinned)
  std::size_t walked_tokens = 0;  ///< tokens the vocabulary walks visited
  std::size_t bytes = 0;          ///< bytes of the pinned entries
  bool complete = false;          ///< every reachable pair is cached
};

/// PositionMasks of one automaton and vocabulary by (byte node, return
/// position). Thread-safe. Bounded: when the entries' bytes would pass
/// `max_bytes`, the entries computed on demand are dropped (entries in use
/// stay alive through their shared_ptr; the pinned, precomputed ones stay in
/// the cache) and the cache refills on demand.
class TokenMaskCache {
 public:
  /// The return position of a root stack.
  static constexpr int32_t kAtRoot = PushdownAutomaton::kRootReturn;
  /// Default bound of the entries' memory (about 2,600 bitmasks on GPT-2;
  /// entries kept as a few ids take far less).
  static constexpr std::size_t kDefaultMaxBytes = std::size_t{16} << 20;
  /// Default bound of Precompute's pinned entries: half the cache (about
  /// 1,300 bitmasks on GPT-2), so entries computed on demand keep the other
  /// half and never evict a precomputed one.
  static constexpr std::size_t kPrecomputeMaxBytes = kDefaultMaxBytes / 2;
  /// Default bound of Precompute's work, in tokens the vocabulary walks
  /// visit (TokenWalker::Walk; a token under a dead prefix is skipped, not
  /// visited): a walk that visits all of GPT-2's 50,257 tokens takes 1-3 ms,
  /// so about 20 such walks, tens of ms on the caller's thread
  /// (docs/structured-output.md, "Cost").
  static constexpr std::size_t kPrecomputeMaxWalkedTokens = std::size_t{1} << 20;

  /// `self_loops`: tokens made only of bytes on which the start state loops
  /// to itself (a JSON string's plain characters, digits, ...) are accepted
  /// without a walk; false (tests) walks every token.
  TokenMaskCache(std::shared_ptr<const PushdownAutomaton> pda, std::shared_ptr<const StructuredVocabulary> vocab,
                 std::size_t max_bytes = kDefaultMaxBytes, bool self_loops = true);
  /// The entry of byte node `pos` under return position `ret` (the position
  /// of the stack's parent node, or kAtRoot), computed on first use.
  std::shared_ptr<const PositionMask> Get(int32_t pos, int32_t ret) const;
  /// Computes and pins the entries of the automaton's ReachableTops() in
  /// order of how soon an output reaches them: by the units a bounded
  /// repetition consumed before (a string's first characters first), with
  /// the nodes inside a chain's unit after its alternatives' first nodes
  /// (UTF-8 continuation bytes, escape letters: met only when a token ends
  /// inside a character) after every first node; within that, the deeper
  /// members of a family before the shallower ones (so each derives from a
  /// cached sibling). Stops when every pair is cached or the next entry's
  /// bitmask would take the pinned entries past min(max_bytes, max_bytes() /
  /// 2) or the walks have visited `max_walked_tokens` tokens. Entries already
  /// cached are pinned without work. Takes the lock per entry only, so
  /// concurrent Get calls proceed (and may compute an entry twice; the first
  /// stored wins). Run it before handing the cache to decode steps (the
  /// compiler does, on the compiling thread).
  PrecomputeStats Precompute(std::size_t max_bytes = kPrecomputeMaxBytes,
                             std::size_t max_walked_tokens = kPrecomputeMaxWalkedTokens) const;
  /// Number of entries held.
  std::size_t size() const;
  /// Bytes held by the entries (bitmasks, id lists, headers); <= max_bytes.
  std::size_t bytes() const;
  /// Entries computed from a cached sibling (walking only longer tokens)
  /// since construction; for tests and benchmarks.
  std::size_t num_derived() const;
  /// Entries whose self-loop bytes accepted tokens without a walk; for tests.
  std::size_t num_self_loop_entries() const;
  /// Entries computed on demand by Get (not by Precompute) since
  /// construction; for tests and benchmarks (0 after a generation that only
  /// met precomputed entries).
  std::size_t num_lazy() const;
  /// Entries pinned by Precompute.
  std::size_t num_pinned() const;
  /// The bound of the entries' bytes.
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  // The bounded-repetition family of (pos, ret): entries with the same key
  // and depths k, j agree on tokens of up to min(k, j) - 1 bytes.
  // Key: a unit rule's shape and the offset of pos in it plus the chain's
  // FOLLOW set; or a byte-set unit and ret; or a run's set, end and ret.
  using FamilyKey = std::array<uint64_t, 7>;
  struct Family {
    FamilyKey key{};
    int32_t depth = 0;  // 0: no family
  };
  Family FamilyOf(int32_t pos, int32_t ret) const;
  // Walks every token longer than `min_len` bytes from (pos, ret) into
  // *entry; the shorter ones are left as they are. With `bound`, a token
  // neither accepted nor uncertain there is rejected without a walk.
  // Returns the number of tokens the walker visited (TokenWalker::Walk).
  std::size_t Walk(int32_t pos, int32_t ret, std::size_t min_len, PositionMask* entry,
            const PositionMask* bound = nullptr) const;
  std::unique_ptr<PositionMask> Compute(int32_t pos, int32_t ret, const Family& family,
                                        std::shared_ptr<const PositionMask> sibling, int32_t sibling_depth,
                                        std::size_t* walked_tokens) const;
  // Get's work: the entry of (pos, ret), computed if absent (adding the
  // tokens walked to *walked_tokens) and pinned if `pin`.
  std::shared_ptr<const PositionMask> GetOrCompute(int32_t pos, int32_t ret, bool pin,
                                                   std::size_t* walked_tokens) const;
  // Drops the entries that are not pinned (the lock is held).
  void EvictUnpinned() const;
  struct Slot {
    std::shared_ptr<const PositionMask> mask;
    std::size_t bytes = 0;
    bool pinned = false;
  };
  std::shared_ptr<const PushdownAutomaton> pda_;
  std::shared_ptr<const StructuredVocabulary> vocab_;
  const std::size_t max_bytes_;
  const bool self_loops_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<uint64_t, Slot> entries_;
  // Cached entries of each family by depth (pinned: never dropped).
  mutable std::map<FamilyKey, std::map<int32_t, Slot>> families_;
  // Per rule: an id shared by the rules with the same nodes (kinds, args).
  std::vector<int32_t> rule_shape_;
  // Per node: the end of its run of byte nodes of one set (kBytes only).
  std::vector<int32_t> run_end_;
  mutable std::size_t bytes_ = 0;
  mutable std::size_t pinned_bytes_ = 0;
  mutable std::size_t num_pinned_ = 0;
  mutable std::size_t num_lazy_ = 0;
  mutable std::size_t num_derived_ = 0;
  mutable std::size_t num_self_loop_entries_ = 0;
};

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_TOKEN_MASK_CACHE_H_
