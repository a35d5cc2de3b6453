#include "engine/sampling/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace llmserve {

absl::Status SamplingParams::Validate() const {
  if (max_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.max_tokens must be > 0, got ", max_tokens));
  }
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.temperature must be >= 0, got ", temperature));
  }
  if (top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.top_k must be >= 0, got ", top_k));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.top_p must be in (0, 1], got ", top_p));
  }
  if (stop.size() > static_cast<std::size_t>(kMaxStopStrings)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.stop: at most ",
                                                   kMaxStopStrings, " stop strings, got ",
                                                   stop.size()));
  }
  for (std::size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty() || stop[i].size() > static_cast<std::size_t>(kMaxStopBytes)) {
      return absl::InvalidArgumentError(absl::StrCat("sampling_params.stop[", i, "] must be 1..",
                                                     kMaxStopBytes, " bytes, got ",
                                                     stop[i].size()));
    }
  }
  if (structured_output.has_value()) return ValidateStructuredOutputShape(*structured_output);
  return absl::OkStatus();
}

absl::Status ValidateStructuredOutputShape(const StructuredOutputParams& p) {
  using Kind = StructuredOutputParams::Kind;
  constexpr std::size_t kMax = SamplingParams::kMaxStructuredOutputBytes;
  const char* field = "";
  switch (p.kind) {
    case Kind::kJsonSchema: field = "json_schema"; break;
    case Kind::kJsonObject: return absl::OkStatus();
    case Kind::kRegex: field = "regex"; break;
    case Kind::kGrammar: field = "grammar"; break;
    case Kind::kChoice: {
      if (p.choices.empty()) {
        return absl::InvalidArgumentError(
            "sampling_params.structured_output.choice.choices must not be empty");
      }
      std::size_t total = 0;
      for (std::size_t i = 0; i < p.choices.size(); ++i) {
        if (p.choices[i].empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "sampling_params.structured_output.choice.choices[", i, "] must not be empty"));
        }
        total += p.choices[i].size();
      }
      if (total > kMax) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sampling_params.structured_output.choice.choices: at most ", kMax, " bytes, got ", total));
      }
      return absl::OkStatus();
    }
  }
  if (p.text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.structured_output.", field, " must not be empty"));
  }
  if (p.text.size() > kMax) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.structured_output.", field,
                                                   ": at most ", kMax, " bytes, got ",
                                                   p.text.size()));
  }
  return absl::OkStatus();
}

}  // namespace llmserve
