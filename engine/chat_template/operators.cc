#include "engine/chat_template/operators.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/py_string.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {
namespace {

absl::Status TypeError(std::string_view op, const Value& a, const Value& b) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for ", std::string(op), ": '",
                                                 a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::Status Overflow() { return absl::InvalidArgumentError("integer overflow"); }

absl::Status TooLarge(size_t max_bytes) {
  return absl::InvalidArgumentError(absl::StrCat("value exceeds ", max_bytes, " bytes"));
}

absl::StatusOr<Value> Repeat(const Value& seq, int64_t times, size_t max_bytes) {
  if (times < 0) times = 0;
  size_t unit = seq.is_string() ? seq.str().size() : seq.list().size();
  if (unit != 0 && static_cast<uint64_t>(times) > max_bytes / unit) return TooLarge(max_bytes);
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return Value::String(std::move(out));
  }
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
  return seq.is_tuple() ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
}

// Python's ordering of two numbers, two strs, or two lists / two tuples
// (lexicographic by item): -1, 0 or 1. Errors: other pairs (TypeError).
absl::StatusOr<int> Compare(std::string_view op, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    return a.as_float() < b.as_float() ? -1 : a.as_float() > b.as_float() ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const List& x = a.list();
    const List& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!x[i].Equals(y[i])) return Compare(op, x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  return absl::InvalidArgumentError(absl::StrCat("'", std::string(op), "' not supported between instances of '",
                                                 a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::StatusOr<Value> Arithmetic(std::string_view op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) return TypeError(op, a, b);
  const bool floats = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.as_float() == 0) return absl::InvalidArgumentError("division by zero");
    return Value::Float(a.as_float() / b.as_float());
  }
  if (floats) {
    double x = a.as_float(), y = b.as_float();
    if (op == "+") return Value::Float(x + y);
    if (op == "-") return Value::Float(x - y);
    if (op == "*") return Value::Float(x * y);
    if (op == "**") return Value::Float(std::pow(x, y));
    if (y == 0) return absl::InvalidArgumentError("float modulo or floor division by zero");
    if (op == "//") return Value::Float(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::Float(m);
  }
  int64_t x = a.as_int(), y = b.as_int(), r = 0;
  if (op == "+") {
    if (__builtin_add_overflow(x, y, &r)) return Overflow();
    return Value::Int(r);
  }
  if (op == "-") {
    if (__builtin_sub_overflow(x, y, &r)) return Overflow();
    return Value::Int(r);
  }
  if (op == "*") {
    if (__builtin_mul_overflow(x, y, &r)) return Overflow();
    return Value::Int(r);
  }
  if (op == "**") {
    if (y < 0) return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
    int64_t result = 1;
    for (int64_t i = 0; i < y; ++i) {
      if (__builtin_mul_overflow(result, x, &result)) return Overflow();
      if (result == 0 || result == 1) break;
    }
    return Value::Int(result);
  }
  if (y == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
  if (x == INT64_MIN && y == -1) return Overflow();
  int64_t q = x / y, m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) {
    --q;
    m += y;
  }
  return Value::Int(op == "//" ? q : m);
}

}  // namespace

absl::StatusOr<Value> BinaryOp(std::string_view op, const Value& a, const Value& b, size_t max_bytes) {
  if (op == "==") return Value::Bool(a.Equals(b));
  if (op == "!=") return Value::Bool(!a.Equals(b));
  if (op == "~") {
    std::string s = a.ToString();
    s += b.ToString();
    if (s.size() > max_bytes) return TooLarge(max_bytes);
    return Value::String(std::move(s));
  }
  if (op == "in" || op == "not in") {
    bool found = false;
    if (b.is_string()) {
      if (!a.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'in <string>' requires string as left operand, not ", a.TypeName()));
      }
      found = b.str().find(a.str()) != std::string::npos;
    } else if (b.is_dict() && !b.dict().is_namespace) {
      if (a.is_list() || a.is_dict()) {
        return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", a.TypeName(), "'"));
      }
      found = a.is_string() && b.dict().Find(a.str()) != nullptr;
    } else {
      absl::StatusOr<List> items = Iterate(b);
      if (!items.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("argument of type '", b.TypeName(), "' is not iterable"));
      }
      for (const Value& item : *items) found = found || item.Equals(a);
    }
    return Value::Bool(found == (op == "in"));
  }
  if (a.is_undefined()) return absl::InvalidArgumentError(a.str());
  if (b.is_undefined()) return absl::InvalidArgumentError(b.str());
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    LLMSERVE_ASSIGN_OR_RETURN(int cmp, Compare(op, a, b));
    bool r = op == "<" ? cmp < 0 : op == "<=" ? cmp <= 0 : op == ">" ? cmp > 0 : cmp >= 0;
    return Value::Bool(r);
  }
  if (op == "+") {
    if (a.is_string() || b.is_string()) {
      if (!a.is_string() || !b.is_string()) {
        if (a.is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat("can only concatenate str (not \"", b.TypeName(), "\") to str"));
        }
        return TypeError(op, a, b);
      }
      if (a.str().size() + b.str().size() > max_bytes) return TooLarge(max_bytes);
      return Value::String(a.str() + b.str());
    }
    if (a.is_list() || b.is_list()) {
      if (!a.is_list() || !b.is_list() || a.is_tuple() != b.is_tuple()) {
        if (a.is_list()) {
          return absl::InvalidArgumentError(absl::StrCat("can only concatenate ", a.TypeName(),
                                                         " (not \"", b.TypeName(), "\") to ", a.TypeName()));
        }
        return TypeError(op, a, b);
      }
      if (a.list().size() + b.list().size() > max_bytes) return TooLarge(max_bytes);
      List out = a.list();
      out.insert(out.end(), b.list().begin(), b.list().end());
      return a.is_tuple() ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && b.is_number() && !b.is_float()) return Repeat(a, b.as_int(), max_bytes);
    if ((b.is_string() || b.is_list()) && a.is_number() && !a.is_float()) return Repeat(b, a.as_int(), max_bytes);
  }
  if (op == "%" && a.is_string()) {
    return absl::InvalidArgumentError("printf-style string formatting is not supported");
  }
  return Arithmetic(op, a, b);
}

absl::StatusOr<Value> Slice(const Value& obj, std::optional<int64_t> start, std::optional<int64_t> stop,
                            std::optional<int64_t> step) {
  int64_t st = step.value_or(1);
  if (st == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  std::vector<std::string> cps;
  int64_t len;
  if (obj.is_list()) {
    len = static_cast<int64_t>(obj.list().size());
  } else if (obj.is_string()) {
    cps = CodePoints(obj.str());
    len = static_cast<int64_t>(cps.size());
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", obj.TypeName(), "' object is not subscriptable"));
  }
  const int64_t lower = st > 0 ? 0 : -1, upper = st > 0 ? len : len - 1;
  auto adjust = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v;
    if (x < 0) x += len;
    return x < lower ? lower : x > upper ? upper : x;
  };
  int64_t from = adjust(start, st > 0 ? lower : upper);
  int64_t to = adjust(stop, st > 0 ? upper : lower);
  List items;
  std::string text;
  for (int64_t i = from; st > 0 ? i < to : i > to; i += st) {
    if (obj.is_list()) {
      items.push_back(obj.list()[static_cast<size_t>(i)]);
    } else {
      text += cps[static_cast<size_t>(i)];
    }
  }
  return obj.is_list() ? Value::MakeList(std::move(items)) : Value::String(std::move(text));
}

}  // namespace llmserve::chat_template
