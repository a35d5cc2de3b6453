#ifndef LLMSERVE_ENGINE_SAMPLING_SEQUENCE_SAMPLER_H_
#define LLMSERVE_ENGINE_SAMPLING_SEQUENCE_SAMPLER_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "engine/sampling/logits_processor.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// The result of sampling one token.
struct SampleResult {
  int32_t token_id = 0;
  /// Set when SamplingParams::logprobs is: the raw-distribution logprobs of
  /// `token_id` and the top `logprobs` alternatives.
  std::optional<PositionLogprobs> logprobs;
};

/// Everything one sequence needs to pick its next tokens: its sampling
/// parameters, its own random stream and its logits processors' incremental
/// state. The engine keeps one per sequence (the `n` completions of a request
/// each have their own, completion i seeded with seed + i).
///
/// Per token: (the structured-output mask, applied by the caller) → logprobs
/// of that row (if requested) → logits processors in place → SampleToken (temperature, min-p, top-k, top-p) → record the token.
/// Depends on nothing but this sequence's logits row and history, so results
/// are the same alone and in any batch.
class SequenceSampler {
 public:
  /// `params` validated; `prompt` ids < vocab_size; `eos_token_ids` the ids
  /// generation stops on. `completion_index` selects the seed stream
  /// (seed + completion_index when params.seed is set).
  SequenceSampler(const SamplingParams& params, absl::Span<const int32_t> prompt,
                  int32_t vocab_size, absl::Span<const int32_t> eos_token_ids,
                  int completion_index = 0);

  /// Picks the next token from the raw logits row [vocab_size]; `logits` is
  /// overwritten (processed in place). Records the token in the processors.
  /// `masked`: the row already carries a structured-output token mask (-inf
  /// for every token the constraint forbids, at least one token allowed);
  /// logprobs are then of this masked (constrained) distribution, and if the
  /// processors leave no finite logit (banned ids, min_tokens suppression of
  /// EOS, a -100 bias on every allowed token) the token is drawn from the
  /// masked row without them: the constraint wins.
  SampleResult Sample(absl::Span<float> logits, bool masked = false);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  SamplingRng rng_;
  LogitsProcessor processor_;
  std::vector<std::pair<float, int32_t>> scratch_;
  std::vector<int32_t> id_scratch_;
  std::vector<float> raw_;  // the raw row, kept for logprobs while processors run
};

/// Seed of completion `index`: params.seed + index (wrapping), or unset.
std::optional<uint64_t> CompletionSeed(const SamplingParams& params, int index);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_SEQUENCE_SAMPLER_H_
