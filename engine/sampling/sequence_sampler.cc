#include "engine/sampling/sequence_sampler.h"

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

SampleResult SequenceSampler::Sample(absl::Span<float> logits) {
  SampleResult out;
  // Logprobs need the raw row; the chosen token is known only after sampling,
  // so keep the raw values of what the logprobs need: the whole row when
  // processors will change it.
  if (params_.logprobs.has_value() && processor_.active()) {
    raw_.assign(logits.begin(), logits.end());
    processor_.Apply(logits);
    out.token_id = SampleToken(logits, params_, rng_, scratch_);
    out.logprobs = ComputeLogprobs(raw_, out.token_id, *params_.logprobs, id_scratch_);
  } else {
    processor_.Apply(logits);
    out.token_id = SampleToken(logits, params_, rng_, scratch_);
    if (params_.logprobs.has_value()) {
      out.logprobs = ComputeLogprobs(logits, out.token_id, *params_.logprobs, id_scratch_);
    }
  }
  processor_.AppendToken(out.token_id);
  return out;
}

}  // namespace llmserve
