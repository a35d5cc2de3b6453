#include "engine/structured/pushdown_automaton.h"

#include <array>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmserve::structured {

namespace {

struct Elem {
  PdaNode::Kind kind;
  int32_t arg;  // byte-set index or rule
};
using Alternative = std::vector<Elem>;

// Largest repetition count written out ({m,n} expands to n copies).
constexpr int kMaxRepeat = 10000;
// Up to this many optional copies of one byte set become kOptional nodes in
// the caller's rule (more would multiply the stacks of an ambiguous match).
constexpr int kMaxInlineOptional = 4;
// Most alternatives a rule gets from choices distributed over a sequence.
constexpr std::size_t kMaxDistributed = 32;

}  // namespace

/// Builds a PushdownAutomaton from a Grammar (see PushdownAutomaton::Compile).
class PdaLowering {
 public:
  PdaLowering(const Grammar& g, std::string_view field) : grammar_(g), field_(field) {}

  absl::StatusOr<std::shared_ptr<const PushdownAutomaton>> Run() {
    if (grammar_.root() < 0 || grammar_.root() >= grammar_.num_rules()) {
      return absl::InvalidArgumentError(absl::StrCat(field_, ": the grammar has no root rule"));
    }
    for (int r = 0; r < grammar_.num_rules(); ++r) {
      rules_.emplace_back();
      names_.push_back(grammar_.name(r));
    }
    for (int r = 0; r < grammar_.num_rules(); ++r) {
      LowerRule(r, grammar_.body(r));
      if (!status_.ok()) return status_;
    }
    if (absl::Status s = Check(); !s.ok()) return s;
    return Flatten();
  }

 private:
  int NewRule(const std::string& origin) {
    rules_.emplace_back();
    names_.push_back(origin);
    return static_cast<int>(rules_.size()) - 1;
  }

  int32_t InternSet(const ByteSet& set) {
    std::array<uint64_t, 4> w{};
    for (int b = 0; b < 256; ++b) {
      if (set.test(b)) w[b >> 6] |= uint64_t{1} << (b & 63);
    }
    auto [it, inserted] = set_index_.emplace(w, static_cast<int32_t>(sets_.size()));
    if (inserted) sets_.push_back(w);
    return it->second;
  }

  void LowerRule(int rule, const Expr& body) {
    std::vector<Alternative> alts;
    auto lower = [&](const Expr& c) {
      std::vector<Alternative> outs(1);
      AppendMulti(rule, c, &outs);
      for (Alternative& a : outs) alts.push_back(std::move(a));
    };
    if (body.kind == Expr::Kind::kAlt) {
      for (const Expr& c : body.children) lower(c);
    } else {
      lower(body);
    }
    rules_[rule] = std::move(alts);
  }

  // Appends `e` to every alternative of `outs`. A choice inside a sequence
  // multiplies the alternatives (A (B|C) D → A B D | A C D) while there are
  // at most kMaxDistributed, so a rule's positions see their own
  // continuation rather than the end of a helper rule, which keeps the
  // context-dependent tokens of the mask cache few.
  void AppendMulti(int rule, const Expr& e, std::vector<Alternative>* outs) {
    if (!status_.ok()) return;
    if (e.kind == Expr::Kind::kSeq) {
      for (const Expr& c : e.children) AppendMulti(rule, c, outs);
      return;
    }
    if (e.kind == Expr::Kind::kAlt && outs->size() * e.children.size() <= kMaxDistributed) {
      std::vector<Alternative> result;
      for (const Expr& c : e.children) {
        std::vector<Alternative> copy = *outs;
        AppendMulti(rule, c, &copy);
        for (Alternative& a : copy) result.push_back(std::move(a));
      }
      for (const Alternative& a : result) AddElems(a.size());
      *outs = std::move(result);
      return;
    }
    Alternative tail;
    Append(rule, e, &tail);
    for (Alternative& a : *outs) a.insert(a.end(), tail.begin(), tail.end());
  }

  // A rule whose body is `e` (for a group inside a sequence or a repetition).
  int AuxRule(int origin, const Expr& e) {
    if (e.kind == Expr::Kind::kRef) return e.rule;
    int r = NewRule(names_[origin]);
    LowerRule(r, e);
    return r;
  }

