#include "engine/sampling/sequence_sampler.h"

#include <algorithm>
#include <limits>

namespace llmserve {

std::optional<uint64_t> CompletionSeed(const SamplingParams& params, int index) {
  if (!params.seed.has_value()) return std::nullopt;
  return *params.seed + static_cast<uint64_t>(index);
}

namespace {
SamplingParams WithCompletionSeed(SamplingParams params, int index) {
  params.seed = CompletionSeed(params, index);
  return params;
}
}  // namespace

SequenceSampler::SequenceSampler(const SamplingParams& params, absl::Span<const int32_t> prompt,
                                 int32_t vocab_size, absl::Span<const int32_t> eos_token_ids,
                                 int completion_index)
    : params_(WithCompletionSeed(params, completion_index)),
      rng_(params_),
      processor_(params_, prompt, vocab_size, eos_token_ids) {}

SampleResult SequenceSampler::Sample(absl::Span<float> logits, bool masked) {
  SampleResult out;
  // Logprobs need the row before the processors; the chosen token is known
  // only after sampling, so keep a copy when processors will change it. A
  // masked row is kept too: if the processors (banned ids, min_tokens, bias)
  // leave no allowed token, the token is drawn from the masked row without
  // them (the constraint wins).
  const bool keep = processor_.active() && (params_.logprobs.has_value() || masked);
  if (keep) raw_.assign(logits.begin(), logits.end());
  processor_.Apply(logits);
  if (masked && keep && !(logits[ArgMax(logits)] > -std::numeric_limits<float>::infinity())) {
    std::copy(raw_.begin(), raw_.end(), logits.begin());
  }
  out.token_id = SampleToken(logits, params_, rng_, scratch_);
  if (params_.logprobs.has_value()) {
    out.logprobs = ComputeLogprobs(keep ? absl::Span<const float>(raw_) : logits, out.token_id,
                                   *params_.logprobs, id_scratch_);
  }
  processor_.AppendToken(out.token_id);
  return out;
}

}  // namespace llmserve
