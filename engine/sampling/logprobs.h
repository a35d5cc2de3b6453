#ifndef LLMSERVE_ENGINE_SAMPLING_LOGPROBS_H_
#define LLMSERVE_ENGINE_SAMPLING_LOGPROBS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace llmserve {

/// A token id and its log-probability (natural log).
struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.0f;
};

/// The log-probabilities at one position: the token that was chosen (sampled,
/// or the next prompt token) and the most likely alternatives.
struct PositionLogprobs {
  TokenLogprob chosen;
  /// 1-based rank of the chosen token (1 = most likely; ties rank the lower id first).
  int32_t rank = 1;
  /// The k most likely tokens, most likely first (ties: lower id first).
  std::vector<TokenLogprob> top;
};

/// Log-softmax of one raw logits row [vocab] at the chosen token and the top k:
/// logprob(v) = l[v] - (m + log Σ_u exp(l[u] - m)), m = max_u l[u] — the
/// numerically stable form; the sum is accumulated in double over the full
/// row. Logprobs are of the model's raw distribution (temperature 1, before
/// penalties, bias, min-p, top-k and top-p: vLLM's default "raw_logprobs").
/// `k` is clamped to [0, vocab]. -inf logits get -inf logprobs.
///
/// `scratch` is reused between calls to avoid allocation.
PositionLogprobs ComputeLogprobs(absl::Span<const float> logits, int32_t chosen, int k,
                                 std::vector<int32_t>& scratch);

/// log Σ exp(l[v]) over the row, stable (max-subtracted, double accumulation).
double LogSumExp(absl::Span<const float> logits);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_LOGPROBS_H_