  void AddElems(std::size_t n) {
    num_elems_ += n;
    if (num_elems_ > PushdownAutomaton::kMaxNodes && status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(field_, ": the grammar is too large (repetition counts expand it past ",
                       PushdownAutomaton::kMaxNodes, " positions)"));
    }
  }

  void Append(int rule, const Expr& e, Alternative* out) {
    if (!status_.ok()) return;
    switch (e.kind) {
      case Expr::Kind::kBytes:
        out->push_back({PdaNode::Kind::kBytes, InternSet(e.bytes)});
        AddElems(1);
        return;
      case Expr::Kind::kSeq:
        for (const Expr& c : e.children) Append(rule, c, out);
        return;
      case Expr::Kind::kRef:
        out->push_back({PdaNode::Kind::kRef, e.rule});
        AddElems(1);
        return;
      case Expr::Kind::kAlt:
        out->push_back({PdaNode::Kind::kRef, AuxRule(rule, e)});
        AddElems(1);
        return;
      case Expr::Kind::kRepeat:
        AppendRepeat(rule, e, out);
        return;
    }
  }

  void AppendRepeat(int rule, const Expr& e, Alternative* out) {
    const Expr& x = e.children[0];
    if (e.min < 0 || (e.max >= 0 && e.max < e.min)) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(field_, ": bad repetition count {", e.min, ",", e.max, "}"));
      return;
    }
    if (e.min > kMaxRepeat || e.max > kMaxRepeat) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          field_, ": repetition count ", std::max(e.min, e.max), " exceeds ", kMaxRepeat));
      return;
    }
    const bool simple = x.kind == Expr::Kind::kBytes || x.kind == Expr::Kind::kRef;
    Elem unit{};
    if (x.kind == Expr::Kind::kBytes) {
      unit = {PdaNode::Kind::kBytes, InternSet(x.bytes)};
    } else {
      unit = {PdaNode::Kind::kRef, simple ? x.rule : AuxRule(rule, x)};
    }
    if (!status_.ok()) return;
    if (unit.kind == PdaNode::Kind::kBytes && e.max >= 0 && e.max - e.min <= kMaxInlineOptional) {
      // x{m,n} of one byte set: m byte nodes and n - m optional byte nodes,
      // all inside the caller's rule.
      for (int i = 0; i < e.min; ++i) out->push_back(unit);
      for (int i = e.min; i < e.max; ++i) out->push_back({PdaNode::Kind::kOptional, unit.arg});
      AddElems(e.max);
      return;
    }
    for (int i = 0; i < e.min; ++i) out->push_back(unit);
    AddElems(e.min);
    if (e.max < 0) {
      if (unit.kind == PdaNode::Kind::kBytes) {
        out->push_back({PdaNode::Kind::kStar, unit.arg});
      } else {
        // r ::= unit r | (empty)
        int r = NewRule(names_[rule]);
        rules_[r] = {Alternative{unit, {PdaNode::Kind::kRef, r}}, Alternative{}};
        out->push_back({PdaNode::Kind::kRef, r});
      }
      AddElems(3);
      return;
    }
    // o_1 ::= unit | (empty);  o_k ::= unit o_{k-1} | (empty)
    int prev = -1;
    std::vector<int32_t> chain;
    for (int k = 0; k < e.max - e.min; ++k) {
      int r = NewRule(names_[rule]);
      Alternative a{unit};
      if (prev >= 0) a.push_back({PdaNode::Kind::kRef, prev});
      rules_[r] = {std::move(a), Alternative{}};
      chain.push_back(r);
      prev = r;
      AddElems(3);
      if (!status_.ok()) return;
    }
    if (prev >= 0) out->push_back({PdaNode::Kind::kRef, prev});
    if (chain.size() >= 2) chains_.push_back({unit, std::move(chain)});
  }

  bool SetEmpty(int32_t s) const {
    return (sets_[s][0] | sets_[s][1] | sets_[s][2] | sets_[s][3]) == 0;
  }

  // The rules with an alternative all of whose elements satisfy
  // elem_ok(el, flags), where flags are the rules found so far; to a fixpoint.
  template <typename ElemOk>
  std::vector<bool> RulesWithAlternative(ElemOk elem_ok) const {
    const int n = static_cast<int>(rules_.size());
    std::vector<bool> flags(n, false);
    auto all_ok = [&](const Alternative& a) {
      for (const Elem& el : a) {
        if (!elem_ok(el, flags)) return false;
      }
      return true;
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (int r = 0; r < n; ++r) {
        if (flags[r]) continue;
        for (const Alternative& a : rules_[r]) {
          if (all_ok(a)) {
            flags[r] = true;
            changed = true;
            break;
          }
        }
      }
    }
    return flags;
  }

  // Whether `el` can match the empty string, given the nullable rules.
  static bool ElemNullable(const Elem& el, const std::vector<bool>& nullable) {
    return el.kind == PdaNode::Kind::kStar || el.kind == PdaNode::Kind::kOptional ||
           (el.kind == PdaNode::Kind::kRef && nullable[el.arg]);
  }

  // Whether `el` matches some string, given the productive rules.
  bool ElemProductive(const Elem& el, const std::vector<bool>& productive) const {
    if (el.kind == PdaNode::Kind::kBytes) return !SetEmpty(el.arg);
    if (el.kind == PdaNode::Kind::kRef) return productive[el.arg];
    return true;  // kStar, kOptional match the empty string
  }

  absl::Status Check() {
    const int n = static_cast<int>(rules_.size());
    // Productive rules (some alternative derives a string).
    const std::vector<bool> productive =
        RulesWithAlternative([&](const Elem& el, const std::vector<bool>& f) { return ElemProductive(el, f); });
    if (!productive[grammar_.root()]) {
      return absl::InvalidArgumentError(absl::StrCat(field_, ": the grammar matches no string"));
    }
    for (int r = 0; r < n; ++r) {
      std::vector<Alternative> kept;
      for (Alternative& a : rules_[r]) {
        bool ok = true;
        for (const Elem& el : a) ok = ok && ElemProductive(el, productive);
        if (ok) kept.push_back(std::move(a));
      }
      rules_[r] = std::move(kept);
    }
    const std::vector<bool> nullable = RulesWithAlternative(ElemNullable);
    auto elem_nullable = [&](const Elem& el) { return ElemNullable(el, nullable); };
    // Left edges r -> s (s entered before any byte is consumed). A cycle of
    // left edges only through tail calls keeps the stack flat (the recognizer
    // stops it); a cycle with a non-tail edge grows the stack without bound.
    std::vector<std::vector<int>> left(n);
    std::vector<std::pair<int, int>> pushing;
    for (int r = 0; r < n; ++r) {
      for (const Alternative& a : rules_[r]) {
        for (std::size_t i = 0; i < a.size(); ++i) {
          if (a[i].kind == PdaNode::Kind::kRef) {
            left[r].push_back(a[i].arg);
            if (i + 1 < a.size()) pushing.emplace_back(r, a[i].arg);
          }
          if (!elem_nullable(a[i])) break;
        }
      }
    }
    for (const auto& [r, s] : pushing) {
      std::vector<bool> seen(n, false);
      std::vector<int> todo{s};
      seen[s] = true;
      while (!todo.empty()) {
        int x = todo.back();
        todo.pop_back();
        if (x == r) {
          return absl::InvalidArgumentError(
              absl::StrCat(field_, ": rule '", names_[r], "' is left-recursive"));
        }
        for (int y : left[x]) {
          if (!seen[y]) {
            seen[y] = true;
            todo.push_back(y);
          }
        }
      }
    }
    ComputeFollow(nullable);
    KeepIntactChains(nullable);
    return absl::OkStatus();
  }

  // Keeps the chains of o_k rules (AppendRepeat) whose rules still have
  // their shape after unproductive alternatives were dropped and whose unit
  // consumes at least one byte (PushdownAutomaton::RepeatLink relies on both).
  void KeepIntactChains(const std::vector<bool>& nullable) {
    std::vector<Chain> kept;
    for (Chain& c : chains_) {
      bool ok = !ElemNullable(c.unit, nullable);
      for (std::size_t k = 0; ok && k < c.rules.size(); ++k) {
        const std::vector<Alternative>& alts = rules_[c.rules[k]];
        ok = alts.size() == 2 && alts[1].empty() && alts[0].size() == (k == 0 ? 1u : 2u) &&
             alts[0][0].kind == c.unit.kind && alts[0][0].arg == c.unit.arg &&
             (k == 0 || (alts[0][1].kind == PdaNode::Kind::kRef && alts[0][1].arg == c.rules[k - 1]));
      }
      if (ok) kept.push_back(std::move(c));
    }
    chains_ = std::move(kept);
  }

  using Words = std::array<uint64_t, 4>;
  static bool OrInto(Words* dst, const Words& src) {
    bool changed = false;
    for (int k = 0; k < 4; ++k) {
      const uint64_t v = (*dst)[k] | src[k];
      changed |= v != (*dst)[k];
      (*dst)[k] = v;
    }
    return changed;
  }

  // LL FIRST and FOLLOW byte sets of the rules, to a fixpoint.
  void ComputeFollow(const std::vector<bool>& nullable) {
    const int n = static_cast<int>(rules_.size());
    std::vector<Words> first(n, Words{});
    auto elem_first = [&](const Elem& el) -> Words {
      return el.kind == PdaNode::Kind::kRef ? first[el.arg] : sets_[el.arg];
    };
    auto elem_nullable = [&](const Elem& el) { return ElemNullable(el, nullable); };
    for (bool changed = true; changed;) {
      changed = false;
      for (int r = 0; r < n; ++r) {
        for (const Alternative& a : rules_[r]) {
          for (const Elem& el : a) {
            changed |= OrInto(&first[r], elem_first(el));
            if (!elem_nullable(el)) break;
          }
        }
      }
    }
    follow_.assign(n, Words{});
    for (bool changed = true; changed;) {
      changed = false;
      for (int r = 0; r < n; ++r) {
        for (const Alternative& a : rules_[r]) {
          for (std::size_t i = 0; i < a.size(); ++i) {
            if (a[i].kind != PdaNode::Kind::kRef) continue;
            Words f{};
            bool rest_nullable = true;
            for (std::size_t j = i + 1; j < a.size(); ++j) {
              OrInto(&f, elem_first(a[j]));
              if (!elem_nullable(a[j])) {
                rest_nullable = false;
                break;
              }
            }
            if (rest_nullable) OrInto(&f, follow_[r]);
            changed |= OrInto(&follow_[a[i].arg], f);
          }
        }
      }
    }
  }

  std::shared_ptr<const PushdownAutomaton> Flatten() {
    auto pda = std::make_shared<PushdownAutomaton>();
    pda->root_ = grammar_.root();
    pda->rule_names_ = names_;
    pda->rule_alts_.resize(rules_.size());
    for (std::size_t r = 0; r < rules_.size(); ++r) {
      for (const Alternative& a : rules_[r]) {
        pda->rule_alts_[r].push_back(static_cast<int32_t>(pda->nodes_.size()));
        for (const Elem& el : a) pda->nodes_.push_back({el.kind, el.arg});
        pda->nodes_.push_back({PdaNode::Kind::kEnd, 0});
        pda->node_rule_.resize(pda->nodes_.size(), static_cast<int32_t>(r));
      }
    }
    for (const auto& w : sets_) pda->byte_sets_.push_back({{w[0], w[1], w[2], w[3]}});
    for (const auto& w : follow_) pda->follow_.push_back({{w[0], w[1], w[2], w[3]}});
    pda->repeat_links_.assign(rules_.size(), RepeatLink{});
    for (const Chain& c : chains_) {
      const int32_t id = static_cast<int32_t>(pda->chains_.size());
      for (std::size_t k = 0; k < c.rules.size(); ++k) {
        pda->repeat_links_[c.rules[k]] = RepeatLink{id, static_cast<int32_t>(k + 1)};
      }
      pda->chains_.push_back(c.rules);
    }
    return pda;
  }

  const Grammar& grammar_;
  std::string field_;
  absl::Status status_;
  std::vector<std::vector<Alternative>> rules_;
  std::vector<std::string> names_;
  std::vector<std::array<uint64_t, 4>> sets_;
  std::map<std::array<uint64_t, 4>, int32_t> set_index_;
  std::size_t num_elems_ = 0;
  std::vector<Words> follow_;
  // The rules o_1, o_2, ... of one bounded repetition and its unit.
  struct Chain {
    Elem unit;
    std::vector<int32_t> rules;
  };
  std::vector<Chain> chains_;
};

