#include "server/request_validation.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmserve::server {
namespace {

absl::Status ValidateSampling(const SamplingParams& p) {
  if (p.max_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.max_tokens must be > 0, got ", p.max_tokens));
  }
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.temperature must be >= 0, got ", p.temperature));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.top_p must be in (0, 1], got ", p.top_p));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_params.top_k must be >= 0, got ", p.top_k));
  }
  if (p.stop.size() > static_cast<size_t>(SamplingParams::kMaxStopStrings)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling_params.stop has ", p.stop.size(),
                                                   " strings; at most ",
                                                   SamplingParams::kMaxStopStrings));
  }
  for (size_t i = 0; i < p.stop.size(); ++i) {
    if (p.stop[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampling_params.stop[", i, "] must not be empty"));
    }
    if (p.stop[i].size() > static_cast<size_t>(SamplingParams::kMaxStopBytes)) {
      return absl::InvalidArgumentError(absl::StrCat("sampling_params.stop[", i, "] is ",
                                                     p.stop[i].size(), " bytes; at most ",
                                                     SamplingParams::kMaxStopBytes));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> PromptTokens(const v1::GenerateRequest& request,
                                                   const Tokenizer& tokenizer,
                                                   const RequestLimits& limits) {
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText: {
      absl::StatusOr<std::vector<int32_t>> ids =
          tokenizer.Encode(request.text(), /*add_bos=*/true);
      if (!ids.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("prompt.text cannot be tokenized: ", ids.status().message()));
      }
      if (ids->empty()) {
        return absl::InvalidArgumentError("prompt.text encodes to no tokens");
      }
      return ids;
    }
    case v1::GenerateRequest::kTokenIds: {
      const auto& in = request.token_ids().ids();
      if (in.empty()) {
        return absl::InvalidArgumentError("prompt.token_ids must not be empty");
      }
      std::vector<int32_t> ids;
      ids.reserve(in.size());
      for (int i = 0; i < in.size(); ++i) {
        if (in[i] >= static_cast<uint32_t>(limits.vocab_size)) {
          return absl::InvalidArgumentError(
              absl::StrCat("prompt.token_ids[", i, "] = ", in[i], " is not < vocab_size ",
                           limits.vocab_size));
        }
        ids.push_back(static_cast<int32_t>(in[i]));
      }
      return ids;
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("prompt: one of text or token_ids must be set");
}

}  // namespace

SamplingParams ToSamplingParams(const v1::SamplingParams& params) {
  SamplingParams out;
  out.max_tokens = params.has_max_tokens() ? params.max_tokens() : kDefaultMaxTokens;
  out.temperature = params.has_temperature() ? params.temperature() : kDefaultTemperature;
  out.top_k = params.top_k();
  out.top_p = params.has_top_p() ? params.top_p() : kDefaultTopP;
  if (params.has_seed()) out.seed = params.seed();
  out.stop.assign(params.stop().begin(), params.stop().end());
  out.ignore_eos = params.ignore_eos();
  return out;
}

absl::StatusOr<EngineRequest> ValidateGenerateRequest(const v1::GenerateRequest& request,
                                                      const Tokenizer& tokenizer,
                                                      const RequestLimits& limits) {
  if (request.request_id().size() > limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id must be at most ",
                                                   limits.max_request_id_bytes,
                                                   " bytes, got ", request.request_id().size()));
  }
  EngineRequest out;
  out.request_id = request.request_id();
  out.sampling = ToSamplingParams(request.sampling_params());
  if (absl::Status s = ValidateSampling(out.sampling); !s.ok()) return s;

  absl::StatusOr<std::vector<int32_t>> ids = PromptTokens(request, tokenizer, limits);
  if (!ids.ok()) return ids.status();
  out.prompt_token_ids = *std::move(ids);

  if (limits.max_prompt_tokens > 0 &&
      out.prompt_token_ids.size() > static_cast<size_t>(limits.max_prompt_tokens)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt: ", out.prompt_token_ids.size(), " tokens exceeds the maximum prompt length of ",
        limits.max_prompt_tokens, " tokens"));
  }

  const int64_t needed =
      static_cast<int64_t>(out.prompt_token_ids.size()) + out.sampling.max_tokens;
  if (needed > limits.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling_params.max_tokens: prompt (", out.prompt_token_ids.size(),
        " tokens) + max_tokens (", out.sampling.max_tokens, ") exceeds max_context (",
        limits.max_context, ")"));
  }
  return out;
}

}  // namespace llmserve::server
