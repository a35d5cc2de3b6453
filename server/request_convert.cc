#include "server/request_convert.h"

#include <algorithm>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmserve::server {
namespace {

absl::StatusOr<std::vector<int32_t>> PromptTokens(const v1::GenerateRequest& request,
                                                   const Tokenizer& tokenizer) {
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
      // Range checks are the validator's; ids >= 2^31 become negative and fail there.
      const auto& in = request.token_ids().ids();
      std::vector<int32_t> ids;
      ids.reserve(in.size());
      for (uint32_t id : in) ids.push_back(static_cast<int32_t>(id));
      return ids;
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("prompt: one of text or token_ids must be set");
}

}  // namespace

SamplingParams ToSamplingParams(const v1::SamplingParams& params) {
  SamplingParams out;  // the defaults
  if (params.has_max_tokens()) out.max_tokens = params.max_tokens();
  if (params.has_temperature()) out.temperature = params.temperature();
  out.top_k = params.top_k();
  if (params.has_top_p()) out.top_p = params.top_p();
  if (params.has_seed()) out.seed = params.seed();
  out.stop.assign(params.stop().begin(), params.stop().end());
  out.ignore_eos = params.ignore_eos();
  // uint32 values beyond int32 wrap to negative ints, which validation rejects
  // naming the field.
  out.min_p = params.min_p();
  if (params.has_repetition_penalty()) out.repetition_penalty = params.repetition_penalty();
  out.presence_penalty = params.presence_penalty();
  out.frequency_penalty = params.frequency_penalty();
  for (const auto& [id, bias] : params.logit_bias()) {
    out.logit_bias.emplace_back(static_cast<int32_t>(id), bias);
  }
  // A proto map has no order: sort so the request is the same however it arrived.
  std::sort(out.logit_bias.begin(), out.logit_bias.end());
  for (uint32_t id : params.banned_token_ids()) out.banned_token_ids.push_back(static_cast<int32_t>(id));
  for (uint32_t id : params.stop_token_ids()) out.stop_token_ids.push_back(static_cast<int32_t>(id));
  out.min_tokens = static_cast<int>(params.min_tokens());
  if (params.has_logprobs()) out.logprobs = static_cast<int>(params.logprobs());
  if (params.has_prompt_logprobs()) out.prompt_logprobs = static_cast<int>(params.prompt_logprobs());
  if (params.has_n()) out.n = static_cast<int>(params.n());
  if (params.has_structured_output()) {
    const v1::StructuredOutput& so = params.structured_output();
    StructuredOutputParams p;
    using Kind = StructuredOutputParams::Kind;
    switch (so.kind_case()) {
      case v1::StructuredOutput::kJsonSchema:
        p.kind = Kind::kJsonSchema;
        p.text = so.json_schema();
        break;
      case v1::StructuredOutput::kJsonObject:
        p.kind = Kind::kJsonObject;
        break;
      case v1::StructuredOutput::kRegex:
        p.kind = Kind::kRegex;
        p.text = so.regex();
        break;
      case v1::StructuredOutput::kChoice:
        p.kind = Kind::kChoice;
        p.choices.assign(so.choice().choices().begin(), so.choice().choices().end());
        break;
      case v1::StructuredOutput::kGrammar:
        p.kind = Kind::kGrammar;
        p.text = so.grammar();
        break;
      case v1::StructuredOutput::KIND_NOT_SET:
        return out;  // ToEngineRequest rejects it
    }
    out.structured_output = std::move(p);
  }
  return out;
}

absl::StatusOr<EngineRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                              const Tokenizer& tokenizer) {
  EngineRequest out;
  out.request_id = request.request_id();
  const v1::SamplingParams& params = request.sampling_params();
  if (params.has_structured_output()) {
    const v1::StructuredOutput& so = params.structured_output();
    if (so.kind_case() == v1::StructuredOutput::KIND_NOT_SET) {
      return absl::InvalidArgumentError(
          "sampling_params.structured_output: one of json_schema, json_object, regex, choice or "
          "grammar must be set");
    }
    if (so.kind_case() == v1::StructuredOutput::kJsonObject && !so.json_object()) {
      return absl::InvalidArgumentError(
          "sampling_params.structured_output.json_object must be true when set");
    }
  }
  out.sampling = ToSamplingParams(params);
  out.priority = request.priority();
  absl::StatusOr<std::vector<int32_t>> ids = PromptTokens(request, tokenizer);
  if (!ids.ok()) return ids.status();
  out.prompt_token_ids = *std::move(ids);
  return out;
}

}  // namespace llmserve::server
