#ifndef LLMSERVE_SERVER_HTTP_OPENAI_REQUEST_H_
#define LLMSERVE_SERVER_HTTP_OPENAI_REQUEST_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat_template/chat_template.h"
#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve::server::http {

/// Which OpenAI endpoint a request came to.
enum class Endpoint {
  kCompletions,      ///< POST /v1/completions (legacy text completions)
  kChatCompletions,  ///< POST /v1/chat/completions
};

/// What converting a request needs from the server.
struct PromptContext {
  const Tokenizer* tokenizer = nullptr;
  /// The compiled chat template; null when the model has none (then chat
  /// requests fail with `chat_template_error`).
  const ChatTemplate* chat_template = nullptr;
  std::string chat_template_error;
  /// The tokenizer's BOS / EOS token strings, passed to the template.
  std::string bos_token;
  std::string eos_token;
  /// The engine's maximum context (prompt + completion), in tokens: a chat
  /// request without max_tokens may fill it (OpenAI's default: no limit).
  int max_context = 0;
};

/// An OpenAI request converted for the engine (not yet validated: the caller
/// runs ValidateRequest on `engine`, as the gRPC front does).
struct OpenAIRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  /// `model` as sent ("" when absent).
  std::string model;
  /// Prompt token ids and sampling parameters; request_id left empty.
  EngineRequest engine;
  bool stream = false;
  /// stream_options.include_usage: a last chunk with `usage` and no choices.
  bool include_usage = false;
  /// Output logprobs were asked for (completions: `logprobs` set; chat:
  /// `logprobs: true`); their count of alternatives is engine.sampling.logprobs.
  bool logprobs = false;
  /// The request field holding engine.sampling.structured_output
  /// ("response_format.json_schema.schema", "guided_regex", ...; empty when
  /// none): the engine's errors about the constraint are renamed to it
  /// (RenameStructuredOutputField, server/http/openai_structured_output.h).
  std::string structured_output_field;
};

/// Converts an OpenAI completions or chat-completions JSON body
/// (https://platform.openai.com/docs/api-reference/completions,
/// .../chat/create) with OpenAI's names and defaults, plus vLLM's extensions
/// (top_k, min_p, repetition_penalty, min_tokens, ignore_eos, stop_token_ids,
/// priority, add_generation_prompt) and the structured-output fields
/// (`response_format`, vLLM's `guided_*` and `structured_outputs`:
/// ParseStructuredOutput, server/http/openai_structured_output.h). Unknown
/// fields are ignored.
///
/// Prompts: completions `prompt` is a string (tokenized with BOS, as the gRPC
/// front does), an array of token ids, or a one-element array of either;
/// chat `messages` ({role, content: string | [{type: "text", text}]}) are
/// rendered with the chat template (add_generation_prompt defaults to true);
/// a rendered text starting with the BOS string is tokenized with the BOS id
/// in its place, other text without BOS.
///
/// `raw_body` is the body's text when the caller has it: a JSON Schema object
/// is then taken from it in the client's key order (`body`'s objects are
/// sorted), so properties are generated in that order (ParseStructuredOutput).
///
/// Errors: INVALID_ARGUMENT whose message starts with the field: a wrong JSON
/// type ("temperature must be a number, got string"), an unsupported value
/// (several prompts, echo), no chat template ("messages: the model has no
/// chat template ..."), the template's own error, a prompt that cannot be
/// tokenized. Value ranges are left to ValidateRequest.
absl::StatusOr<OpenAIRequest> ParseOpenAIRequest(const nlohmann::json& body, Endpoint endpoint,
                                                 const PromptContext& context,
                                                 absl::string_view raw_body = {});

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_OPENAI_REQUEST_H_
