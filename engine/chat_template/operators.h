#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_OPERATORS_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_OPERATORS_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/chat_template/value.h"

namespace llmserve::chat_template {

/// Applies a binary operator with Python's semantics (Jinja2 evaluates its
/// operators in Python): + - * / // % ** on numbers (int overflow is an
/// error), + on two strs or two lists, * of a str or list by an int, ~ (str()
/// of both, concatenated), == != < <= > >= (ordering of numbers, strs, or
/// lists item by item), in
/// and "not in" (item of a list, key of a dict, substring of a str). A string
/// or list result larger than `max_bytes` is an error. Errors:
/// INVALID_ARGUMENT with Python's TypeError text, or "'x' is undefined" when
/// an operand other than of ==, !=, ~, in is Undefined.
absl::StatusOr<Value> BinaryOp(std::string_view op, const Value& left, const Value& right,
                               size_t max_bytes);

/// Python's obj[start:stop:step] of a list or str (by code point). Errors:
/// step 0, or a value that cannot be sliced.
absl::StatusOr<Value> Slice(const Value& obj, std::optional<int64_t> start,
                            std::optional<int64_t> stop, std::optional<int64_t> step);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_OPERATORS_H_
