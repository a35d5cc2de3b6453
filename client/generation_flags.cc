#include "client/generation_flags.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::vector<std::string>, stop, {},
          "Comma-separated stop strings (so none can contain a comma).");
ABSL_FLAG(std::optional<float>, min_p, std::nullopt,
          "Min-p sampling in [0, 1] (server default 0 = disabled).");
ABSL_FLAG(std::optional<float>, repetition_penalty, std::nullopt,
          "Multiplicative repetition penalty over prompt and completion tokens "
          "(server default 1 = disabled).");
ABSL_FLAG(std::optional<float>, presence_penalty, std::nullopt,
          "Additive presence penalty over completion tokens, in [-2, 2].");
ABSL_FLAG(std::optional<float>, frequency_penalty, std::nullopt,
          "Additive frequency penalty over completion tokens, in [-2, 2].");
ABSL_FLAG(std::vector<std::string>, logit_bias, {},
          "Comma-separated TOKEN_ID:BIAS pairs added to the logits, e.g. 13:-100,42:5.");
ABSL_FLAG(std::vector<std::string>, banned_token_ids, {},
          "Comma-separated token ids that are never generated.");
ABSL_FLAG(std::vector<std::string>, stop_token_ids, {},
          "Comma-separated token ids that end a completion (finish reason stop).");
ABSL_FLAG(std::optional<int>, min_tokens, std::nullopt,
          "EOS, stop ids and stop strings cannot end a completion before this many tokens.");
ABSL_FLAG(std::optional<int>, logprobs, std::nullopt,
          "Request each generated token's log-probability and its K most likely alternatives.");
ABSL_FLAG(std::optional<int>, prompt_logprobs, std::nullopt,
          "Request each prompt token's log-probability and K alternatives.");
ABSL_FLAG(std::optional<int>, n, std::nullopt, "Completions per request (server default 1).");

namespace llmserve::client {
namespace {

/// Appends the token ids of `flag` to `out`; INVALID_ARGUMENT on a bad one.
absl::Status ParseIds(const std::vector<std::string>& ids, const char* flag,
                      google::protobuf::RepeatedField<uint32_t>* out) {
  for (const std::string& s : ids) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(s, &id)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": not a token id: \"", s, "\""));
    }
    out->Add(id);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyGenerationFlags(v1::SamplingParams* p) {
  for (const std::string& s : absl::GetFlag(FLAGS_stop)) p->add_stop(s);
  if (auto v = absl::GetFlag(FLAGS_min_p)) p->set_min_p(*v);
  if (auto v = absl::GetFlag(FLAGS_repetition_penalty)) p->set_repetition_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_presence_penalty)) p->set_presence_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_frequency_penalty)) p->set_frequency_penalty(*v);
  for (const std::string& pair : absl::GetFlag(FLAGS_logit_bias)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits(':', 1));
    uint32_t id = 0;
    float bias = 0;
    if (!absl::SimpleAtoi(kv.first, &id) || !absl::SimpleAtof(kv.second, &bias)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--logit-bias: not TOKEN_ID:BIAS: \"", pair, "\""));
    }
    (*p->mutable_logit_bias())[id] = bias;
  }
  if (absl::Status s = ParseIds(absl::GetFlag(FLAGS_banned_token_ids), "--banned-token-ids",
                                p->mutable_banned_token_ids());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseIds(absl::GetFlag(FLAGS_stop_token_ids), "--stop-token-ids",
                                p->mutable_stop_token_ids());
      !s.ok()) {
    return s;
  }
  // Negative values are sent as huge unsigned ones, so the server refuses them.
  if (auto v = absl::GetFlag(FLAGS_min_tokens)) p->set_min_tokens(static_cast<uint32_t>(*v));
  if (auto v = absl::GetFlag(FLAGS_logprobs)) p->set_logprobs(static_cast<uint32_t>(*v));
  if (auto v = absl::GetFlag(FLAGS_prompt_logprobs)) {
    p->set_prompt_logprobs(static_cast<uint32_t>(*v));
  }
  if (auto v = absl::GetFlag(FLAGS_n)) p->set_n(static_cast<uint32_t>(*v));
  return absl::OkStatus();
}

}  // namespace llmserve::client
