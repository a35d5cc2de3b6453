#ifndef LLMSERVE_ENGINE_REQUEST_VALIDATOR_H_
#define LLMSERVE_ENGINE_REQUEST_VALIDATOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engine/request.h"

namespace llmserve {

/// What a request is checked against: the engine's configuration in effect
/// (LLMEngine::request_limits()) plus the server's own limits.
struct RequestLimits {
  /// Token ids must be in [0, vocab_size).
  int vocab_size = 0;
  /// prompt tokens + max_tokens must be <= max_context.
  int max_context = 0;
  /// prompt tokens must be <= this (--max-prompt-tokens); 0 = max_context.
  int max_prompt_tokens = 0;
  /// Tokens of the whole KV cache (blocks × block_size); prompt + max_tokens,
  /// rounded up to blocks, must fit. 0 = not checked.
  int64_t kv_cache_tokens = 0;
  /// Tokens per KV-cache block (for the rounding above); 0 = 1.
  int block_size = 0;
  /// Longest accepted request_id, in bytes.
  std::size_t max_request_id_bytes = 256;
  /// Largest `sampling_params.logprobs` / `prompt_logprobs` (--max-logprobs).
  int max_logprobs = 20;
  /// Largest `sampling_params.n` (--max-n).
  int max_n = 16;
  /// The ids generation stops on (for the "nothing left to sample" check).
  std::vector<int32_t> eos_token_ids;
};

/// The one check of a request before it enters the engine: LLMEngine::AddRequest
/// runs it, and the server runs it (with its own max_prompt_tokens) after
/// converting the proto request. Errors: INVALID_ARGUMENT whose message
/// starts with the offending field of llmserve.v1.GenerateRequest:
///  - `request_id` empty or longer than max_request_id_bytes;
///  - `sampling_params.*` (see SamplingParams::Validate and
///    ValidateGenerationControls: min_p, penalties, logit_bias,
///    banned/stop token ids, min_tokens, logprobs and prompt_logprobs above
///    max_logprobs, n above max_n);
///  - `prompt.token_ids` empty, or `prompt.token_ids[i]` outside the vocabulary;
///  - `prompt` longer than max_prompt_tokens;
///  - `sampling_params.max_tokens` when prompt + max_tokens exceeds
///    max_context or the whole KV cache.
absl::Status ValidateRequest(const EngineRequest& request, const RequestLimits& limits);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_REQUEST_VALIDATOR_H_
