#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_PY_STRING_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_PY_STRING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmserve::chat_template {

// Python 3 str methods on UTF-8 text (https://docs.python.org/3/library/stdtypes.html#string-methods),
// by code point; case mapping is ASCII-only.

/// str.strip / lstrip / rstrip: the code points of `chars` (null = whitespace
/// as str.isspace defines it, Unicode included) removed from the left and/or right.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right);

/// str.split(sep, maxsplit): `sep` null splits on runs of whitespace
/// (str.isspace, Unicode included) and drops empty parts; maxsplit < 0 means
/// no limit.
std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t maxsplit);

/// str.replace(old, new, count); count < 0 replaces all. An empty `old`
/// inserts `new` between code points, as Python does.
std::string PyReplace(std::string_view s, std::string_view old, std::string_view replacement,
                      int64_t count);

/// str.upper / str.lower (ASCII letters only).
std::string AsciiUpper(std::string_view s);
std::string AsciiLower(std::string_view s);

/// str.capitalize: first character upper case, the rest lower case.
std::string PyCapitalize(std::string_view s);

/// str.title: a letter following a non-letter is upper case, others lower case.
std::string PyTitle(std::string_view s);

/// Jinja2's `title` filter: words split at runs of "-", whitespace, "(", "{",
/// "[", "<"; each word's first character upper case, the rest lower case.
std::string JinjaTitle(std::string_view s);

/// The UTF-8 code points of `s` as separate strings.
std::vector<std::string> CodePoints(std::string_view s);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_PY_STRING_H_
