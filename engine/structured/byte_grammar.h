#ifndef LLMSERVE_ENGINE_STRUCTURED_BYTE_GRAMMAR_H_
#define LLMSERVE_ENGINE_STRUCTURED_BYTE_GRAMMAR_H_

// A context-free grammar over bytes: the one form every structured-output kind
// (JSON schema, JSON object, regex, choice, GBNF) is translated into before it
// is compiled to a pushdown automaton (pushdown_automaton.h). Code points are
// expanded to their UTF-8 byte sequences here, so the automaton and the token
// masks work on the byte strings of any vocabulary (the byte-level design of
// xgrammar, Dong et al. 2024, arXiv:2411.15100).

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve::structured {

/// A set of byte values.
using ByteSet = std::bitset<256>;

/// A regular-expression-like term of a rule body.
struct Expr {
  enum class Kind {
    kBytes,   ///< one byte from `bytes`
    kSeq,     ///< `children` one after another (empty: the empty string)
    kAlt,     ///< one of `children` (must not be empty)
    kRef,     ///< the rule `rule`
    kRepeat,  ///< `children[0]` repeated min..max times (max -1: unbounded)
  };
  Kind kind = Kind::kSeq;
  ByteSet bytes;
  std::vector<Expr> children;
  int rule = -1;
  int min = 0;
  int max = 0;
};

/// The empty string.
Expr Empty();
/// One byte of `set`.
Expr Bytes(const ByteSet& set);
/// One byte in [lo, hi].
Expr ByteRange(uint8_t lo, uint8_t hi);
/// The literal bytes of `text`.
Expr Literal(std::string_view text);
/// `parts` in order (flattened).
Expr Seq(std::vector<Expr> parts);
/// One of `options` (flattened; must not be empty).
Expr Alt(std::vector<Expr> options);
/// A reference to rule `rule`.
Expr Ref(int rule);
/// `e` repeated [min, max] times; max -1 = unbounded.
Expr Repeat(Expr e, int min, int max);
/// `e` or nothing.
Expr Optional(Expr e);

/// Inclusive code-point ranges, sorted and disjoint after Normalize.
using CodepointRanges = std::vector<std::pair<uint32_t, uint32_t>>;
/// Sorts and merges ranges, clamps to [0, 0x10FFFF].
CodepointRanges NormalizeRanges(CodepointRanges ranges);
/// The code points in [0, 0x10FFFF] not in `ranges` (normalized).
CodepointRanges ComplementRanges(const CodepointRanges& ranges);
/// One code point of `ranges` as its UTF-8 bytes (surrogates D800-DFFF are
/// excluded: they have no UTF-8 form). The split into byte-range sequences
/// follows RE2's UTF-8 range compilation (Cox, "Regular Expression Matching:
/// the Virtual Machine Approach", 2009). Empty `ranges` gives an empty kAlt-free
/// expression matching nothing (an empty byte set).
Expr CodepointSet(const CodepointRanges& ranges);
/// UTF-8 encoding of `cp` (cp <= 0x10FFFF).
std::string EncodeUtf8(uint32_t cp);

/// Rules by name; rule bodies are Exprs.
class Grammar {
 public:
  /// Adds a rule (body set later with SetBody) and returns its id.
  int AddRule(std::string name);
  void SetBody(int rule, Expr body) { bodies_[rule] = std::move(body); }
  /// The id of `name`, or -1.
  int Find(std::string_view name) const;
  int num_rules() const { return static_cast<int>(names_.size()); }
  const std::string& name(int rule) const { return names_[rule]; }
  const Expr& body(int rule) const { return bodies_[rule]; }
  int root() const { return root_; }
  void set_root(int rule) { root_ = rule; }

 private:
  std::vector<std::string> names_;
  std::vector<Expr> bodies_;
  int root_ = -1;
};

/// A grammar whose root is `e` (single rule named "root").
Grammar SingleRuleGrammar(Expr e);

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_BYTE_GRAMMAR_H_
