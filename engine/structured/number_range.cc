#include "engine/structured/number_range.h"

#include <algorithm>
#include <string>
#include <vector>

namespace llmserve::structured {

namespace {

Expr Digit(char lo, char hi) { return ByteRange(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)); }
Expr AnyDigits(int n) { return Repeat(Digit('0', '9'), n, n); }

// Decimal strings x <= y of equal length (leading zeros allowed inside).
Expr SameLength(const std::string& x, const std::string& y) {
  const std::size_t n = x.size();
  if (n == 0) return Empty();
  if (n == 1) return Digit(x[0], y[0]);
  if (x[0] == y[0]) return Seq({Literal(std::string(1, x[0])), SameLength(x.substr(1), y.substr(1))});
  const std::string rx = x.substr(1), ry = y.substr(1);
  const std::string zeros(n - 1, '0'), nines(n - 1, '9');
  if (rx == zeros && ry == nines) return Seq({Digit(x[0], y[0]), AnyDigits(static_cast<int>(n - 1))});
  std::vector<Expr> options;
  char lo_first = x[0];
  if (rx != zeros) {
    options.push_back(Seq({Literal(std::string(1, x[0])), SameLength(rx, nines)}));
    ++lo_first;
  }
  char hi_first = y[0];
  const bool hi_partial = ry != nines;
  if (hi_partial) --hi_first;
  if (lo_first <= hi_first) options.push_back(Seq({Digit(lo_first, hi_first), AnyDigits(static_cast<int>(n - 1))}));
  if (hi_partial) options.push_back(Seq({Literal(std::string(1, y[0])), SameLength(zeros, ry)}));
  return Alt(std::move(options));
}

// Naturals in [a, b] (b absent: unbounded) in canonical decimal.
Expr NaturalRange(uint64_t a, std::optional<uint64_t> b) {
  std::vector<Expr> options;
  const std::string sa = std::to_string(a);
  uint64_t p = 1;  // 10^(len-1)
  for (std::size_t len = 1; len <= 20; ++len) {
    const uint64_t lo_len = len == 1 ? 0 : p;
    const uint64_t hi_len = len == 20 ? UINT64_MAX : p * 10 - 1;
    if (len < 20) p *= 10;
    if (hi_len < a) continue;
    if (b && lo_len > *b) break;
    if (!b && len > sa.size()) {
      // Every longer number: [1-9][0-9]{len-1,}.
      options.push_back(Seq({Digit('1', '9'), Repeat(Digit('0', '9'), static_cast<int>(len - 1), -1)}));
      break;
    }
    const uint64_t x = std::max(a, lo_len);
    const uint64_t y = b ? std::min(*b, hi_len) : hi_len;
    options.push_back(SameLength(std::to_string(x), std::to_string(y)));
  }
  if (options.empty()) return Bytes(ByteSet());  // matches nothing
  return Alt(std::move(options));
}

Expr Fraction() { return Seq({Literal("."), Repeat(Digit('0', '9'), 1, -1)}); }

}  // namespace

Expr IntegerRange(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  std::vector<Expr> options;
  // Non-negative values.
  if (!hi || *hi >= 0) {
    const uint64_t a = lo && *lo > 0 ? static_cast<uint64_t>(*lo) : 0;
    options.push_back(NaturalRange(a, hi ? std::optional<uint64_t>(static_cast<uint64_t>(*hi)) : std::nullopt));
  }
  // Negative values: "-" and a magnitude in [max(1, -hi), -lo].
  if (!lo || *lo < 0) {
    const uint64_t m1 = hi && *hi < 0 ? static_cast<uint64_t>(-(*hi + 1)) + 1 : 1;
    std::optional<uint64_t> m2;
    if (lo) m2 = static_cast<uint64_t>(-(*lo + 1)) + 1;
    options.push_back(Seq({Literal("-"), NaturalRange(m1, m2)}));
  }
  return Alt(std::move(options));
}

Expr NumberRange(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  std::vector<Expr> options;
  // Non-negative: I.f in [I, I+1) is in range for I in [max(lo,0), hi-1];
  // hi itself (and 0 when only negatives are allowed is excluded below)
  // without a fraction.
  if (!hi || *hi >= 0) {
    const uint64_t a = lo && *lo > 0 ? static_cast<uint64_t>(*lo) : 0;
    if (!hi || *hi >= 1) {
      std::optional<uint64_t> b;
      if (hi) b = static_cast<uint64_t>(*hi) - 1;
      if (!b || a <= *b) options.push_back(Seq({NaturalRange(a, b), Optional(Fraction())}));
    }
    if (hi && static_cast<uint64_t>(*hi) >= a) options.push_back(NaturalRange(*hi, *hi));
  }
  // Negative: -(k.f) in (-(k+1), -k] is in range for k in [max(0, -hi), -lo-1];
  // k = -lo without a fraction.
  if (!lo || *lo < 0) {
    const uint64_t k1 = hi && *hi < 0 ? static_cast<uint64_t>(-(*hi + 1)) + 1 : 0;
    std::optional<uint64_t> k2;
    if (lo) k2 = static_cast<uint64_t>(-(*lo + 1));  // -lo - 1
    if (!k2 || k1 <= *k2) {
      // "-0.f" is negative only with a fraction: k = 0 needs one.
      std::vector<Expr> neg;
      if (k1 == 0) {
        neg.push_back(Seq({Literal("0"), Fraction()}));
        if (!k2 || *k2 >= 1) neg.push_back(Seq({NaturalRange(1, k2), Optional(Fraction())}));
      } else {
        neg.push_back(Seq({NaturalRange(k1, k2), Optional(Fraction())}));
      }
      options.push_back(Seq({Literal("-"), Alt(std::move(neg))}));
    }
    if (lo) {
      const uint64_t k = static_cast<uint64_t>(-(*lo + 1)) + 1;
      if (k >= k1 && k >= 1) options.push_back(Seq({Literal("-"), NaturalRange(k, k)}));
    }
  }
  if (options.empty()) return Bytes(ByteSet());
  return Alt(std::move(options));
}

}  // namespace llmserve::structured
