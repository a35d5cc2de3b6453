#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_VALUE_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_VALUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve::chat_template {

class Value;

/// A Python list (Jinja lists and tuples). Shared by reference, as in Python.
using List = std::vector<Value>;

/// A Python dict with string keys, in insertion order (Python 3.7+ dicts),
/// or a Jinja `namespace()` object (attribute assignment allowed).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;

  /// The value under `key`, or nullptr.
  const Value* Find(std::string_view key) const;
  /// Inserts or replaces `key` (keeps the first insertion position).
  void Set(std::string key, Value value);
};

/// Arguments of a call: positional, then keyword (name, value) in call order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

/// A callable value (a global function such as raise_exception, a macro, or a
/// bound method). Errors are returned as statuses.
using Function = std::function<absl::StatusOr<Value>(const CallArgs& args)>;

/// A value of the template language: Jinja's default Undefined, Python's None,
/// bool, int (64-bit here), float, str (UTF-8), list, dict, or a callable.
class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  /// Undefined (the name is kept for error messages).
  Value() = default;
  static Value Undefined(std::string name);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value String(std::string s);
  static Value MakeList(List items);
  /// A Python tuple: a list that prints as (a, b) and differs from a list in ==.
  static Value MakeTuple(List items);
  static Value MakeDict(Dict dict);
  static Value MakeFunction(std::string name, Function f);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  /// int, float or bool (Python's bool is an int).
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && tuple_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return is_bool() ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return is_float() ? f_ : static_cast<double>(as_int()); }
  /// The string of a string; the undefined name of Undefined; the function name.
  const std::string& str() const { return s_; }
  const List& list() const { return *list_; }
  const Dict& dict() const { return *dict_; }
  Dict& mutable_dict() const { return *dict_; }
  const Function& function() const { return *fn_; }

  /// Python truthiness (Undefined is false).
  bool Truthy() const;
  /// Python's str(): what `{{ value }}` prints (Undefined prints nothing).
  std::string ToString() const;
  /// Python's repr() (strings quoted as Python does; Undefined is "Undefined").
  std::string Repr() const;
  /// Python's ==: numbers compare by value (True == 1), lists and dicts deeply.
  bool Equals(const Value& other) const;
  /// The Python type name for messages ("str", "int", "list", "dict", ...).
  std::string TypeName() const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool tuple_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

/// Python's repr() of a float (shortest round-trip digits; exponent form
/// below 1e-4 and from 1e16, e.g. "1.0", "0.1", "1e+16", "inf", "nan").
std::string FloatRepr(double f);

/// Python's repr() of a str: single quotes unless the text has a single quote
/// and no double quote; backslash escapes for \\, the quote, \n \r \t and
/// other control characters.
std::string StringRepr(std::string_view s);

/// Number of Unicode code points in UTF-8 `s` (Python's len of a str).
size_t CodePointCount(std::string_view s);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_VALUE_H_
