#ifndef LLMSERVE_SERVER_HTTP_OPENAI_STRUCTURED_OUTPUT_H_
#define LLMSERVE_SERVER_HTTP_OPENAI_STRUCTURED_OUTPUT_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/sampling/structured_output_params.h"

namespace llmserve::server::http {

/// A request's structured-output constraint as the HTTP API gave it.
struct HttpStructuredOutput {
  /// The constraint; none when the request has none (or `response_format`
  /// is `{"type": "text"}`).
  std::optional<StructuredOutputParams> params;
  /// The request field that holds it, as the client wrote it
  /// ("response_format.json_schema.schema", "guided_regex",
  /// "structured_outputs.choice", ...); empty when there is none. Errors about
  /// the constraint found later (shape, compilation) are renamed to it with
  /// RenameStructuredOutputField.
  std::string field;
};

/// Reads the structured-output fields of an OpenAI completions or chat
/// completions body (both endpoints accept all of them):
///
///  - OpenAI's `response_format` (API reference:
///    https://platform.openai.com/docs/api-reference/chat/create, field
///    response_format; guide: https://platform.openai.com/docs/guides/structured-outputs):
///    `{"type": "text"}` (no constraint), `{"type": "json_object"}` (any JSON
///    object), `{"type": "json_schema", "json_schema": {"name": string,
///    "description"?: string, "schema": object, "strict"?: bool}}` (a JSON
///    value valid against `schema`; the constraint is always enforced, also
///    with `strict` false or absent, and a keyword the engine does not support
///    is refused rather than ignored).
///  - vLLM's extensions (https://docs.vllm.ai/en/latest/features/structured_outputs/):
///    the older `guided_json` (a schema object or its JSON text),
///    `guided_regex` (string), `guided_choice` (array of strings),
///    `guided_grammar` (string, GBNF here), and the newer
///    `structured_outputs: {"json" | "regex" | "choice" | "grammar" |
///    "json_object": true}` with the same value types. Other members of
///    `structured_outputs` and vLLM's tuning fields (`guided_decoding_backend`,
///    `disable_any_whitespace`, ...) are ignored like other unknown fields;
///    `structural_tag` and a whitespace pattern, which would change what the
///    output must be, are refused.
///
/// Errors (INVALID_ARGUMENT, the message starting with the field): a wrong
/// JSON type ("guided_regex must be a string, got number"), a missing or
/// unknown member ("response_format.type must be one of text, json_object,
/// json_schema, got \"xml\""), `structured_outputs` without a constraint, and
/// two constraints in one request, naming both ("guided_regex: conflicts with
/// response_format: give one structured-output constraint per request").
/// Whether the constraint compiles is the engine's check (LLMEngine::AddRequest).
/// A schema object is passed to the engine as JSON text. `body`'s objects
/// have their keys sorted; when `raw_body` (the text `body` was parsed from)
/// is given, the schema is re-read from it in the client's key order (only
/// that member of the body is kept in the re-parse), so properties are
/// generated in the order the client wrote them, as OpenAI does.
absl::StatusOr<HttpStructuredOutput> ParseStructuredOutput(const nlohmann::json& body,
                                                           absl::string_view raw_body = {});

/// `status` with a message about `sampling_params.structured_output...` (the
/// engine's validator and compiler name the gRPC field) renamed to the HTTP
/// `field` the constraint came from: "sampling_params.structured_output.json_schema:
/// unsupported keyword 'patternProperties'" becomes
/// "response_format.json_schema.schema: unsupported keyword 'patternProperties'",
/// "...choice.choices[1] must not be empty" becomes "guided_choice[1] must not
/// be empty". Other statuses, or an empty `field`, are returned unchanged.
absl::Status RenameStructuredOutputField(const absl::Status& status, absl::string_view field);

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_OPENAI_STRUCTURED_OUTPUT_H_
