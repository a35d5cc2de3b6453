#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_LEXER_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_LEXER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve::chat_template {

/// One token inside a `{{ }}` or `{% %}` tag.
struct Token {
  enum class Type { kName, kInt, kFloat, kString, kOperator, kEnd };
  Type type = Type::kEnd;
  /// The name, operator, or the decoded string literal (UTF-8).
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

/// A piece of the template: literal text, an expression tag `{{ }}` or a
/// statement tag `{% %}` (comments are dropped).
struct Segment {
  enum class Kind { kText, kExpression, kStatement };
  Kind kind = Kind::kText;
  /// The text of kText.
  std::string text;
  /// The tag's tokens, ending with a kEnd token.
  std::vector<Token> tokens;
  /// Line of the segment's first character (1-based).
  int line = 1;
};

/// Splits a Jinja template into segments as Jinja2's lexer does with the
/// environment Hugging Face's `apply_chat_template` uses: `trim_blocks=True`
/// (the first newline after a `%}` or `#}` is removed), `lstrip_blocks=True`
/// (spaces and tabs from a line's start to a `{%` / `{#` are removed),
/// whitespace control `{%-` / `-%}` (all whitespace before / after removed)
/// and `{%+` / `+%}` (lstrip / trim disabled), newlines normalized to "\n",
/// and one trailing newline of the source removed (keep_trailing_newline=False).
/// `{% raw %}...{% endraw %}` becomes text. Source:
/// https://jinja.palletsprojects.com/en/3.1.x/templates/#whitespace-control
/// Errors: INVALID_ARGUMENT naming the line of an unclosed tag, an unexpected
/// character or an unterminated string.
absl::StatusOr<std::vector<Segment>> LexTemplate(std::string_view source);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_LEXER_H_
