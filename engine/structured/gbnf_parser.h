#ifndef LLMSERVE_ENGINE_STRUCTURED_GBNF_PARSER_H_
#define LLMSERVE_ENGINE_STRUCTURED_GBNF_PARSER_H_

// llama.cpp's GBNF grammar syntax (grammars/README.md of llama.cpp; parsed
// here by an own recursive-descent parser): rules `name ::= alternatives`,
// names of letters, digits, '-' and '_'; alternation `|`; grouping `( )`;
// literals "..." and classes [a-z] / [^...] with the escapes \n \r \t \\ \"
// \[ \] \xHH \uHHHH \UHHHHHHHH; `.` (any code point); repetition * + ?
// {m} {m,} {m,n}; `#` comments. Terminals are Unicode code points, matched as
// their UTF-8 bytes. A newline ends a rule except inside parentheses or right
// after `|`. The start rule is `root`.

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// Parses `text`. `field` prefixes errors, which name the line and column
/// ("structured_output.grammar: line 2, column 7: expected '::='"), an
/// undefined rule, a rule defined twice or a missing `root`.
absl::StatusOr<Grammar> ParseGbnf(std::string_view text, std::string_view field);

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_GBNF_PARSER_H_
