#include "engine/sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace llmserve {

double LogSumExp(absl::Span<const float> logits) {
  float m = -std::numeric_limits<float>::infinity();
  for (float l : logits) m = std::max(m, l);
  if (!std::isfinite(m)) return m;  // all -inf (or +inf)
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - m);
  return m + std::log(sum);
}

PositionLogprobs ComputeLogprobs(absl::Span<const float> logits, int32_t chosen, int k,
                                 std::vector<int32_t>& scratch) {
  const auto vocab = static_cast<int32_t>(logits.size());
  const double lse = LogSumExp(logits);
  auto logprob = [&](int32_t v) { return static_cast<float>(logits[v] - lse); };
  // "a more likely than b": larger logit, then lower id.
  auto more_likely = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };

  PositionLogprobs out;
  out.chosen = {chosen, logprob(chosen)};
  int32_t rank = 1;
  for (int32_t v = 0; v < vocab; ++v) rank += more_likely(v, chosen) ? 1 : 0;
  out.rank = rank;

  k = std::clamp(k, 0, static_cast<int>(vocab));
  if (k > 0) {
    scratch.resize(static_cast<std::size_t>(vocab));
    std::iota(scratch.begin(), scratch.end(), 0);
    std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.end(), more_likely);
    out.top.reserve(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i) out.top.push_back({scratch[i], logprob(scratch[i])});
  }
  return out;
}

}  // namespace llmserve
