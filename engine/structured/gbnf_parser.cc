#include "engine/structured/gbnf_parser.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/structured/regex_parser.h"

namespace llmserve::structured {

namespace {

// Deepest group nesting (the parser and the lowering recurse per level).
constexpr int kMaxNesting = 256;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

class GbnfParser {
 public:
  GbnfParser(std::string_view text, std::string_view field) : s_(text), field_(field) {}

  absl::StatusOr<Grammar> Parse() {
    SkipSpace(/*newlines=*/true);
    while (ok() && i_ < s_.size()) {
      ParseRule();
      SkipSpace(true);
    }
    if (!ok()) return status_;
    for (const auto& [name, id] : ids_) {
      if (!defined_[id]) return Error(absl::StrCat("undefined rule '", name, "'"), first_use_[id]);
    }
    auto root = ids_.find("root");
    if (root == ids_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(field_, ": no rule 'root'"));
    }
    g_.set_root(root->second);
    return std::move(g_);
  }

 private:
  bool ok() const { return status_.ok(); }

  absl::Status Error(const std::string& what, std::size_t at) {
    if (status_.ok()) {
      int line = 1, col = 1;
      for (std::size_t k = 0; k < at && k < s_.size(); ++k) {
        if (s_[k] == '\n') {
          ++line;
          col = 1;
        } else {
          ++col;
        }
      }
      status_ = absl::InvalidArgumentError(absl::StrCat(field_, ": line ", line, ", column ", col, ": ", what));
    }
    return status_;
  }

  void SkipSpace(bool newlines) {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
        ++i_;
      } else if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  int RuleId(const std::string& name, std::size_t at) {
    auto [it, inserted] = ids_.emplace(name, 0);
    if (inserted) {
      it->second = g_.AddRule(name);
      defined_.push_back(false);
      first_use_.push_back(at);
    }
    return it->second;
  }

  std::string ParseName() {
    const std::size_t start = i_;
    while (i_ < s_.size() && IsNameChar(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }

  void ParseRule() {
    const std::size_t start = i_;
    const std::string name = ParseName();
    if (name.empty()) {
      (void)Error("expected a rule name", start);
      return;
    }
    SkipSpace(false);
    if (s_.substr(i_, 3) != "::=") {
      (void)Error("expected '::='", i_);
      return;
    }
    i_ += 3;
    SkipSpace(true);
    const int id = RuleId(name, start);
    if (defined_[id]) {
      (void)Error(absl::StrCat("rule '", name, "' is defined twice"), start);
      return;
    }
    defined_[id] = true;
    Expr body = ParseAlternatives(/*nested=*/false);
    if (!ok()) return;
    if (i_ < s_.size() && s_[i_] != '\n' && s_[i_] != '\r') {
      (void)Error(s_[i_] == ')' ? "unbalanced ')'" : absl::StrCat("unexpected '", std::string(1, s_[i_]), "'"), i_);
      return;
    }
    g_.SetBody(id, std::move(body));
  }

  Expr ParseAlternatives(bool nested) {
    std::vector<Expr> options{ParseSequence(nested)};
    while (ok() && i_ < s_.size() && s_[i_] == '|') {
      ++i_;
      SkipSpace(true);
      options.push_back(ParseSequence(nested));
    }
    return Alt(std::move(options));
  }

  Expr ParseSequence(bool nested) {
    std::vector<Expr> parts;
    while (ok() && i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '|' || c == ')' || c == '\n' || c == '\r') break;
      Expr atom = ParsePrimary(nested);
      if (!ok()) break;
      atom = ParsePostfix(std::move(atom));
      parts.push_back(std::move(atom));
      SkipSpace(nested);
    }
    return Seq(std::move(parts));
  }

  Expr ParsePostfix(Expr atom) {
    int count = 0;
    while (ok() && i_ < s_.size()) {
      const char c = s_[i_];
      if ((c == '*' || c == '+' || c == '?' || c == '{') && ++count > kMaxNesting) {
        (void)Error("too many repetition operators in a row", i_);
        return atom;
      }
      if (c == '*') {
        atom = Repeat(std::move(atom), 0, -1);
      } else if (c == '+') {
        atom = Repeat(std::move(atom), 1, -1);
      } else if (c == '?') {
        atom = Repeat(std::move(atom), 0, 1);
      } else if (c == '{') {
        const std::size_t start = i_;
        ++i_;
        SkipSpace(false);
        int min = 0, max = 0;
        if (!ParseInt(&min)) {
          (void)Error("expected a repetition count", i_);
          return atom;
        }
        SkipSpace(false);
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          SkipSpace(false);
          if (i_ < s_.size() && s_[i_] == '}') {
            max = -1;
          } else if (!ParseInt(&max)) {
            (void)Error("expected a repetition count", i_);
            return atom;
          }
          SkipSpace(false);
        } else {
          max = min;
        }
        if (i_ >= s_.size() || s_[i_] != '}') {
          (void)Error("expected '}'", i_);
          return atom;
        }
        if (max >= 0 && max < min) {
          (void)Error("repetition {m,n} with n < m", start);
          return atom;
        }
        atom = Repeat(std::move(atom), min, max);
      } else {
        break;
      }
      ++i_;
    }
    return atom;
  }

