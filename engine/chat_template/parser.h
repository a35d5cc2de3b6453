#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_PARSER_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_PARSER_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/chat_template/ast.h"

namespace llmserve::chat_template {

/// Deepest nesting of blocks and expressions the parser accepts (a hostile
/// template cannot overflow the stack of the parser or the evaluator).
inline constexpr int kMaxNestingDepth = 128;

/// Lexes (lexer.h) and parses a template into statement nodes, with Jinja2's
/// grammar and operator precedence (or < and < not < comparisons, in, not in
/// < + - < ~ < * / // % < ** < unary - + < filters, tests, attribute access,
/// subscripts and calls). Tags: if/elif/else/endif, for/else/endfor (with a
/// trailing `if` filter), set (name, name.attr, tuple targets, block set),
/// macro/endmacro, break, continue, generation/endgeneration, raw.
/// Errors: INVALID_ARGUMENT "chat template line N: ..." naming the construct
/// that is malformed or not supported (e.g. "unknown tag 'include'",
/// "'for' at line 3 is missing 'endfor'").
absl::StatusOr<NodeList> ParseTemplate(std::string_view source);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_PARSER_H_
