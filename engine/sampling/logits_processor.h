#ifndef LLMSERVE_ENGINE_SAMPLING_LOGITS_PROCESSOR_H_
#define LLMSERVE_ENGINE_SAMPLING_LOGITS_PROCESSOR_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// One sequence's logits processors: logit bias, banned ids, min_tokens
/// suppression and the repetition / presence / frequency penalties, applied
/// to its next-token logits row [vocab_size] in ONE pass over the row.
///
/// For token v with raw logit l[v] the processed logit is (vLLM's order and
/// definitions):
///   x = l[v] + bias[v]                    bias = logit_bias, -inf for banned ids
///                                         and, while fewer than min_tokens
///                                         completion tokens exist, for the EOS
///                                         ids (unless ignore_eos without a
///                                         structured output) and stop_token_ids
///   if v occurs in prompt ∪ completion:   x = x > 0 ? x / r : x * r
///                                         (repetition_penalty r: CTRL / Hugging Face)
///   x -= frequency_penalty · c[v] + presence_penalty · [c[v] > 0]
///                                         (OpenAI; c[v] = count of v in the
///                                         completion only, not the prompt)
///
/// State is kept incrementally: per-token dense rows (bias, repetition factor,
/// completion counts) are built once from the prompt and updated in O(1) per
/// generated token by AppendToken — the history is never rescanned. Rows are
/// allocated only for the processors a request uses (none for default params),
/// each at most 4 bytes × vocab_size.
///
/// The result depends only on this sequence's row and tokens, so it is the
/// same alone and in any batch.
class LogitsProcessor {
 public:
  /// `params` validated (ValidateGenerationControls); `prompt` ids < vocab_size;
  /// `eos_token_ids` are the ids generation stops on (others are ignored).
  LogitsProcessor(const SamplingParams& params, absl::Span<const int32_t> prompt,
                  int32_t vocab_size, absl::Span<const int32_t> eos_token_ids);

  /// True when Apply changes anything (some processor is on).
  bool active() const { return !bias_.empty() || !repetition_.empty() || !counts_.empty(); }

  /// Records one generated completion token (id < vocab_size).
  void AppendToken(int32_t token);

  /// Processes one logits row [vocab_size] in place.
  void Apply(absl::Span<float> logits) const;

  /// Completion tokens recorded so far.
  int num_completion_tokens() const { return num_completion_tokens_; }

 private:
  float presence_ = 0.0f, frequency_ = 0.0f, repetition_penalty_ = 1.0f;
  int min_tokens_ = 0;
  int num_completion_tokens_ = 0;
  std::vector<float> bias_;        // [vocab] additive bias, or empty
  std::vector<float> repetition_;  // [vocab] r where the token occurred, 1 elsewhere; or empty
  std::vector<float> counts_;      // [vocab] completion counts (exact up to 2^24); or empty
  // Ids at -inf until min_tokens completion tokens exist, with the bias they get back.
  std::vector<std::pair<int32_t, float>> suppressed_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_LOGITS_PROCESSOR_H_
