#ifndef LLMSERVE_SERVER_REQUEST_VALIDATION_H_
#define LLMSERVE_SERVER_REQUEST_VALIDATION_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::server {

/// What a request is checked against (the engine's configuration in effect).
struct RequestLimits {
  /// Token ids must be < vocab_size.
  int vocab_size = 0;
  /// prompt tokens + max_tokens must be <= max_context.
  int max_context = 0;
  /// prompt tokens must be <= this (--max-prompt-tokens); 0 = max_context.
  int max_prompt_tokens = 0;
  /// Longest accepted request_id, in bytes.
  size_t max_request_id_bytes = 256;
};

/// Defaults for SamplingParams fields left unset (see generation.proto).
inline constexpr int kDefaultMaxTokens = 16;
inline constexpr float kDefaultTemperature = 1.0f;
inline constexpr float kDefaultTopP = 1.0f;

/// Checks a GenerateRequest and turns it into an EngineRequest: applies the
/// sampling defaults, tokenizes prompt text with `tokenizer` (BOS prepended
/// when the tokenizer has one), and copies prompt token ids as they are.
/// The returned request_id is the request's own (possibly empty; the caller
/// assigns one).
///
/// Errors: INVALID_ARGUMENT whose message starts with the offending field:
///  - `request_id` longer than limits.max_request_id_bytes;
///  - `sampling_params.max_tokens` <= 0, or prompt + max_tokens > max_context;
///  - `sampling_params.temperature` < 0 or not finite;
///  - `sampling_params.top_p` outside (0, 1];
///  - `sampling_params.top_k` < 0;
///  - `sampling_params.stop[i]` empty;
///  - `prompt` when neither text nor token_ids is set;
///  - `prompt.text` that encodes to no tokens (or cannot be encoded);
///  - `prompt.token_ids` empty, or `prompt.token_ids[i]` >= vocab_size;
///  - `prompt` longer than limits.max_prompt_tokens tokens.
absl::StatusOr<EngineRequest> ValidateGenerateRequest(const v1::GenerateRequest& request,
                                                      const Tokenizer& tokenizer,
                                                      const RequestLimits& limits);

/// Converts the proto sampling parameters to the engine's, applying the
/// documented defaults. Does not validate.
SamplingParams ToSamplingParams(const v1::SamplingParams& params);

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_REQUEST_VALIDATION_H_
