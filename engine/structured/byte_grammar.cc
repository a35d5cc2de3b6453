#include "engine/structured/byte_grammar.h"

#include <algorithm>

namespace llmserve::structured {

Expr Empty() { return Expr{}; }

Expr Bytes(const ByteSet& set) {
  Expr e;
  e.kind = Expr::Kind::kBytes;
  e.bytes = set;
  return e;
}

Expr ByteRange(uint8_t lo, uint8_t hi) {
  ByteSet s;
  for (int b = lo; b <= hi; ++b) s.set(b);
  return Bytes(s);
}

Expr Literal(std::string_view text) {
  std::vector<Expr> parts;
  parts.reserve(text.size());
  for (char c : text) {
    ByteSet s;
    s.set(static_cast<uint8_t>(c));
    parts.push_back(Bytes(s));
  }
  return Seq(std::move(parts));
}

Expr Seq(std::vector<Expr> parts) {
  Expr e;
  e.kind = Expr::Kind::kSeq;
  for (Expr& p : parts) {
    if (p.kind == Expr::Kind::kSeq) {
      for (Expr& c : p.children) e.children.push_back(std::move(c));
    } else {
      e.children.push_back(std::move(p));
    }
  }
  if (e.children.size() == 1) return std::move(e.children[0]);
  return e;
}

Expr Alt(std::vector<Expr> options) {
  Expr e;
  e.kind = Expr::Kind::kAlt;
  for (Expr& o : options) {
    if (o.kind == Expr::Kind::kAlt) {
      for (Expr& c : o.children) e.children.push_back(std::move(c));
    } else {
      e.children.push_back(std::move(o));
    }
  }
  if (e.children.size() == 1) return std::move(e.children[0]);
  return e;
}

Expr Ref(int rule) {
  Expr e;
  e.kind = Expr::Kind::kRef;
  e.rule = rule;
  return e;
}

Expr Repeat(Expr inner, int min, int max) {
  Expr e;
  e.kind = Expr::Kind::kRepeat;
  e.min = min;
  e.max = max;
  e.children.push_back(std::move(inner));
  return e;
}

Expr Optional(Expr e) { return Repeat(std::move(e), 0, 1); }

CodepointRanges NormalizeRanges(CodepointRanges ranges) {
  for (auto& r : ranges) {
    r.first = std::min<uint32_t>(r.first, 0x10FFFF);
    r.second = std::min<uint32_t>(r.second, 0x10FFFF);
  }
  std::sort(ranges.begin(), ranges.end());
  CodepointRanges out;
  for (const auto& r : ranges) {
    if (r.first > r.second) continue;
    if (!out.empty() && r.first <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, r.second);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

CodepointRanges ComplementRanges(const CodepointRanges& ranges) {
  CodepointRanges n = NormalizeRanges(ranges);
  CodepointRanges out;
  uint32_t next = 0;
  for (const auto& r : n) {
    if (r.first > next) out.push_back({next, r.first - 1});
    next = r.second + 1;
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

std::string EncodeUtf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

namespace {

// Splits [lo, hi] (same UTF-8 length) until every byte position of the
// encodings ranges independently, then emits one byte-range sequence.
void SplitUtf8(uint32_t lo, uint32_t hi, std::vector<Expr>* out) {
  const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF};
  for (uint32_t b : bounds) {
    if (lo <= b && hi > b) {
      SplitUtf8(lo, b, out);
      SplitUtf8(b + 1, hi, out);
      return;
    }
  }
  const std::string elo = EncodeUtf8(lo);
  const int n = static_cast<int>(elo.size());
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        SplitUtf8(lo, lo | m, out);
        SplitUtf8((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        SplitUtf8(lo, (hi & ~m) - 1, out);
        SplitUtf8(hi & ~m, hi, out);
        return;
      }
    }
  }
  const std::string ehi = EncodeUtf8(hi);
  std::vector<Expr> seq;
  for (int i = 0; i < n; ++i) {
    seq.push_back(ByteRange(static_cast<uint8_t>(elo[i]), static_cast<uint8_t>(ehi[i])));
  }
  out->push_back(Seq(std::move(seq)));
}

}  // namespace

Expr CodepointSet(const CodepointRanges& ranges) {
  CodepointRanges n = NormalizeRanges(ranges);
  // Without the surrogates.
  CodepointRanges clean;
  for (auto r : n) {
    if (r.second < 0xD800 || r.first > 0xDFFF) {
      clean.push_back(r);
      continue;
    }
    if (r.first < 0xD800) clean.push_back({r.first, 0xD7FF});
    if (r.second > 0xDFFF) clean.push_back({0xE000, r.second});
  }
  ByteSet ascii;
  std::vector<Expr> options;
  for (auto r : clean) {
    if (r.first < 0x80) {
      for (uint32_t c = r.first; c <= std::min<uint32_t>(r.second, 0x7F); ++c) ascii.set(c);
      if (r.second < 0x80) continue;
      r.first = 0x80;
    }
    SplitUtf8(r.first, r.second, &options);
  }
  if (ascii.any() || options.empty()) options.insert(options.begin(), Bytes(ascii));
  return Alt(std::move(options));
}

int Grammar::AddRule(std::string name) {
  names_.push_back(std::move(name));
  bodies_.push_back(Empty());
  return static_cast<int>(names_.size()) - 1;
}

int Grammar::Find(std::string_view name) const {
  for (int i = 0; i < num_rules(); ++i) {
    if (names_[i] == name) return i;
  }
  return -1;
}

Grammar SingleRuleGrammar(Expr e) {
  Grammar g;
  int root = g.AddRule("root");
  g.SetBody(root, std::move(e));
  g.set_root(root);
  return g;
}

}  // namespace llmserve::structured
