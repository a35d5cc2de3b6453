#ifndef LLMSERVE_ENGINE_STRUCTURED_REGEX_PARSER_H_
#define LLMSERVE_ENGINE_STRUCTURED_REGEX_PARSER_H_

// Regular expressions (the common subset of ECMAScript and Python `re`) as a
// byte-grammar expression matching the whole text (a full match: `^` at the
// start and `$` at the end are accepted and change nothing).
//
// Supported: literals (UTF-8), `.` (any code point but \n), classes `[a-z]`,
// `[^...]`, `\d \D \w \W \s \S` (ASCII meanings, Python's re.ASCII), escapes
// `\n \t \r \f \v \0 \xHH \uHHHH` and escaped punctuation, groups `(...)`,
// `(?:...)`, `(?P<name>...)`, `(?<name>...)`, alternation `|`, quantifiers
// `* + ? {m} {m,} {m,n}` (lazy `?` suffixes accepted: the language is the
// same). Not supported (INVALID_ARGUMENT naming the construct and its byte
// offset): backreferences, lookaround, word boundaries, flags groups.

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// Parses `pattern`. `field` prefixes errors
/// ("structured_output.regex: unbalanced parenthesis at offset 3").
absl::StatusOr<Expr> ParseRegex(std::string_view pattern, std::string_view field);

/// Decodes one UTF-8 code point of `s` at `*pos` and advances it; returns
/// -1 (without advancing) if the bytes there are not valid UTF-8.
int32_t DecodeUtf8(std::string_view s, std::size_t* pos);

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_REGEX_PARSER_H_
