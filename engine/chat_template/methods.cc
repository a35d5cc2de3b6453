// Jinja2's builtin tests, attribute / item lookup, and the Python str / dict
// methods chat templates call. Sources:
// https://jinja.palletsprojects.com/en/3.1.x/templates/#list-of-builtin-tests,
// https://docs.python.org/3/library/stdtypes.html#string-methods
#include <cctype>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/operators.h"
#include "engine/chat_template/py_string.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {
namespace {

absl::Status MethodError(std::string_view method, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(method), "(): ", what));
}

const Value* Arg(const CallArgs& args, size_t index, std::string_view name) {
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return &v;
  }
  return index < args.positional.size() ? &args.positional[index] : nullptr;
}

// An optional str argument (None = absent).
absl::StatusOr<const std::string*> OptionalString(std::string_view method, const Value* v) {
  if (v == nullptr || v->is_none()) return nullptr;
  if (!v->is_string()) return MethodError(method, "argument must be str or None");
  return &v->str();
}

absl::StatusOr<Value> StringMethod(const std::string& s, const std::string& name, const CallArgs& args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    LLMSERVE_ASSIGN_OR_RETURN(const std::string* chars, OptionalString(name, Arg(args, 0, "chars")));
    return Value::String(PyStrip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "upper") return Value::String(AsciiUpper(s));
  if (name == "lower") return Value::String(AsciiLower(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "startswith" || name == "endswith") {
    const Value* arg = Arg(args, 0, "prefix");
    if (arg == nullptr) return MethodError(name, "takes one argument");
    List candidates = arg->is_list() ? arg->list() : List{*arg};
    for (const Value& c : candidates) {
      if (!c.is_string()) return MethodError(name, "argument must be str or a tuple of str");
      const std::string& p = c.str();
      bool match = p.size() <= s.size() &&
                   (name == "startswith" ? s.compare(0, p.size(), p) == 0
                                         : s.compare(s.size() - p.size(), p.size(), p) == 0);
      if (match) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (name == "split" || name == "rsplit") {
    LLMSERVE_ASSIGN_OR_RETURN(const std::string* sep, OptionalString(name, Arg(args, 0, "sep")));
    if (sep != nullptr && sep->empty()) return MethodError(name, "empty separator");
    const Value* maxsplit = Arg(args, 1, "maxsplit");
    int64_t max = maxsplit != nullptr ? maxsplit->as_int() : -1;
    if (name == "rsplit" && max >= 0) return MethodError(name, "maxsplit is not supported");
    List out;
    for (std::string& part : PySplit(s, sep, max)) out.push_back(Value::String(std::move(part)));
    return Value::MakeList(std::move(out));
  }
  if (name == "replace") {
    const Value* old = Arg(args, 0, "old");
    const Value* replacement = Arg(args, 1, "new");
    const Value* count = Arg(args, 2, "count");
    if (old == nullptr || replacement == nullptr || !old->is_string() || !replacement->is_string()) {
      return MethodError(name, "takes two str arguments");
    }
    return Value::String(PyReplace(s, old->str(), replacement->str(), count != nullptr ? count->as_int() : -1));
  }
  if (name == "join") {
    const Value* items = Arg(args, 0, "iterable");
    if (items == nullptr) return MethodError(name, "takes one argument");
    LLMSERVE_ASSIGN_OR_RETURN(List list, Iterate(*items));
    std::string out;
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) {
        return MethodError(name, absl::StrCat("sequence item ", i, ": expected str instance, ",
                                              list[i].TypeName(), " found"));
      }
      if (i > 0) out += s;
      out += list[i].str();
    }
    return Value::String(std::move(out));
  }
  if (name == "find" || name == "count") {
    const Value* sub = Arg(args, 0, "sub");
    if (sub == nullptr || !sub->is_string()) return MethodError(name, "takes a str argument");
    if (name == "find") {
      size_t at = s.find(sub->str());
      return Value::Int(at == std::string::npos ? -1 : static_cast<int64_t>(CodePointCount(s.substr(0, at))));
    }
    if (sub->str().empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub->str()); at != std::string::npos; at = s.find(sub->str(), at + sub->str().size())) ++n;
    return Value::Int(n);
  }
  return MethodError(name, "no such str method");
}

absl::StatusOr<Value> DictMethod(const Value& d, const std::string& name, const CallArgs& args) {
  if (name == "get") {
    const Value* key = Arg(args, 0, "key");
    const Value* def = Arg(args, 1, "default");
    if (key == nullptr) return MethodError(name, "takes a key");
    const Value* v = key->is_string() ? d.dict().Find(key->str()) : nullptr;
    if (v != nullptr) return *v;
    return def != nullptr ? *def : Value::None();
  }
  List out;
  for (const auto& [k, v] : d.dict().items) {
    if (name == "items") {
      out.push_back(Value::MakeTuple({Value::String(k), v}));
    } else if (name == "keys") {
      out.push_back(Value::String(k));
    } else {
      out.push_back(v);
    }
  }
  return Value::MakeList(std::move(out));
}

bool IsStringMethod(std::string_view name) {
  static const auto* names = new std::set<std::string, std::less<>>{
      "strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize", "startswith",
      "endswith", "split", "rsplit", "replace", "join", "find", "count"};
  return names->count(name) != 0;
}

bool IsDictMethod(std::string_view name) {
  return name == "get" || name == "items" || name == "keys" || name == "values";
}

const std::set<std::string, std::less<>>& TestNames() {
  static const auto* names = new std::set<std::string, std::less<>>{
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "even", "false",
      "float", "ge", "gt", "in", "integer", "iterable", "le", "lower", "lt", "mapping", "ne",
      "none", "number", "odd", "sameas", "sequence", "string", "true", "undefined", "upper",
      "==", "!=", "<", "<=", ">", ">="};
  return *names;
}

}  // namespace

