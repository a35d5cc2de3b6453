#include "engine/structured/token_mask_cache.h"

#include <algorithm>
#include <bit>
#include <iterator>
#include <map>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "engine/structured/stack_recognizer.h"
#include "engine/structured/token_walk.h"

namespace llmserve::structured {

void PositionMask::OrInto(uint32_t* out) const {
  if (!accepted.empty()) {
    // Locals: stores through `out` could alias the members, which would keep
    // the loop from being vectorized.
    const uint32_t* m = accepted.data();
    const std::size_t n = accepted.size();
    for (std::size_t w = 0; w < n; ++w) out[w] |= m[w];
    return;
  }
  const int32_t* ids = accepted_ids.data();
  const std::size_t n = accepted_ids.size();
  for (std::size_t i = 0; i < n; ++i) out[ids[i] >> 5] |= 1u << (ids[i] & 31);
}

std::vector<uint32_t> PositionMask::Bitmask() const {
  if (!accepted.empty()) return accepted;
  std::vector<uint32_t> bits(words, 0u);
  OrInto(bits.data());
  return bits;
}

void PositionMask::Compact() {
  if (accepted.empty()) return;
  // Ids take 4 bytes each: at most a quarter of the bitmask's bytes. The
  // count stops at the limit (most bitmasks pass it within a few words).
  const std::size_t limit = accepted.size() / 4;
  std::size_t count = 0;
  for (uint32_t w : accepted) {
    if (w == 0) continue;
    count += static_cast<std::size_t>(std::popcount(w));
    if (count > limit) return;
  }
  accepted_ids.clear();
  accepted_ids.reserve(count);
  for (std::size_t w = 0; w < accepted.size(); ++w) {
    for (uint32_t m = accepted[w]; m != 0; m &= m - 1) {
      accepted_ids.push_back(static_cast<int32_t>(32 * w + __builtin_ctz(m)));
    }
  }
  std::vector<uint32_t>().swap(accepted);
}

std::size_t PositionMask::bytes() const {
  return sizeof(PositionMask) + 4 * (accepted.size() + accepted_ids.size() + uncertain.size());
}

TokenMaskCache::TokenMaskCache(std::shared_ptr<const PushdownAutomaton> pda,
                               std::shared_ptr<const StructuredVocabulary> vocab, std::size_t max_bytes,
                               bool self_loops)
    : pda_(std::move(pda)), vocab_(std::move(vocab)), max_bytes_(max_bytes), self_loops_(self_loops) {
  // A rule's alternatives are consecutive runs of nodes, each closed by kEnd.
  std::map<std::vector<int32_t>, int32_t> shapes;
  rule_shape_.resize(pda_->num_rules());
  std::vector<int32_t> nodes;
  for (int32_t r = 0; r < pda_->num_rules(); ++r) {
    nodes.clear();
    for (int32_t first : pda_->alternatives(r)) {
      for (int32_t n = first;; ++n) {
        nodes.push_back(static_cast<int32_t>(pda_->node(n).kind));
        nodes.push_back(pda_->node(n).arg);
        if (pda_->node(n).kind == PdaNode::Kind::kEnd) break;
      }
      nodes.push_back(-1);
    }
    rule_shape_[r] = shapes.try_emplace(nodes, static_cast<int32_t>(shapes.size())).first->second;
  }
  const int32_t num_nodes = static_cast<int32_t>(pda_->nodes().size());
  run_end_.resize(num_nodes);
  for (int32_t n = num_nodes - 1; n >= 0; --n) {
    const PdaNode& node = pda_->node(n);
    const bool continues = n + 1 < num_nodes && node.kind == PdaNode::Kind::kBytes &&
                           pda_->node(n + 1).kind == PdaNode::Kind::kBytes && pda_->node(n + 1).arg == node.arg;
    run_end_[n] = continues ? run_end_[n + 1] : n + 1;
  }
}

std::shared_ptr<const PositionMask> TokenMaskCache::Get(int32_t pos, int32_t ret) const {
  return GetOrCompute(pos, ret, /*pin=*/false, nullptr);
}

std::shared_ptr<const PositionMask> TokenMaskCache::GetOrCompute(int32_t pos, int32_t ret, bool pin,
                                                                 std::size_t* walked_tokens) const {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(ret);
  const Family family = FamilyOf(pos, ret);
  std::shared_ptr<const PositionMask> sibling;
  int32_t sibling_depth = 0;
  // Pins a cached slot (the lock is held).
  auto pin_slot = [&](Slot& slot) {
    if (!pin || slot.pinned) return;
    slot.pinned = true;
    pinned_bytes_ += slot.bytes;
    ++num_pinned_;
    if (family.depth > 0) {
      if (auto f = families_.find(family.key); f != families_.end()) {
        if (auto d = f->second.find(family.depth); d != f->second.end() && d->second.mask == slot.mask) {
          d->second.pinned = true;
        }
      }
    }
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      pin_slot(it->second);
      return it->second.mask;
    }
    if (family.depth > 0) {
      // The cached sibling sharing the most tokens: the nearest deeper one,
      // else the deepest shallower one.
      if (auto f = families_.find(family.key); f != families_.end() && !f->second.empty()) {
        auto s = f->second.lower_bound(family.depth);
        if (s == f->second.end()) --s;
        sibling_depth = s->first;
        sibling = s->second.mask;
      }
    }
  }
  std::size_t walked = 0;
  std::unique_ptr<PositionMask> computed = Compute(pos, ret, family, std::move(sibling), sibling_depth, &walked);
  if (walked_tokens != nullptr) *walked_tokens += walked;
  // Precomputed entries are kept compact: they fill the pinned half, and
  // compacting costs the compile, not a decode step.
  if (pin) computed->Compact();
  const std::size_t entry_bytes = computed->bytes();
  std::shared_ptr<const PositionMask> entry = std::move(computed);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    pin_slot(it->second);
    return it->second.mask;
  }
  if (!pin) ++num_lazy_;
  if (bytes_ + entry_bytes > max_bytes_) EvictUnpinned();
  // Too large even for an emptied cache: handed out, not kept.
  if (bytes_ + entry_bytes > max_bytes_) return entry;
  entries_.emplace(key, Slot{entry, entry_bytes, pin});
  if (family.depth > 0) families_[family.key].emplace(family.depth, Slot{entry, entry_bytes, pin});
  bytes_ += entry_bytes;
  if (pin) {
    pinned_bytes_ += entry_bytes;
    ++num_pinned_;
  }
  return entry;
}

