#include "engine/request_validator.h"

#include "absl/strings/str_cat.h"
#include "engine/sampling/sampling_validation.h"

namespace llmserve {

absl::Status ValidateRequest(const EngineRequest& request, const RequestLimits& limits) {
  if (request.request_id.empty()) {
    return absl::InvalidArgumentError("request_id must not be empty");
  }
  if (request.request_id.size() > limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id must be at most ",
                                                   limits.max_request_id_bytes, " bytes, got ",
                                                   request.request_id.size()));
  }
  if (absl::Status s = request.sampling.Validate(); !s.ok()) return s;
  GenerationLimits generation;
  generation.vocab_size = limits.vocab_size;
  generation.max_logprobs = limits.max_logprobs;
  generation.max_n = limits.max_n;
  if (absl::Status s = ValidateGenerationControls(request.sampling, generation, limits.eos_token_ids);
      !s.ok()) {
    return s;
  }

  const std::vector<int32_t>& ids = request.prompt_token_ids;
  if (ids.empty()) {
    return absl::InvalidArgumentError("prompt.token_ids must not be empty");
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= limits.vocab_size) {
      // Printed as the proto's uint32 (a negative id came from a value >= 2^31).
      return absl::InvalidArgumentError(absl::StrCat("prompt.token_ids[", i,
                                                     "] = ", static_cast<uint32_t>(ids[i]),
                                                     " is not < vocab_size ", limits.vocab_size));
    }
  }
  if (limits.max_prompt_tokens > 0 && ids.size() > static_cast<std::size_t>(limits.max_prompt_tokens)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt: ", ids.size(), " tokens exceeds the maximum prompt length of ",
        limits.max_prompt_tokens, " tokens"));
  }
  const int64_t total = static_cast<int64_t>(ids.size()) + request.sampling.max_tokens;
  if (total > limits.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling_params.max_tokens: prompt (", ids.size(), " tokens) + max_tokens (",
        request.sampling.max_tokens, ") = ", total, " exceeds the maximum context of ",
        limits.max_context, " tokens"));
  }
  if (limits.kv_cache_tokens > 0) {
    const int64_t block = limits.block_size > 0 ? limits.block_size : 1;
    const int64_t needed = (total + block - 1) / block * block;
    if (needed > limits.kv_cache_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampling_params.max_tokens: prompt + max_tokens = ", total, " tokens needs ",
          needed / block, " KV-cache blocks but the whole cache has ",
          limits.kv_cache_tokens / block));
    }
  }
  return absl::OkStatus();
}

}  // namespace llmserve
