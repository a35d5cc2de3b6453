#include "engine/sampling/logits_processor.h"

#include <algorithm>
#include <limits>

namespace llmserve {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The one pass over the row, specialised on which processors are on so that
// each variant is a branch-free loop the compiler vectorizes (blends for the
// sign test and the count test).
template <bool kBias, bool kRepetition, bool kCounts>
void ProcessRow(float* __restrict x, int32_t n, const float* __restrict bias,
                const float* __restrict repetition, const float* __restrict counts,
                float frequency, float presence) {
  for (int32_t v = 0; v < n; ++v) {
    float l = x[v];
    if constexpr (kBias) l += bias[v];
    if constexpr (kRepetition) {
      // Both factors computed unconditionally so the select vectorizes (a
      // conditional division would not be if-converted); l * (1/r) is within
      // one rounding of l / r.
      const float r = repetition[v];
      const float inv = 1.0f / r;
      l *= l > 0.0f ? inv : r;
    }
    if constexpr (kCounts) {
      const float c = counts[v];
      l -= frequency * c + (c > 0.0f ? presence : 0.0f);
    }
    x[v] = l;
  }
}

using RowFn = void (*)(float*, int32_t, const float*, const float*, const float*, float, float);

constexpr RowFn kRowFns[8] = {
    ProcessRow<false, false, false>, ProcessRow<false, false, true>,
    ProcessRow<false, true, false>,  ProcessRow<false, true, true>,
    ProcessRow<true, false, false>,  ProcessRow<true, false, true>,
    ProcessRow<true, true, false>,   ProcessRow<true, true, true>,
};

}  // namespace

LogitsProcessor::LogitsProcessor(const SamplingParams& params, absl::Span<const int32_t> prompt,
                                 int32_t vocab_size, absl::Span<const int32_t> eos_token_ids)
    : presence_(params.presence_penalty),
      frequency_(params.frequency_penalty),
      repetition_penalty_(params.repetition_penalty),
      min_tokens_(params.min_tokens) {
  const auto vocab = static_cast<std::size_t>(vocab_size);
  auto valid = [vocab_size](int32_t id) { return id >= 0 && id < vocab_size; };

  // Bias row: logit_bias, banned ids, min_tokens suppression.
  std::vector<int32_t> suppress;
  if (min_tokens_ > 0) {
    suppress.assign(params.stop_token_ids.begin(), params.stop_token_ids.end());
    // A structured output's EOS ends it even with ignore_eos, so min_tokens keeps it away too.
    if (!params.ignore_eos || params.structured_output.has_value()) {
      suppress.insert(suppress.end(), eos_token_ids.begin(), eos_token_ids.end());
    }
    std::erase_if(suppress, [&](int32_t id) { return !valid(id); });
    std::sort(suppress.begin(), suppress.end());
    suppress.erase(std::unique(suppress.begin(), suppress.end()), suppress.end());
  }
  if (!params.logit_bias.empty() || !params.banned_token_ids.empty() || !suppress.empty()) {
    bias_.assign(vocab, 0.0f);
    for (const auto& [id, b] : params.logit_bias) {
      if (valid(id)) bias_[id] += b;
    }
    for (int32_t id : params.banned_token_ids) {
      if (valid(id)) bias_[id] = kNegInf;
    }
    for (int32_t id : suppress) {
      suppressed_.emplace_back(id, bias_[id]);
      bias_[id] = kNegInf;
    }
  }
  if (repetition_penalty_ != 1.0f) {
    repetition_.assign(vocab, 1.0f);
    for (int32_t id : prompt) {
      if (valid(id)) repetition_[id] = repetition_penalty_;
    }
  }
  if (presence_ != 0.0f || frequency_ != 0.0f) counts_.assign(vocab, 0.0f);
}

void LogitsProcessor::AppendToken(int32_t token) {
  ++num_completion_tokens_;
  if (!repetition_.empty()) repetition_[token] = repetition_penalty_;
  if (!counts_.empty()) counts_[token] += 1.0f;
  if (num_completion_tokens_ == min_tokens_) {
    for (const auto& [id, restored] : suppressed_) bias_[id] = restored;
    suppressed_.clear();
  }
}

void LogitsProcessor::Apply(absl::Span<float> logits) const {
  const int index = (bias_.empty() ? 0 : 4) + (repetition_.empty() ? 0 : 2) + (counts_.empty() ? 0 : 1);
  if (index == 0) return;
  kRowFns[index](logits.data(), static_cast<int32_t>(logits.size()), bias_.data(),
                 repetition_.data(), counts_.data(), frequency_, presence_);
}

}  // namespace llmserve