std::optional<Value> GetMethod(const Value& object, std::string_view name) {
  std::string method(name);
  if (object.is_string() && IsStringMethod(name)) {
    std::string s = object.str();
    return Value::MakeFunction(method, [s, method](const CallArgs& args) {
      return StringMethod(s, method, args);
    });
  }
  if (object.is_dict() && !object.dict().is_namespace && IsDictMethod(name)) {
    Value d = object;
    return Value::MakeFunction(method, [d, method](const CallArgs& args) {
      return DictMethod(d, method, args);
    });
  }
  return std::nullopt;
}

Value GetAttribute(const Value& object, std::string_view name) {
  if (std::optional<Value> m = GetMethod(object, name)) return *m;
  if (object.is_dict()) {
    if (const Value* v = object.dict().Find(name)) return *v;
  }
  return Value::Undefined(absl::StrCat("'", object.TypeName(), " object' has no attribute '", std::string(name), "'"));
}

Value GetItem(const Value& object, const Value& key) {
  if ((object.is_list() || object.is_string()) && key.is_number() && !key.is_float()) {
    int64_t i = key.as_int();
    if (object.is_list()) {
      int64_t n = static_cast<int64_t>(object.list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return object.list()[static_cast<size_t>(i)];
    } else {
      std::vector<std::string> cps = CodePoints(object.str());
      int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value::String(cps[static_cast<size_t>(i)]);
    }
    return Value::Undefined(absl::StrCat("'", object.TypeName(), " object' has no element ", key.as_int()));
  }
  if (object.is_dict() && key.is_string()) {
    if (const Value* v = object.dict().Find(key.str())) return *v;
  }
  if (key.is_string()) {
    if (std::optional<Value> m = GetMethod(object, key.str())) return *m;
  }
  return Value::Undefined(absl::StrCat("'", object.TypeName(), " object' has no element ", key.Repr()));
}

bool IsKnownTest(std::string_view name) { return TestNames().count(name) != 0; }

absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& v, const CallArgs& args) {
  const Value* arg = args.positional.empty() ? nullptr : &args.positional[0];
  auto need_arg = [&]() -> absl::Status {
    if (arg != nullptr) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("test '", std::string(name), "' needs an argument"));
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict() && !v.dict().is_namespace;
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.dict().is_namespace);
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.dict().is_namespace);
  // Jinja2's Undefined defines __call__ (it raises), so callable() is true.
  if (name == "callable") return v.is_function() || v.is_undefined();
  if (name == "lower" || name == "upper") {
    // str.islower / str.isupper: some cased character, none of the other case.
    const std::string s = v.ToString();
    bool cased = false, wrong = false;
    for (char c : s) {
      if (std::islower(static_cast<unsigned char>(c))) {
        cased = true;
        wrong = wrong || name == "upper";
      } else if (std::isupper(static_cast<unsigned char>(c))) {
        cased = true;
        wrong = wrong || name == "lower";
      }
    }
    return cased && !wrong;
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    // value % 2 == 1, value % 2 == 0, value % num == 0, with Python's %.
    if (v.is_undefined()) return absl::InvalidArgumentError(v.str());
    if (!v.is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("test '", std::string(name), "' needs a number, got ", v.TypeName()));
    }
    Value divisor = Value::Int(2);
    if (name == "divisibleby") {
      LLMSERVE_RETURN_IF_ERROR(need_arg());
      if (!arg->is_number()) return absl::InvalidArgumentError("test 'divisibleby' needs a number");
      divisor = *arg;
    }
    LLMSERVE_ASSIGN_OR_RETURN(Value rem, BinaryOp("%", v, divisor, 0));
    return name == "odd" ? rem.Equals(Value::Int(1)) : rem.Equals(Value::Int(0));
  }
  LLMSERVE_RETURN_IF_ERROR(need_arg());
  if (name == "eq" || name == "equalto" || name == "==") return v.Equals(*arg);
  if (name == "ne" || name == "!=") return !v.Equals(*arg);
  if (name == "sameas") {
    // Python's `is`: singletons, CPython's cached small ints, shared containers.
    if (v.kind() != arg->kind()) return false;
    if (v.is_none() || v.is_bool() || v.is_undefined()) return v.Equals(*arg);
    if (v.is_int()) return v.as_int() == arg->as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    if (v.is_list()) return &v.list() == &arg->list();
    if (v.is_dict()) return &v.dict() == &arg->dict();
    return false;
  }
  if (name == "in") {
    if (arg->is_string()) {
      if (!v.is_string()) return absl::InvalidArgumentError("'in <string>' requires string as left operand");
      return arg->str().find(v.str()) != std::string::npos;
    }
    LLMSERVE_ASSIGN_OR_RETURN(List items, Iterate(*arg));
    for (const Value& item : items) {
      if (item.Equals(v)) return true;
    }
    return false;
  }
  // Ordering tests.
  bool numbers = v.is_number() && arg->is_number();
  bool strings = v.is_string() && arg->is_string();
  if (!numbers && !strings) {
    return absl::InvalidArgumentError(absl::StrCat("test '", std::string(name), "' not supported between '",
                                                   v.TypeName(), "' and '", arg->TypeName(), "'"));
  }
  int cmp = numbers ? (v.as_float() < arg->as_float() ? -1 : v.as_float() > arg->as_float() ? 1 : 0)
                    : v.str().compare(arg->str());
  if (name == "lt" || name == "<") return cmp < 0;
  if (name == "le" || name == "<=") return cmp <= 0;
  if (name == "gt" || name == ">") return cmp > 0;
  return cmp >= 0;
}

}  // namespace llmserve::chat_template
