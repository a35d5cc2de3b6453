#ifndef LLMSERVE_CLIENT_BENCH_OPENAI_PROTOCOL_H_
#define LLMSERVE_CLIENT_BENCH_OPENAI_PROTOCOL_H_

#include <string>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/bench/load_options.h"
#include "client/bench/request_mix.h"
#include "client/bench/workload.h"
#include "nlohmann/json.hpp"

namespace llmserve::bench {

// OpenAI's HTTP API as the load tester speaks it: request bodies, stream
// chunks, error responses. Sources: OpenAI's API reference (Completions,
// Chat Completions, "Streaming": `data: {...}` chunks ending with
// `data: [DONE]`, `stream_options.include_usage` adding a last chunk with
// `usage` and no choices) and vLLM's documented extensions (`top_k`, `min_p`,
// `repetition_penalty`, `min_tokens`, `ignore_eos`, `stop_token_ids`,
// `priority`, `prompt_logprobs`), which llama.cpp's llama-server accepts in part.

/// Which endpoint: POST /v1/completions or POST /v1/chat/completions.
enum class OpenAIApi { kCompletions, kChat };

/// "http://host[:port][/prefix]": where the server is. Endpoints are
/// path_prefix + "/v1/...".
struct BaseUrl {
  std::string host;
  std::string port = "80";
  std::string path_prefix;  ///< "" or "/something" (no trailing '/')
};

/// Parses a base URL. Errors: INVALID_ARGUMENT naming what is wrong (no
/// http:// scheme, no host, bad port); UNIMPLEMENTED for https:// (the HTTP
/// backend has no TLS).
absl::StatusOr<BaseUrl> ParseBaseUrl(absl::string_view url);

/// The request body for one request of the run, with OpenAI's field names:
/// model, prompt (completions: the token ids as an array, or the text) or
/// messages (chat: one user message; a token-id prompt becomes
/// ChatTextForTokenIds), max_tokens, stream (+ stream_options.include_usage),
/// and the run's sampling parameters where set: temperature, top_p, seed, n,
/// stop, presence_penalty, frequency_penalty, logit_bias (banned ids as
/// bias -100), logprobs (completions: the integer; chat: true + top_logprobs),
/// and vLLM's extensions ignore_eos, top_k, min_p, repetition_penalty,
/// min_tokens, stop_token_ids, prompt_logprobs, priority. n and logprobs are
/// left out when the variant has n_logprobs == false.
nlohmann::json BuildOpenAIRequest(OpenAIApi api, const BenchRequest& source,
                                  const LoadOptions& options, const RequestVariant& variant,
                                  const std::string& model);

/// A chat prompt for a token-id workload (random, prefix): one common English
/// word per id (chosen by the id), so the prompt is deterministic and about
/// as many tokens as ids in a BPE vocabulary; the server's usage reports the
/// real count.
std::string ChatTextForTokenIds(const std::vector<uint32_t>& token_ids);

/// What one stream chunk (or a whole non-streamed response) carries.
struct OpenAIChunk {
  /// Completion tokens in it, over all choices: the length of a choice's
  /// logprobs when present, else 1 per choice with non-empty text
  /// (completions `text`, chat `delta.content` / `message.content`).
  /// A role-only or finish-only chunk carries none.
  int tokens = 0;
  /// finish_reason of choice 0 when this chunk has it ("" otherwise).
  std::string finish_reason;
  /// `usage` was present.
  bool has_usage = false;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  ///< usage.prompt_tokens_details.cached_tokens
  /// The chunk is an error object ({"error": {...}}, as vLLM sends mid-stream).
  bool is_error = false;
  grpc::StatusCode error_code = grpc::StatusCode::OK;
  std::string error_message;
};

/// Parses a chunk's JSON. Errors: INVALID_ARGUMENT when it is not JSON or not
/// an object, or choices / usage have the wrong type (a malformed stream).
absl::StatusOr<OpenAIChunk> ParseOpenAIChunk(absl::string_view json);

/// The canonical code of an HTTP status, by the mapping google.rpc.Code
/// documents (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
/// PERMISSION_DENIED, 404 NOT_FOUND, 409 ABORTED, 429 RESOURCE_EXHAUSTED,
/// 499 CANCELLED, 500 INTERNAL, 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504
/// DEADLINE_EXCEEDED); 413 is OUT_OF_RANGE, other 4xx FAILED_PRECONDITION,
/// other 5xx INTERNAL, 2xx OK, anything else UNKNOWN.
grpc::StatusCode CodeForHttpStatus(int http_status);

/// The message of an error response: error.message of OpenAI's error shape
/// {"error": {"message", "type", "param", "code"}} (or a top-level
/// "message"), else the body itself cut to 200 bytes.
std::string ErrorMessageFromBody(absl::string_view body);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_OPENAI_PROTOCOL_H_