void TokenMaskCache::EvictUnpinned() const {
  absl::erase_if(entries_, [](const auto& kv) { return !kv.second.pinned; });
  for (auto f = families_.begin(); f != families_.end();) {
    std::erase_if(f->second, [](const auto& kv) { return !kv.second.pinned; });
    f = f->second.empty() ? families_.erase(f) : std::next(f);
  }
  bytes_ = pinned_bytes_;
}

PrecomputeStats TokenMaskCache::Precompute(std::size_t max_bytes, std::size_t max_walked_tokens) const {
  max_bytes = std::min(max_bytes, max_bytes_ / 2);
  // How many units a bounded repetition consumed before reaching a pair:
  // the chain's length minus the pair's depth (0 outside chains).
  std::vector<int32_t> chain_length;
  for (int32_t r = 0; r < pda_->num_rules(); ++r) {
    const RepeatLink& link = pda_->repeat_link(r);
    if (link.chain < 0) continue;
    if (static_cast<std::size_t>(link.chain) >= chain_length.size()) chain_length.resize(link.chain + 1, 0);
    chain_length[link.chain] = std::max(chain_length[link.chain], link.depth);
  }
  struct Item {
    int32_t consumed;  // units of a chain consumed before this pair
    bool inner;        // a chain unit's node after its alternative's first
    int32_t depth;     // its family depth (deeper first), 0 if none
    int32_t pos;
    int32_t ret;
  };
  std::vector<Item> items;
  for (const auto& [pos, ret] : pda_->ReachableTops()) {
    const Family family = FamilyOf(pos, ret);
    int32_t consumed = 0;
    if (family.depth > 0 && family.key[0] <= 1) {
      // Families 0 and 1 are chains: the rule of ret (family 0) or of pos.
      const int32_t rule = family.key[0] == 0 ? pda_->rule_of(ret) : pda_->rule_of(pos);
      consumed = chain_length[pda_->repeat_link(rule).chain] - family.depth;
    }
    // A node after the first of its alternative in a chain's unit (the
    // second byte of a UTF-8 character, an escape's letter) is met only when
    // a token ends inside such a unit: after every chain's first nodes.
    const bool inner = family.depth > 0 && family.key[0] <= 1 && pos > 0 &&
                       pda_->node(pos - 1).kind != PdaNode::Kind::kEnd &&
                       pda_->rule_of(pos - 1) == pda_->rule_of(pos);
    items.push_back(Item{consumed, inner, family.depth, pos, ret});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.inner != b.inner) return !a.inner;
    if (a.consumed != b.consumed) return a.consumed < b.consumed;
    return a.depth > b.depth;
  });
  PrecomputeStats stats;
  const std::size_t entry_words = (vocab_->vocab_size() + 31) / 32;
  std::size_t done = 0;
  for (const Item& item : items) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // An entry holds at least its bitmask.
      if (pinned_bytes_ + sizeof(PositionMask) + 4 * entry_words > max_bytes) break;
    }
    if (stats.walked_tokens >= max_walked_tokens) break;
    const std::size_t pinned_before = num_pinned();
    GetOrCompute(item.pos, item.ret, /*pin=*/true, &stats.walked_tokens);
    stats.entries += num_pinned() - pinned_before;
    ++done;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats.bytes = pinned_bytes_;
  stats.complete = done == items.size();
  return stats;
}

