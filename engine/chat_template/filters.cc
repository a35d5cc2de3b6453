// Jinja2's builtin filters (the subset chat templates use) and Hugging Face's
// tojson. Source: https://jinja.palletsprojects.com/en/3.1.x/templates/#list-of-builtin-filters
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/py_string.h"
#include "engine/common/status_macros.h"
#include "nlohmann/json.hpp"

namespace llmserve::chat_template {
namespace {

absl::Status FilterError(std::string_view filter, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("filter '", std::string(filter), "': ", what));
}

// Positional argument `index` or keyword `name` (null if absent).
const Value* Arg(const CallArgs& args, size_t index, std::string_view name) {
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return &v;
  }
  return index < args.positional.size() ? &args.positional[index] : nullptr;
}

// The arguments from `from` on, as a new CallArgs (for select / map).
CallArgs Rest(const CallArgs& args, size_t from) {
  CallArgs rest;
  for (size_t i = from; i < args.positional.size(); ++i) rest.positional.push_back(args.positional[i]);
  return rest;
}

// Looks up a dotted attribute path ("a.b") or an integer index, as Jinja's
// make_attrgetter does.
Value AttributePath(const Value& object, const Value& path) {
  if (path.is_int()) return object.is_undefined() ? object : GetItem(object, path);
  Value current = object;
  std::string p = path.ToString();
  size_t start = 0;
  while (true) {
    size_t dot = p.find('.', start);
    std::string part = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (current.is_undefined()) return current;
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    current = numeric ? GetItem(current, Value::Int(std::atoll(part.c_str()))) : GetAttribute(current, part);
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

void AppendJsonString(std::string_view s, std::string* out) {
  *out += nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                              nlohmann::json::error_handler_t::replace);
}

absl::Status AppendJson(const Value& v, int indent, int level, std::string_view item_sep,
                        std::string_view key_sep, bool sort_keys, std::string* out) {
  if (level > 512) return absl::InvalidArgumentError("tojson: value nested too deeply");
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    *out += '\n';
    out->append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::kNone:
      *out += "null";
      return absl::OkStatus();
    case Value::Kind::kBool:
      *out += v.as_bool() ? "true" : "false";
      return absl::OkStatus();
    case Value::Kind::kInt:
      *out += std::to_string(v.as_int());
      return absl::OkStatus();
    case Value::Kind::kFloat: {
      double f = v.as_float();
      *out += std::isnan(f) ? "NaN" : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity") : FloatRepr(f);
      return absl::OkStatus();
    }
    case Value::Kind::kString:
      AppendJsonString(v.str(), out);
      return absl::OkStatus();
    case Value::Kind::kList: {
      if (v.list().empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      *out += '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(level + 1);
        LLMSERVE_RETURN_IF_ERROR(
            AppendJson(v.list()[i], indent, level + 1, item_sep, key_sep, sort_keys, out));
      }
      newline(level);
      *out += ']';
      return absl::OkStatus();
    }
    case Value::Kind::kDict: {
      if (v.dict().is_namespace) break;
      if (v.dict().items.empty()) {
        *out += "{}";
        return absl::OkStatus();
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& item : v.dict().items) items.push_back(&item);
      if (sort_keys) {
        std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      }
      *out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(level + 1);
        AppendJsonString(items[i]->first, out);
        *out += key_sep;
        LLMSERVE_RETURN_IF_ERROR(
            AppendJson(items[i]->second, indent, level + 1, item_sep, key_sep, sort_keys, out));
      }
      newline(level);
      *out += '}';
      return absl::OkStatus();
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tojson: Object of type ", v.TypeName(), " is not JSON serializable"));
}

absl::StatusOr<Value> SelectOrReject(std::string_view name, const Value& input, const CallArgs& args,
                                     bool by_attribute, bool select) {
  // Jinja2's _select_or_reject iterates only a truthy value (None gives nothing).
  List items;
  if (input.Truthy()) {
    LLMSERVE_ASSIGN_OR_RETURN(items, Iterate(input));
  }
  List out;
  size_t test_index = by_attribute ? 1 : 0;
  const Value* attr = by_attribute ? Arg(args, 0, "attribute") : nullptr;
  if (by_attribute && attr == nullptr) return FilterError(name, "missing the attribute argument");
  const Value* test = test_index < args.positional.size() ? &args.positional[test_index] : nullptr;
  if (test != nullptr && !test->is_string()) return FilterError(name, "the test name must be a string");
  if (test != nullptr && !IsKnownTest(test->str())) {
    return FilterError(name, absl::StrCat("no test named '", test->str(), "'"));
  }
  CallArgs test_args = Rest(args, test_index + 1);
  for (const Value& item : items) {
    Value subject = by_attribute ? AttributePath(item, *attr) : item;
    bool pass;
    if (test == nullptr) {
      pass = subject.Truthy();
    } else {
      LLMSERVE_ASSIGN_OR_RETURN(pass, ApplyTest(test->str(), subject, test_args));
    }
    if (pass == select) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

const std::set<std::string, std::less<>>& FilterNames() {
  static const auto* names = new std::set<std::string, std::less<>>{
      "abs", "capitalize", "count", "d", "default", "first", "float", "int", "items", "join",
      "last", "length", "list", "lower", "map", "reject", "rejectattr", "replace", "reverse",
      "safe", "select", "selectattr", "string", "title", "tojson", "trim", "unique", "upper"};
  return *names;
}

}  // namespace

bool IsKnownFilter(std::string_view name) { return FilterNames().count(name) != 0; }

absl::StatusOr<std::string> ToJson(const Value& value, int indent, std::string_view item_separator,
                                   std::string_view key_separator, bool sort_keys) {
  std::string out;
  LLMSERVE_RETURN_IF_ERROR(
      AppendJson(value, indent, 0, item_separator, key_separator, sort_keys, &out));
  return out;
}

absl::StatusOr<int64_t> PyLen(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return static_cast<int64_t>(CodePointCount(v.str()));
    case Value::Kind::kList:
      return static_cast<int64_t>(v.list().size());
    case Value::Kind::kDict:
      if (!v.dict().is_namespace) return static_cast<int64_t>(v.dict().items.size());
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
}

absl::StatusOr<List> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return List{};
    case Value::Kind::kList:
      return v.list();
    case Value::Kind::kDict: {
      if (v.dict().is_namespace) break;
      List keys;
      for (const auto& [k, unused] : v.dict().items) keys.push_back(Value::String(k));
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      for (std::string& c : CodePoints(v.str())) chars.push_back(Value::String(std::move(c)));
      return chars;
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("'", v.TypeName(), "' object is not iterable"));
}

absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args) {
  if (name == "trim") {
    const Value* chars = Arg(args, 0, "chars");
    std::string set = chars != nullptr && !chars->is_none() ? chars->ToString() : "";
    return Value::String(PyStrip(input.ToString(), chars != nullptr && !chars->is_none() ? &set : nullptr,
                                 true, true));
  }
  if (name == "length" || name == "count") {
    LLMSERVE_ASSIGN_OR_RETURN(int64_t n, PyLen(input));
    return Value::Int(n);
  }
  if (name == "upper") return Value::String(AsciiUpper(input.ToString()));
  if (name == "lower") return Value::String(AsciiLower(input.ToString()));
  if (name == "capitalize") return Value::String(PyCapitalize(input.ToString()));
  if (name == "title") return Value::String(JinjaTitle(input.ToString()));
  if (name == "string") return Value::String(input.ToString());
  if (name == "safe") return input;
  if (name == "tojson") {
    // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
    const Value* ensure_ascii = Arg(args, 0, "ensure_ascii");
    if (ensure_ascii != nullptr && ensure_ascii->Truthy()) {
      return FilterError(name, "ensure_ascii=True is not supported");
    }
    const Value* indent = Arg(args, 1, "indent");
    const Value* separators = Arg(args, 2, "separators");
    const Value* sort_keys = Arg(args, 3, "sort_keys");
    int indent_n = -1;
    if (indent != nullptr && !indent->is_none()) {
      if (!indent->is_int() || indent->as_int() < 0 || indent->as_int() > 64) {
        return FilterError(name, "indent must be an integer in [0, 64]");
      }
      indent_n = static_cast<int>(indent->as_int());
    }
    std::string item_sep = indent_n >= 0 ? "," : ", ", key_sep = ": ";
    if (separators != nullptr && !separators->is_none()) {
      if (!separators->is_list() || separators->list().size() != 2) {
        return FilterError(name, "separators must be a pair of strings");
      }
      item_sep = separators->list()[0].ToString();
      key_sep = separators->list()[1].ToString();
    }
    LLMSERVE_ASSIGN_OR_RETURN(std::string json,
                              ToJson(input, indent_n, item_sep, key_sep,
                                     sort_keys != nullptr && sort_keys->Truthy()));
    return Value::String(std::move(json));
  }
  if (name == "default" || name == "d") {
    const Value* fallback = Arg(args, 0, "default_value");
    const Value* boolean = Arg(args, 1, "boolean");
    bool use_default = input.is_undefined() || (boolean != nullptr && boolean->Truthy() && !input.Truthy());
    if (!use_default) return input;
    return fallback != nullptr ? *fallback : Value::String("");
  }
  if (name == "first" || name == "last") {
    LLMSERVE_ASSIGN_OR_RETURN(List items, Iterate(input));
    if (items.empty()) return Value::Undefined(absl::StrCat("first item of an empty sequence"));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const Value* sep = Arg(args, 0, "d");
    const Value* attr = Arg(args, 1, "attribute");
    LLMSERVE_ASSIGN_OR_RETURN(List items, Iterate(input));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0 && sep != nullptr) out += sep->ToString();
      out += (attr != nullptr ? AttributePath(items[i], *attr) : items[i]).ToString();
    }
    return Value::String(std::move(out));
  }
  if (name == "replace") {
    const Value* old = Arg(args, 0, "old");
    const Value* replacement = Arg(args, 1, "new");
    const Value* count = Arg(args, 2, "count");
    if (old == nullptr || replacement == nullptr) return FilterError(name, "needs old and new");
    return Value::String(PyReplace(input.ToString(), old->ToString(), replacement->ToString(),
                                   count != nullptr && !count->is_none() ? count->as_int() : -1));
  }
  if (name == "int" || name == "float") {
    // Jinja2's Undefined raises from __int__ / __float__, which do_int /
    // do_float do not catch.
    if (input.is_undefined()) return absl::InvalidArgumentError(input.str());
    const Value* fallback = Arg(args, 0, "default");
    bool to_int = name == "int";
    Value def = fallback != nullptr ? *fallback : (to_int ? Value::Int(0) : Value::Float(0));
    double f;
    if (input.is_number()) {
      f = input.as_float();
      if (to_int && !input.is_float()) return Value::Int(input.as_int());
    } else if (input.is_string()) {
      std::string s = PyStrip(input.str(), nullptr, true, true);
      char* end = nullptr;
      if (to_int) {
        errno = 0;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && *end == '\0' && errno == 0) return Value::Int(i);
      }
      f = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0') return def;
    } else {
      return def;
    }
    if (!to_int) return Value::Float(f);
    if (!std::isfinite(f) || std::fabs(f) > 9.2e18) return def;
    return Value::Int(static_cast<int64_t>(f));
  }
  if (name == "list") {
    LLMSERVE_ASSIGN_OR_RETURN(List items, Iterate(input));
    return Value::MakeList(std::move(items));
  }
  if (name == "items") {
    if (input.is_undefined()) return Value::MakeList({});
    if (!input.is_dict() || input.dict().is_namespace) {
      return FilterError(name, absl::StrCat("can only get item pairs from a mapping, not ", input.TypeName()));
    }
    List pairs;
    for (const auto& [k, v] : input.dict().items) pairs.push_back(Value::MakeTuple({Value::String(k), v}));
    return Value::MakeList(std::move(pairs));
  }
  if (name == "selectattr" || name == "rejectattr") {
    return SelectOrReject(name, input, args, true, name == "selectattr");
  }
  if (name == "select" || name == "reject") {
    return SelectOrReject(name, input, args, false, name == "select");
  }
  if (name == "map") {
    List items;  // like select: a falsy value maps to nothing
    if (input.Truthy()) {
    LLMSERVE_ASSIGN_OR_RETURN(items, Iterate(input));
  }
    List out;
    const Value* attr = Arg(args, 0xFFFF, "attribute");
    if (attr != nullptr) {
      const Value* def = Arg(args, 0xFFFF, "default");
      for (const Value& item : items) {
        Value v = AttributePath(item, *attr);
        out.push_back(v.is_undefined() && def != nullptr ? *def : v);
      }
    } else {
      if (args.positional.empty() || !args.positional[0].is_string()) {
        return FilterError(name, "needs a filter name or attribute=");
      }
      const std::string& filter = args.positional[0].str();
      if (!IsKnownFilter(filter)) return FilterError(name, absl::StrCat("no filter named '", filter, "'"));
      CallArgs rest = Rest(args, 1);
      for (const Value& item : items) {
        LLMSERVE_ASSIGN_OR_RETURN(Value v, ApplyFilter(filter, item, rest));
        out.push_back(std::move(v));
      }
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "reverse") {
    if (input.is_string()) {
      std::vector<std::string> cps = CodePoints(input.str());
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
      return Value::String(std::move(out));
    }
    LLMSERVE_ASSIGN_OR_RETURN(List items, Iterate(input));
    std::reverse(items.begin(), items.end());
    return Value::MakeList(std::move(items));
  }
  if (name == "unique") {
    LLMSERVE_ASSIGN_OR_RETURN(List items, Iterate(input));
    List out;
    for (const Value& item : items) {
      bool seen = false;
      for (const Value& o : out) seen = seen || o.Equals(item);
      if (!seen) out.push_back(item);
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "abs") {
    if (input.is_float()) return Value::Float(std::fabs(input.as_float()));
    if (input.is_number()) return Value::Int(std::llabs(input.as_int()));
    return FilterError(name, absl::StrCat("bad operand type for abs(): '", input.TypeName(), "'"));
  }
  return FilterError(name, "no such filter");
}

}  // namespace llmserve::chat_template
