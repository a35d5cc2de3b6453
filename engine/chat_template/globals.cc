// The global functions of a chat template's environment: Hugging Face
// transformers' raise_exception and strftime_now
// (transformers/utils/chat_template_utils.py), Jinja2's namespace, range and
// dict (https://jinja.palletsprojects.com/en/3.1.x/templates/#list-of-global-functions).
#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat_template/evaluator.h"

namespace llmserve::chat_template {
namespace {

// Largest list range() may build (a template cannot allocate without bound).
constexpr int64_t kMaxRange = 1 << 20;

absl::StatusOr<Value> Range(const CallArgs& args) {
  if (!args.keyword.empty() || args.positional.empty() || args.positional.size() > 3) {
    return absl::InvalidArgumentError("range() takes 1 to 3 positional arguments");
  }
  for (const Value& v : args.positional) {
    if (!v.is_number() || v.is_float()) return absl::InvalidArgumentError("range() arguments must be integers");
  }
  int64_t start = 0, stop, step = 1;
  if (args.positional.size() == 1) {
    stop = args.positional[0].as_int();
  } else {
    start = args.positional[0].as_int();
    stop = args.positional[1].as_int();
    if (args.positional.size() == 3) step = args.positional[2].as_int();
  }
  if (step == 0) return absl::InvalidArgumentError("range() arg 3 must not be zero");
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) {
      return absl::InvalidArgumentError(absl::StrCat("range() longer than ", kMaxRange, " items"));
    }
    out.push_back(Value::Int(i));
  }
  return Value::MakeList(std::move(out));
}

}  // namespace

Dict StandardGlobals(std::time_t now) {
  Dict g;
  g.Set("raise_exception", Value::MakeFunction("raise_exception", [](const CallArgs& args) -> absl::StatusOr<Value> {
    std::string message = args.positional.empty() ? "" : args.positional[0].ToString();
    return absl::InvalidArgumentError(message);
  }));
  g.Set("strftime_now", Value::MakeFunction("strftime_now", [now](const CallArgs& args) -> absl::StatusOr<Value> {
    if (args.positional.size() != 1 || !args.positional[0].is_string()) {
      return absl::InvalidArgumentError("strftime_now() takes one format string");
    }
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    size_t n = std::strftime(buf, sizeof(buf), args.positional[0].str().c_str(), &tm);
    if (n == 0 && !args.positional[0].str().empty()) {
      return absl::InvalidArgumentError("strftime_now(): format result too long or empty");
    }
    return Value::String(std::string(buf, n));
  }));
  g.Set("namespace", Value::MakeFunction("namespace", [](const CallArgs& args) -> absl::StatusOr<Value> {
    Dict ns;
    ns.is_namespace = true;
    for (const Value& v : args.positional) {
      if (!v.is_dict()) return absl::InvalidArgumentError("namespace() takes a dict or keyword arguments");
      for (const auto& [k, item] : v.dict().items) ns.Set(k, item);
    }
    for (const auto& [k, v] : args.keyword) ns.Set(k, v);
    return Value::MakeDict(std::move(ns));
  }));
  g.Set("dict", Value::MakeFunction("dict", [](const CallArgs& args) -> absl::StatusOr<Value> {
    Dict d;
    for (const Value& v : args.positional) {
      if (!v.is_dict()) return absl::InvalidArgumentError("dict() takes a dict or keyword arguments");
      for (const auto& [k, item] : v.dict().items) d.Set(k, item);
    }
    for (const auto& [k, v] : args.keyword) d.Set(k, v);
    return Value::MakeDict(std::move(d));
  }));
  g.Set("range", Value::MakeFunction("range", Range));
  return g;
}

}  // namespace llmserve::chat_template
