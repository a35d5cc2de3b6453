#ifndef LLMSERVE_ENGINE_STRUCTURED_GRAMMAR_SOURCE_H_
#define LLMSERVE_ENGINE_STRUCTURED_GRAMMAR_SOURCE_H_

// StructuredOutputParams → a byte Grammar, by kind: the JSON Schema compiler
// (json_schema_compiler.h), the generic JSON object (json_grammar.h), the
// regex parser (regex_parser.h), a choice of literals, or a GBNF grammar
// (gbnf_parser.h).

#include <string>

#include "absl/status/statusor.h"
#include "engine/sampling/structured_output_params.h"
#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// The API field of a kind, the prefix of its errors
/// ("structured_output.json_schema", "structured_output.regex", ...).
std::string FieldName(StructuredOutputParams::Kind kind);

/// The grammar of `params`. Errors: INVALID_ARGUMENT naming the field and the
/// cause (unsupported schema keyword, regex syntax error with its offset,
/// GBNF syntax error with its line and column, an empty choice list).
absl::StatusOr<Grammar> BuildGrammar(const StructuredOutputParams& params);

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_GRAMMAR_SOURCE_H_