  bool ParseInt(int* out) {
    const std::size_t start = i_;
    long v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      v = std::min<long>(v * 10 + (s_[i_] - '0'), 1000000);
      ++i_;
    }
    *out = static_cast<int>(v);
    return i_ > start;
  }

  Expr ParsePrimary(bool nested) {
    (void)nested;
    const std::size_t start = i_;
    const char c = s_[i_];
    if (c == '"') {
      ++i_;
      std::string bytes;
      while (ok()) {
        if (i_ >= s_.size() || s_[i_] == '\n') {
          (void)Error("unterminated literal", start);
          return Empty();
        }
        if (s_[i_] == '"') {
          ++i_;
          break;
        }
        int32_t cp = ParseChar();
        if (cp < 0) return Empty();
        bytes += EncodeUtf8(static_cast<uint32_t>(cp));
      }
      return Literal(bytes);
    }
    if (c == '[') {
      ++i_;
      bool negate = false;
      if (i_ < s_.size() && s_[i_] == '^') {
        negate = true;
        ++i_;
      }
      CodepointRanges set;
      while (ok()) {
        if (i_ >= s_.size() || s_[i_] == '\n') {
          (void)Error("unterminated character class", start);
          return Empty();
        }
        if (s_[i_] == ']') {
          ++i_;
          break;
        }
        int32_t lo = ParseChar();
        if (lo < 0) return Empty();
        int32_t hi = lo;
        if (i_ + 1 < s_.size() && s_[i_] == '-' && s_[i_ + 1] != ']') {
          const std::size_t range_at = i_;
          ++i_;
          hi = ParseChar();
          if (hi < 0) return Empty();
          if (hi < lo) {
            (void)Error("bad character range", range_at);
            return Empty();
          }
        }
        set.push_back({static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)});
      }
      return CodepointSet(negate ? ComplementRanges(set) : set);
    }
    if (c == '.') {
      ++i_;
      return CodepointSet({{0, 0x10FFFF}});
    }
    if (c == '(') {
      if (++depth_ > kMaxNesting) {
        (void)Error("groups nested too deeply", start);
        return Empty();
      }
      ++i_;
      SkipSpace(true);
      Expr inner = ParseAlternatives(/*nested=*/true);
      --depth_;
      if (!ok()) return inner;
      if (i_ >= s_.size() || s_[i_] != ')') {
        (void)Error("expected ')'", i_);
        return inner;
      }
      ++i_;
      return inner;
    }
    if (IsNameChar(c)) {
      const std::string name = ParseName();
      SkipSpace(false);
      if (s_.substr(i_, 3) == "::=") {
        (void)Error(absl::StrCat("missing newline before rule '", name, "'"), start);
        return Empty();
      }
      return Ref(RuleId(name, start));
    }
    (void)Error(absl::StrCat("unexpected '", std::string(1, c), "'"), start);
    return Empty();
  }

  // One code point of a literal or class: an escape or a UTF-8 character.
  int32_t ParseChar() {
    const std::size_t start = i_;
    if (s_[i_] != '\\') {
      int32_t cp = DecodeUtf8(s_, &i_);
      if (cp < 0) (void)Error("invalid UTF-8", start);
      return cp;
    }
    ++i_;
    if (i_ >= s_.size()) {
      (void)Error("trailing backslash", start);
      return -1;
    }
    const char e = s_[i_++];
    int digits = 0;
    switch (e) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
      case '^':
        return e;
      case 'x': digits = 2; break;
      case 'u': digits = 4; break;
      case 'U': digits = 8; break;
      default:
        (void)Error(absl::StrCat("unknown escape '\\", std::string(1, e), "'"), start);
        return -1;
    }
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (i_ >= s_.size()) break;
      const char h = s_[i_];
      int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) {
        (void)Error("bad hexadecimal escape", start);
        return -1;
      }
      v = v * 16 + d;
      ++i_;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
      (void)Error("escape is not a Unicode scalar value", start);
      return -1;
    }
    return static_cast<int32_t>(v);
  }

  std::string_view s_;
  std::string field_;
  std::size_t i_ = 0;
  int depth_ = 0;
  absl::Status status_;
  Grammar g_;
  std::map<std::string, int> ids_;
  std::vector<bool> defined_;
  std::vector<std::size_t> first_use_;
};

}  // namespace

absl::StatusOr<Grammar> ParseGbnf(std::string_view text, std::string_view field) {
  return GbnfParser(text, field).Parse();
}

}  // namespace llmserve::structured