std::size_t TokenMaskCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::size_t TokenMaskCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::size_t TokenMaskCache::num_self_loop_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_self_loop_entries_;
}

std::size_t TokenMaskCache::num_lazy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_lazy_;
}

std::size_t TokenMaskCache::num_pinned() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_pinned_;
}

std::size_t TokenMaskCache::num_derived() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_derived_;
}

TokenMaskCache::Family TokenMaskCache::FamilyOf(int32_t pos, int32_t ret) const {
  // pos inside the unit x, returning into o_k after x (k >= 2: in o_1, x is
  // called last, so its return is o_1's own caller).
  if (ret != kAtRoot) {
    const int32_t r = pda_->rule_of(ret);
    const RepeatLink& link = pda_->repeat_link(r);
    const int32_t first = pda_->alternatives(r)[0];
    if (link.chain >= 0 && ret == first + 1 && pda_->node(first).kind == PdaNode::Kind::kRef) {
      const int32_t unit = pda_->node(first).arg;
      const uint64_t* follow = pda_->follow(r);
      // pos is in x's rule (then its offset there names it in any rule of
      // the same nodes) or in a rule x calls last (a tail call: then pos
      // itself, the same in every such x).
      const uint64_t place = pda_->rule_of(pos) == unit
                                 ? static_cast<uint64_t>(pos - pda_->alternatives(unit)[0])
                                 : (uint64_t{1} << 32) | static_cast<uint32_t>(pos);
      return Family{{0, static_cast<uint64_t>(rule_shape_[unit]), place, follow[0], follow[1], follow[2], follow[3]},
                    link.depth};
    }
  }
  // pos is x itself, a byte set at the start of o_k.
  const int32_t r = pda_->rule_of(pos);
  const RepeatLink& link = pda_->repeat_link(r);
  if (link.chain >= 0 && pos == pda_->alternatives(r)[0] && pda_->node(pos).kind == PdaNode::Kind::kBytes) {
    return Family{{1, static_cast<uint64_t>(pda_->node(pos).arg), static_cast<uint64_t>(static_cast<uint32_t>(ret))},
                  link.depth};
  }
  // pos in a run of d byte nodes of one set (x{m} of a byte set): any string
  // of up to d - 1 bytes stays inside the run, where only the set matters.
  if (pda_->node(pos).kind == PdaNode::Kind::kBytes && run_end_[pos] - pos >= 2) {
    return Family{{2, static_cast<uint64_t>(pda_->node(pos).arg), static_cast<uint64_t>(run_end_[pos]),
                   static_cast<uint64_t>(static_cast<uint32_t>(ret))},
                  run_end_[pos] - pos};
  }
  return Family{};
}

std::unique_ptr<PositionMask> TokenMaskCache::Compute(int32_t pos, int32_t ret, const Family& family,
                                                      std::shared_ptr<const PositionMask> sibling,
                                                      int32_t sibling_depth, std::size_t* walked_tokens) const {
  auto entry = std::make_unique<PositionMask>();
  entry->words = (vocab_->vocab_size() + 31) / 32;
  // Tokens of up to `shared` bytes behave as under the sibling (RepeatLink).
  const std::size_t shared =
      sibling == nullptr ? 0 : static_cast<std::size_t>(std::max(0, std::min(family.depth, sibling_depth) - 1));
  // Under a chain (families 0 and 1, not runs), o_k's paths are o_j's for
  // k < j, so what a deeper sibling rejects is rejected here too.
  const PositionMask* bound = sibling != nullptr && family.key[0] <= 1 && sibling_depth > family.depth
                                  ? sibling.get()
                                  : nullptr;
  if (shared == 0) {
    entry->accepted.assign((vocab_->vocab_size() + 31) / 32, 0u);
    *walked_tokens += Walk(pos, ret, 0, entry.get(), bound);
    return entry;
  }
  entry->accepted = sibling->Bitmask();
  for (int32_t id : sibling->uncertain) {
    if (vocab_->token_bytes(id).size() <= shared) entry->uncertain.push_back(id);
  }
  *walked_tokens += Walk(pos, ret, shared, entry.get(), bound);
  std::lock_guard<std::mutex> lock(mu_);
  ++num_derived_;
  return entry;
}

