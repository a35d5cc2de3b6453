#ifndef LLMSERVE_ENGINE_SAMPLING_SAMPLING_VALIDATION_H_
#define LLMSERVE_ENGINE_SAMPLING_SAMPLING_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// Server limits the generation controls are checked against.
struct GenerationLimits {
  /// Token ids (logit_bias, banned_token_ids, stop_token_ids) must be < vocab_size.
  int32_t vocab_size = 0;
  /// Largest accepted `logprobs` / `prompt_logprobs` (server flag --max-logprobs).
  int max_logprobs = 20;
  /// Largest accepted `n` (server flag --max-n).
  int max_n = 16;
};

/// Checks the issue-#12 fields of `params` (min_p, penalties, logit_bias,
/// banned_token_ids, stop_token_ids, min_tokens, logprobs, prompt_logprobs, n)
/// against their documented ranges and `limits`. `eos_token_ids` are the ids
/// generation stops on: a request that bans or suppresses every token of the
/// vocabulary is rejected (nothing could be sampled).
///
/// Errors: INVALID_ARGUMENT whose message starts with the proto field path,
/// e.g. "sampling_params.min_p must be in [0, 1], got 1.5".
absl::Status ValidateGenerationControls(const SamplingParams& params,
                                        const GenerationLimits& limits,
                                        absl::Span<const int32_t> eos_token_ids);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_SAMPLING_VALIDATION_H_
