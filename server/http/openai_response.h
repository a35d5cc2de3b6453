#ifndef LLMSERVE_SERVER_HTTP_OPENAI_RESPONSE_H_
#define LLMSERVE_SERVER_HTTP_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/http/openai_request.h"

namespace llmserve::server::http {

/// "stop" (stop string, stop token, EOS) or "length" (max_tokens, context
/// full): OpenAI's finish_reason; null for the other reasons.
nlohmann::json FinishReasonJson(FinishReason reason);

/// Serializes JSON as one line, replacing invalid UTF-8 (a token's bytes may
/// be part of a character) with U+FFFD instead of throwing.
std::string DumpJson(const nlohmann::json& value);

/// One server-sent event carrying `data` (https://html.spec.whatwg.org/multipage/server-sent-events.html):
/// "data: <data>\n\n".
std::string SseEvent(const std::string& data);

/// Builds the OpenAI response of one request from the engine's outputs, on
/// the transport's thread (never the engine thread): for a non-streaming
/// request the `text_completion` / `chat.completion` object once finished;
/// for a streaming one the SSE events of each output as it arrives
/// (`text_completion` chunks; `chat.completion.chunk`s with `delta.role`
/// first, then `delta.content`, then an empty delta with `finish_reason`),
/// a usage chunk with `choices: []` when stream_options.include_usage, and
/// `data: [DONE]`. Logprobs in each endpoint's shape: completions
/// {tokens, token_logprobs, top_logprobs, text_offset}, chat
/// {content: [{token, logprob, bytes, top_logprobs}]}; token strings are the
/// tokenizer's bytes of the token after its predecessor.
class OpenAIResponseBuilder {
 public:
  /// `id` is the response id ("cmpl-…" / "chatcmpl-…"), `created` Unix seconds.
  OpenAIResponseBuilder(const OpenAIRequest& request, const Tokenizer* tokenizer,
                        std::string model, std::string id, int64_t created);

  /// Takes one engine output (in engine order). For a streaming request,
  /// returns the SSE events it adds (possibly none); for a non-streaming one,
  /// returns "" and accumulates.
  std::string Add(const RequestOutput& output);

  /// Streaming: the events after the last output (usage chunk, [DONE]).
  std::string StreamEnd() const;
  /// Non-streaming: the whole response object (after the final output).
  nlohmann::json Response() const;
  /// usage: prompt_tokens, completion_tokens, total_tokens,
  /// prompt_tokens_details.cached_tokens.
  nlohmann::json Usage() const;

 private:
  struct Choice {
    std::string text;
    FinishReason finish_reason = FinishReason::kNone;
    int completion_tokens = 0;
    int32_t prev_token = -1;  ///< for token strings (leading-space rules)
    int text_offset = 0;      ///< completions logprobs: bytes of text so far
    bool role_sent = false;
    nlohmann::json logprobs;  ///< accumulated (non-streaming)
  };

  /// This output's logprobs in the endpoint's shape (advances prev_token).
  nlohmann::json Logprobs(const RequestOutput& output, Choice* choice) const;
  /// A chunk object with `choices: [choice]`.
  nlohmann::json Chunk(nlohmann::json choice) const;

  Endpoint endpoint_;
  bool stream_;
  bool include_usage_;
  bool logprobs_;
  const Tokenizer* tokenizer_;
  std::string model_;
  std::string id_;
  int64_t created_;
  std::vector<Choice> choices_;
  int prompt_tokens_ = 0;
  int cached_prompt_tokens_ = 0;
  /// From the request's final output (all completions); -1 before it.
  int total_completion_tokens_ = -1;
};

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_OPENAI_RESPONSE_H_
