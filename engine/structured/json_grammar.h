#ifndef LLMSERVE_ENGINE_STRUCTURED_JSON_GRAMMAR_H_
#define LLMSERVE_ENGINE_STRUCTURED_JSON_GRAMMAR_H_

// JSON (RFC 8259) as byte-grammar rules: the generic value, object, array,
// string and number rules used by the `json_object` kind and by the JSON
// Schema compiler.
//
// Whitespace: generated JSON may hold at most one space (0x20) at each place
// RFC 8259 allows whitespace (after '{', '[', ':', ',', and before '}', ']',
// ':', ','), never newlines or tabs, so a model cannot loop on whitespace
// forever and every output is compact or singly spaced.
// Strings are valid UTF-8: unescaped code points U+0020..U+10FFFF except '"'
// and '\', or the escapes \" \\ \/ \b \f \n \r \t \uXXXX.

#include <string_view>

#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// Rule ids of the generic JSON rules in a Grammar.
struct JsonRules {
  int value = -1;    ///< any JSON value
  int object = -1;   ///< any JSON object
  int array = -1;    ///< any JSON array
  int string = -1;   ///< any JSON string (with its quotes)
  int number = -1;   ///< -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  int integer = -1;  ///< -?(0|[1-9][0-9]*)
  int boolean = -1;  ///< true | false
  int null = -1;     ///< null
};

/// Adds the generic JSON rules (names prefixed "json-") to `g`.
JsonRules AddJsonRules(Grammar* g);
/// Optional whitespace: at most one space.
Expr JsonWs();
/// One character of a JSON string's body (unescaped code point or escape).
Expr JsonStringChar();
/// The JSON text of the string `value` (quotes and escapes as
/// nlohmann::json::dump writes them).
Expr JsonStringLiteral(std::string_view value);
/// Any JSON object (the `json_object` kind).
Grammar JsonObjectGrammar();

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_JSON_GRAMMAR_H_
