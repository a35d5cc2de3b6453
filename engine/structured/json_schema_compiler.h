#ifndef LLMSERVE_ENGINE_STRUCTURED_JSON_SCHEMA_COMPILER_H_
#define LLMSERVE_ENGINE_STRUCTURED_JSON_SCHEMA_COMPILER_H_

// JSON Schema (draft 2020-12 subset) → byte grammar of the JSON texts that
// validate against it, in the manner of llama.cpp's json-schema-to-grammar
// and xgrammar's JSON-schema converter (written here from the spec,
// https://json-schema.org/draft/2020-12/json-schema-validation).
//
// Keywords: type (object, array, string, number, integer, boolean, null, or a
// list of them), properties, required, additionalProperties, items, enum,
// const, anyOf, $ref (JSON pointers into the document: #, #/$defs/x,
// #/definitions/x; recursion allowed) with $defs / definitions, minItems,
// maxItems, minLength, maxLength, pattern, format (date, time, date-time,
// email, uuid), minimum / maximum / exclusiveMinimum / exclusiveMaximum on
// integers; annotations (title, description, default, examples, $schema,
// $id, $comment, deprecated, readOnly, writeOnly) are ignored. Any other
// keyword is INVALID_ARGUMENT naming it.
//
// Choices made (each output still validates against the schema):
//   * objects list their properties in the order of `properties`, required
//     ones always, optional ones maybe; properties outside `properties` are
//     never generated (additionalProperties false, true or absent alike),
//     except that an object schema without `properties` whose
//     additionalProperties is not false is any object (or a map to the
//     additionalProperties schema);
//   * `pattern` is a full match (as if anchored) of the decoded string and
//     generates no '"', '\' or control characters; it cannot be combined with
//     minLength / maxLength or format;
//   * whitespace as in json_grammar.h (at most one space at each place).

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// Compiles the JSON Schema document `schema`. `field` prefixes errors
/// ("structured_output.json_schema: unsupported keyword 'patternProperties'").
absl::StatusOr<Grammar> JsonSchemaToGrammar(std::string_view schema, std::string_view field);

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_JSON_SCHEMA_COMPILER_H_