std::vector<std::pair<int32_t, int32_t>> PushdownAutomaton::ReachableTops() const {
  // rets[r]: the return positions rule r is entered with (a fixpoint over
  // the calls: a tail call adds its caller's set to the callee's).
  const int32_t num_nodes = static_cast<int32_t>(nodes_.size());
  std::vector<std::set<int32_t>> rets(num_rules());
  std::vector<std::vector<int32_t>> tail_callees(num_rules());
  for (int32_t p = 0; p + 1 < num_nodes; ++p) {
    if (nodes_[p].kind != PdaNode::Kind::kRef) continue;
    if (nodes_[p + 1].kind == PdaNode::Kind::kEnd) {
      tail_callees[node_rule_[p]].push_back(nodes_[p].arg);
    } else {
      rets[nodes_[p].arg].insert(p + 1);
    }
  }
  rets[root_].insert(kRootReturn);
  std::vector<int32_t> work(num_rules());
  for (int32_t r = 0; r < num_rules(); ++r) work[r] = r;
  while (!work.empty()) {
    const int32_t r = work.back();
    work.pop_back();
    for (int32_t callee : tail_callees[r]) {
      const std::size_t before = rets[callee].size();
      rets[callee].insert(rets[r].begin(), rets[r].end());
      if (rets[callee].size() != before) work.push_back(callee);
    }
  }
  std::vector<std::pair<int32_t, int32_t>> tops;
  for (int32_t n = 0; n < num_nodes; ++n) {
    if (!IsByteNode(nodes_[n].kind)) continue;
    for (int32_t ret : rets[node_rule_[n]]) tops.emplace_back(n, ret);
  }
  return tops;
}

absl::StatusOr<std::shared_ptr<const PushdownAutomaton>> PushdownAutomaton::Compile(
    const Grammar& grammar, std::string_view field) {
  return PdaLowering(grammar, field).Run();
}

}  // namespace llmserve::structured
