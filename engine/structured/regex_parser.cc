#include "engine/structured/regex_parser.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace llmserve::structured {

int32_t DecodeUtf8(std::string_view s, std::size_t* pos) {
  const std::size_t i = *pos;
  if (i >= s.size()) return -1;
  const uint8_t c = static_cast<uint8_t>(s[i]);
  int n = 0;
  uint32_t cp = 0;
  if (c < 0x80) {
    *pos = i + 1;
    return c;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 1;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 2;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 3;
    cp = c & 0x07;
  } else {
    return -1;
  }
  if (i + n >= s.size()) return -1;
  for (int k = 1; k <= n; ++k) {
    const uint8_t b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return -1;
  }
  *pos = i + n + 1;
  return static_cast<int32_t>(cp);
}

namespace {

// Deepest group nesting (the parser and the lowering recurse per level).
constexpr int kMaxNesting = 256;

CodepointRanges Digit() { return {{'0', '9'}}; }
CodepointRanges Word() { return {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; }
CodepointRanges Space() { return {{'\t', '\r'}, {' ', ' '}}; }

class RegexParser {
 public:
  RegexParser(std::string_view p, std::string_view field) : p_(p), field_(field) {}

  absl::StatusOr<Expr> Parse() {
    if (Peek('^')) ++i_;
    Expr e = ParseAlt();
    if (!status_.ok()) return status_;
    if (i_ < p_.size()) {
      Error(p_[i_] == ')' ? "unbalanced parenthesis" : "unexpected character", i_);
      return status_;
    }
    return e;
  }

 private:
  void Error(std::string_view what, std::size_t at) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(field_, ": ", std::string(what), " at offset ", static_cast<uint64_t>(at)));
    }
  }
  bool Peek(char c) const { return i_ < p_.size() && p_[i_] == c; }

  Expr ParseAlt() {
    std::vector<Expr> options{ParseSeq()};
    while (status_.ok() && Peek('|')) {
      ++i_;
      options.push_back(ParseSeq());
    }
    return Alt(std::move(options));
  }

  Expr ParseSeq() {
    std::vector<Expr> parts;
    while (status_.ok() && i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      if (p_[i_] == '$' && i_ + 1 == p_.size()) {
        ++i_;
        break;
      }
      const std::size_t start = i_;
      Expr atom = ParseAtom();
      if (!status_.ok()) break;
      parts.push_back(ParseQuantifiers(std::move(atom), start));
    }
    return Seq(std::move(parts));
  }

  Expr ParseQuantifiers(Expr atom, std::size_t start) {
    bool repeated = false;
    while (status_.ok() && i_ < p_.size()) {
      const char c = p_[i_];
      const std::size_t quant_at = i_;
      int min = 0, max = 0;
      if (c == '*') {
        min = 0, max = -1;
        ++i_;
      } else if (c == '+') {
        min = 1, max = -1;
        ++i_;
      } else if (c == '?') {
        min = 0, max = 1;
        ++i_;
      } else if (c == '{' && ParseBraces(&min, &max)) {
      } else {
        break;
      }
      if (!status_.ok()) break;
      if (Peek('?')) ++i_;  // lazy: same language
      else if (Peek('+')) {
        Error("possessive quantifier is not supported", i_);
        break;
      }
      (void)start;
      if (atom.kind == Expr::Kind::kRepeat && repeated) {
        Error("multiple repeat", quant_at);
        break;
      }
      repeated = true;
      atom = Repeat(std::move(atom), min, max);
    }
    return atom;
  }

  // {m}, {m,}, {m,n}, {,n}; returns false (consuming nothing) if the brace does
  // not start a quantifier (then it is a literal '{', as in Python).
  bool ParseBraces(int* min, int* max) {
    std::size_t j = i_ + 1;
    auto number = [&](int* out) {
      std::size_t s = j;
      long v = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        v = std::min<long>(v * 10 + (p_[j] - '0'), 1000000);
        ++j;
      }
      *out = static_cast<int>(v);
      return j > s;
    };
    if (!number(min)) {
      // {,n}: Python's {0,n}.
      if (j >= p_.size() || p_[j] != ',' || j + 1 >= p_.size() || p_[j + 1] < '0' || p_[j + 1] > '9') {
        return false;
      }
      *min = 0;
    }
    if (j < p_.size() && p_[j] == '}') {
      *max = *min;
    } else if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (j < p_.size() && p_[j] == '}') {
        *max = -1;
      } else if (!number(max) || j >= p_.size() || p_[j] != '}') {
        return false;
      }
    } else {
      return false;
    }
    if (*max >= 0 && *max < *min) {
      Error("repetition {m,n} with n < m", i_);
    }
    i_ = j + 1;
    return true;
  }

  Expr ParseAtom() {
    const std::size_t start = i_;
    const char c = p_[i_];
    switch (c) {
      case '(': {
        if (++depth_ > kMaxNesting) {
          Error("groups nested too deeply", start);
          return Empty();
        }
        ++i_;
        if (Peek('?')) {
          if (i_ + 1 < p_.size() && p_[i_ + 1] == ':') {
            i_ += 2;
          } else if (i_ + 2 < p_.size() && (p_[i_ + 1] == 'P' || p_[i_ + 1] == '<') &&
                     (p_[i_ + 1] == 'P' ? p_[i_ + 2] == '<' : (p_[i_ + 2] != '=' && p_[i_ + 2] != '!'))) {
            std::size_t close = p_.find('>', i_);
            if (close == std::string_view::npos) {
              Error("unterminated group name", start);
              return Empty();
            }
            i_ = close + 1;
          } else {
            Error("unsupported group construct (lookaround, flags)", start);
            return Empty();
          }
        }
        Expr inner = ParseAlt();
        if (!status_.ok()) return inner;
        if (!Peek(')')) {
          Error("unbalanced parenthesis", start);
          return inner;
        }
        ++i_;
        --depth_;
        return inner;
      }
      case ')':
        Error("unbalanced parenthesis", start);
        return Empty();
      case '[':
        return ParseClass();
      case '.':
        ++i_;
        return CodepointSet(ComplementRanges({{'\n', '\n'}}));
      case '*':
      case '+':
      case '?':
        Error("nothing to repeat", start);
        return Empty();
      case '^':
        Error("'^' is only supported at the start", start);
        return Empty();
      case '$':
        Error("'$' is only supported at the end", start);
        return Empty();
      case '\\': {
        CodepointRanges set;
        if (!ParseEscape(&set, /*in_class=*/false)) return Empty();
        return CodepointSet(set);
      }
      default: {
        int32_t cp = DecodeUtf8(p_, &i_);
        if (cp < 0) {
          Error("invalid UTF-8", start);
          return Empty();
        }
        return Literal(EncodeUtf8(cp));
      }
    }
  }

  // After a backslash at i_: the code points it stands for.
  bool ParseEscape(CodepointRanges* out, bool in_class) {
    const std::size_t start = i_;
    ++i_;
    if (i_ >= p_.size()) {
      Error("trailing backslash", start);
      return false;
    }
    const char c = p_[i_++];
    auto hex = [&](int n) -> int32_t {
      if (i_ + n > p_.size()) return -1;
      int32_t v = 0;
      for (int k = 0; k < n; ++k) {
        const char h = p_[i_ + k];
        int d = (h >= '0' && h <= '9') ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
      }
      i_ += n;
      return v;
    };
    auto one = [&](uint32_t cp) { out->push_back({cp, cp}); };
    switch (c) {
      case 'd': *out = Digit(); return true;
      case 'D': *out = ComplementRanges(Digit()); return true;
      case 'w': *out = Word(); return true;
      case 'W': *out = ComplementRanges(Word()); return true;
      case 's': *out = Space(); return true;
      case 'S': *out = ComplementRanges(Space()); return true;
      case 'n': one('\n'); return true;
      case 't': one('\t'); return true;
      case 'r': one('\r'); return true;
      case 'f': one('\f'); return true;
      case 'v': one('\v'); return true;
      case '0': one(0); return true;
      case 'x':
      case 'u': {
        int32_t v = hex(c == 'x' ? 2 : 4);
        if (v < 0) {
          Error("bad hexadecimal escape", start);
          return false;
        }
        one(static_cast<uint32_t>(v));
        return true;
      }
      case 'b':
        if (in_class) {
          one('\b');
          return true;
        }
        [[fallthrough]];
      case 'B':
      case 'A':
      case 'Z':
      case 'z':
        Error(absl::StrCat("unsupported anchor '\\", std::string(1, c), "'"), start);
        return false;
      default:
        if (c >= '1' && c <= '9') {
          Error("backreferences are not supported", start);
          return false;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          Error(absl::StrCat("unknown escape '\\", std::string(1, c), "'"), start);
          return false;
        }
        --i_;
        {
          int32_t cp = DecodeUtf8(p_, &i_);
          if (cp < 0) {
            Error("invalid UTF-8", start);
            return false;
          }
          one(static_cast<uint32_t>(cp));
        }
        return true;
    }
  }

  Expr ParseClass() {
    const std::size_t start = i_;
    ++i_;
    bool negate = false;
    if (Peek('^')) {
      negate = true;
      ++i_;
    }
    CodepointRanges set;
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) {
        Error("unterminated character class", start);
        return Empty();
      }
      if (p_[i_] == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      // One item: a code point (possibly the start of a range) or a class escape.
      CodepointRanges item;
      if (!ParseClassAtom(&item)) return Empty();
      if (item.size() == 1 && item[0].first == item[0].second && Peek('-') && i_ + 1 < p_.size() &&
          p_[i_ + 1] != ']') {
        const std::size_t range_at = i_;
        ++i_;
        CodepointRanges hi;
        if (!ParseClassAtom(&hi)) return Empty();
        if (hi.size() != 1 || hi[0].first != hi[0].second || hi[0].first < item[0].first) {
          Error("bad character range", range_at);
          return Empty();
        }
        set.push_back({item[0].first, hi[0].first});
      } else {
        set.insert(set.end(), item.begin(), item.end());
      }
    }
    if (negate) set = ComplementRanges(set);
    return CodepointSet(set);
  }

  bool ParseClassAtom(CodepointRanges* out) {
    if (p_[i_] == '\\') return ParseEscape(out, /*in_class=*/true);
    const std::size_t start = i_;
    int32_t cp = DecodeUtf8(p_, &i_);
    if (cp < 0) {
      Error("invalid UTF-8", start);
      return false;
    }
    out->push_back({static_cast<uint32_t>(cp), static_cast<uint32_t>(cp)});
    return true;
  }

  std::string_view p_;
  std::string field_;
  std::size_t i_ = 0;
  int depth_ = 0;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<Expr> ParseRegex(std::string_view pattern, std::string_view field) {
  return RegexParser(pattern, field).Parse();
}

}  // namespace llmserve::structured
