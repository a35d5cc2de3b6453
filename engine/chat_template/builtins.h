#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_BUILTINS_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_BUILTINS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/chat_template/value.h"

namespace llmserve::chat_template {

// The filters, tests and methods of the Jinja subset. Semantics follow
// Jinja2 3.1's builtin filters and tests
// (https://jinja.palletsprojects.com/en/3.1.x/templates/#list-of-builtin-filters)
// and Python 3's str / dict methods, except `tojson`, which is Hugging Face
// transformers' override: json.dumps(x, ensure_ascii=False, indent=...,
// separators=..., sort_keys=False). Case mapping (upper, lower, title,
// capitalize) is ASCII-only. Errors are INVALID_ARGUMENT without a line
// number (the evaluator adds it).

/// True if `name` is a filter of the subset.
bool IsKnownFilter(std::string_view name);

/// Applies filter `name` to `input` with the call's arguments.
absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args);

/// True if `name` is a test of the subset (`x is <name>`).
bool IsKnownTest(std::string_view name);

/// Evaluates `input is <name>(args)`.
absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args);

/// The bound method `name` of a str or dict (strip, split, startswith, get,
/// items, ...), or nullopt if it has none.
std::optional<Value> GetMethod(const Value& object, std::string_view name);

/// Jinja's attribute lookup `object.name` on a defined value: a method of a
/// str or dict, else a dict's item, else Undefined.
Value GetAttribute(const Value& object, std::string_view name);

/// Jinja's subscript `object[key]` on a defined value: a list or str index
/// (negative from the end), a dict item, else the attribute `key` (a str),
/// else Undefined.
Value GetItem(const Value& object, const Value& key);

/// json.dumps of `value` (Python's formatting: ", " / ": " separators, or
/// "," / ": " with an indent; floats as Python's repr; non-ASCII kept).
/// `indent` < 0 means none. Errors: a value JSON cannot hold (Undefined, a
/// function).
absl::StatusOr<std::string> ToJson(const Value& value, int indent, std::string_view item_separator,
                                   std::string_view key_separator, bool sort_keys);

/// Python's len(): code points of a str, items of a list or dict.
absl::StatusOr<int64_t> PyLen(const Value& v);

/// The items a `for` loop visits: a list's items, a dict's keys, a str's
/// characters; nothing for Undefined. Errors: not iterable.
absl::StatusOr<List> Iterate(const Value& v);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_BUILTINS_H_
