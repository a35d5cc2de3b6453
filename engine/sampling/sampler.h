#ifndef LLMSERVE_ENGINE_SAMPLING_SAMPLER_H_
#define LLMSERVE_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// Per-request random state: a 64-bit Mersenne Twister seeded from
/// SamplingParams::seed (or from std::random_device when unset). Each request
/// owns one, so its draws do not depend on other requests in the batch.
class SamplingRng {
 public:
  explicit SamplingRng(const SamplingParams& params);
  /// Uniform double in [0, 1) from the top 53 bits of one draw.
  double Uniform();

 private:
  std::mt19937_64 engine_;
};

/// Picks the next token from one row of logits [vocab].
///  - temperature 0: argmax (the lowest id among equal maxima, as llama2.c).
///  - otherwise: softmax(logits / temperature), restricted to the tokens whose
///    probability is >= min_p × the largest probability (min-p, if min_p > 0;
///    vLLM / Hugging Face MinPLogitsWarper), then to the top_k most likely
///    tokens (if top_k > 0), then to the smallest most-likely set whose
///    probability reaches top_p (nucleus sampling, Holtzman et al. 2019),
///    renormalized, then sampled by inverse CDF with one uniform draw.
///    Without min-p, top-k or top-p the probabilities come from a vectorized
///    exp (~1 ulp; a token below e^-87 of the most likely one has 0).
/// `logits` are already processed (LogitsProcessor: penalties, bias); -inf
/// entries are never drawn.
/// `scratch` is reused between calls to avoid allocation.
int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    SamplingRng& rng, std::vector<std::pair<float, int32_t>>& scratch);

/// Index of the largest value (first on ties).
int32_t ArgMax(absl::Span<const float> values);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_SAMPLER_H_