std::size_t TokenMaskCache::Walk(int32_t pos, int32_t ret, std::size_t min_len, PositionMask* entry,
                                 const PositionMask* bound) const {
  const std::vector<int32_t>& all_longer = vocab_->sorted_ids_longer_than(min_len);
  if (min_len > 0) {
    for (int32_t id : all_longer) entry->accepted[id >> 5] &= ~(1u << (id & 31));
  }
  std::vector<int32_t> possible;
  if (bound != nullptr) {
    std::vector<uint32_t> bits = bound->Bitmask();
    for (int32_t id : bound->uncertain) bits[id >> 5] |= 1u << (id & 31);
    for (int32_t id : all_longer) {
      if ((bits[id >> 5] >> (id & 31)) & 1u) possible.push_back(id);
    }
  }
  const std::vector<int32_t>& longer = bound != nullptr ? possible : all_longer;
  StackPool pool;
  StackRecognizer rec(pda_.get(), &pool);
  StackSet initial;
  const int32_t parent = ret == kAtRoot ? kRootParent : pool.Intern(ret, kBottomParent);
  rec.Close(pos, parent, &initial);
  StackRecognizer::Normalize(&initial);
  // An escape completes the rule of the return position; only bytes of its
  // FOLLOW set can come next (at the root nothing escapes).
  const uint64_t* follow = ret == kAtRoot ? nullptr : pda_->follow(pda_->rule_of(ret));
  TokenWalker walker;
  // Bytes on which the start state loops to itself, among those of its kStar
  // tops (a loop through a tail-recursive rule is left to the walk): tokens
  // made of them only are accepted; the others are walked.
  uint64_t loop[4] = {0, 0, 0, 0};
  if (self_loops_ && !initial.Dead()) {
    uint64_t candidates[4] = {0, 0, 0, 0};
    for (int32_t s : initial.stacks) {
      const int32_t top = pool.node(s).pos;
      if (pda_->node(top).kind != PdaNode::Kind::kStar) continue;
      for (int w = 0; w < 4; ++w) candidates[w] |= pda_->byte_set(top)[w];
    }
    if ((candidates[0] | candidates[1] | candidates[2] | candidates[3]) != 0) {
      walker.SelfLoopBytes(rec, initial, candidates, loop);
    }
  }
  std::vector<int32_t> rest;
  if ((loop[0] | loop[1] | loop[2] | loop[3]) != 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++num_self_loop_entries_;
    }
    for (int32_t id : longer) {
      const std::array<uint64_t, 4>& b = vocab_->token_byte_set(id);
      if ((b[0] & ~loop[0]) == 0 && (b[1] & ~loop[1]) == 0 && (b[2] & ~loop[2]) == 0 && (b[3] & ~loop[3]) == 0) {
        entry->accepted[id >> 5] |= 1u << (id & 31);
      } else {
        rest.push_back(id);
      }
    }
  }
  const std::vector<int32_t>& ids = (loop[0] | loop[1] | loop[2] | loop[3]) != 0 ? rest : longer;
  std::vector<int32_t> uncertain;
  const std::size_t visited = walker.Walk(
      rec, initial, ids.size(), follow, [&](std::size_t i) -> std::string_view { return vocab_->token_bytes(ids[i]); },
      [&](std::size_t i, TokenWalkResult r) {
        const int32_t id = ids[i];
        if (r.accepted) {
          entry->accepted[id >> 5] |= 1u << (id & 31);
        } else if (r.escaped_early) {
          uncertain.push_back(id);
        }
      });
  if (entry->uncertain.empty()) {
    entry->uncertain = std::move(uncertain);
    return visited;
  }
  // Both lists are in sorted_ids order (bytes, then id).
  std::vector<int32_t> merged(entry->uncertain.size() + uncertain.size());
  std::merge(entry->uncertain.begin(), entry->uncertain.end(), uncertain.begin(), uncertain.end(), merged.begin(),
             [&](int32_t a, int32_t b) {
               const std::string& x = vocab_->token_bytes(a);
               const std::string& y = vocab_->token_bytes(b);
               return x < y || (x == y && a < b);
             });
  entry->uncertain = std::move(merged);
  return visited;
}

}  // namespace llmserve::structured
