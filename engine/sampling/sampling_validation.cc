#include "engine/sampling/sampling_validation.h"

#include <algorithm>
#include <cmath>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/strings/str_cat.h"

namespace llmserve {
namespace {

absl::Status RangeError(absl::string_view field, absl::string_view range, double got) {
  return absl::InvalidArgumentError(
      absl::StrCat("sampling_params.", field, " must be in ", range, ", got ", got));
}

bool InRange(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

absl::Status CheckIds(absl::string_view field, absl::Span<const int32_t> ids, std::size_t max_count,
                      int32_t vocab_size) {
  if (ids.size() > max_count) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.", field, " has ", ids.size(),
                                                   " entries; at most ", max_count));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("sampling_params.", field, "[", i, "] = ",
                                                     ids[i], " is outside the vocabulary [0, ",
                                                     vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLogprobs(absl::string_view field, const std::optional<int>& k, int max) {
  if (k.has_value() && (*k < 0 || *k > max)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.", field, " must be in [0, ",
                                                   max, "] (server limit --max-logprobs), got ",
                                                   *k));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGenerationControls(const SamplingParams& p, const GenerationLimits& limits,
                                        absl::Span<const int32_t> eos_token_ids) {
  if (!InRange(p.min_p, 0.0f, 1.0f)) return RangeError("min_p", "[0, 1]", p.min_p);
  if (!InRange(p.repetition_penalty, 0.01f, 100.0f)) {
    return RangeError("repetition_penalty", "[0.01, 100]", p.repetition_penalty);
  }
  if (!InRange(p.presence_penalty, -2.0f, 2.0f)) {
    return RangeError("presence_penalty", "[-2, 2]", p.presence_penalty);
  }
  if (!InRange(p.frequency_penalty, -2.0f, 2.0f)) {
    return RangeError("frequency_penalty", "[-2, 2]", p.frequency_penalty);
  }
  if (p.logit_bias.size() > static_cast<std::size_t>(SamplingParams::kMaxLogitBias)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.logit_bias has ",
                                                   p.logit_bias.size(), " entries; at most ",
                                                   SamplingParams::kMaxLogitBias));
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= limits.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("sampling_params.logit_bias: token id ", id,
                                                     " is outside the vocabulary [0, ",
                                                     limits.vocab_size, ")"));
    }
    if (!InRange(bias, -100.0f, 100.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampling_params.logit_bias[", id, "] must be in [-100, 100], got ", bias));
    }
  }
  if (auto s = CheckIds("banned_token_ids", p.banned_token_ids,
                        SamplingParams::kMaxBannedTokenIds, limits.vocab_size);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckIds("stop_token_ids", p.stop_token_ids, SamplingParams::kMaxStopTokenIds,
                        limits.vocab_size);
      !s.ok()) {
    return s;
  }
  if (p.min_tokens < 0 || p.min_tokens > p.max_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.min_tokens must be in [0, ",
                                                   "max_tokens = ", p.max_tokens, "], got ",
                                                   p.min_tokens));
  }
  if (auto s = CheckLogprobs("logprobs", p.logprobs, limits.max_logprobs); !s.ok()) return s;
  if (auto s = CheckLogprobs("prompt_logprobs", p.prompt_logprobs, limits.max_logprobs); !s.ok()) {
    return s;
  }
  if (p.n < 1 || p.n > limits.max_n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling_params.n must be in [1, ", limits.max_n, "] (server limit --max-n), got ", p.n));
  }
  // Something must stay sampleable: banned ids, plus (while min_tokens holds)
  // the stop ids and EOS ids, must not cover the whole vocabulary.
  if (!p.banned_token_ids.empty()) {
    std::vector<bool> blocked(static_cast<std::size_t>(limits.vocab_size), false);
    for (int32_t id : p.banned_token_ids) blocked[id] = true;
    if (p.min_tokens > 0) {
      for (int32_t id : p.stop_token_ids) blocked[id] = true;
      if (!p.ignore_eos) {
        for (int32_t id : eos_token_ids) {
          if (id >= 0 && id < limits.vocab_size) blocked[id] = true;
        }
      }
    }
    if (std::find(blocked.begin(), blocked.end(), false) == blocked.end()) {
      return absl::InvalidArgumentError(
          "sampling_params.banned_token_ids bans every token of the vocabulary (with the EOS and "
          "stop ids suppressed by min_tokens)");
    }
  }
  return absl::OkStatus();
}

}  // namespace llmserve
