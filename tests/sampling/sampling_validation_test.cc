// Out-of-range generation controls get INVALID_ARGUMENT naming the proto field.
#include "engine/sampling/sampling_validation.h"

#include <gtest/gtest.h>

#include <functional>

namespace llmserve {
namespace {

GenerationLimits Limits() {
  GenerationLimits l;
  l.vocab_size = 100;
  l.max_logprobs = 5;
  l.max_n = 4;
  return l;
}

void ExpectRejected(const std::function<void(SamplingParams&)>& edit, const std::string& field) {
  SamplingParams p;
  edit(p);
  const absl::Status s = ValidateGenerationControls(p, Limits(), std::vector<int32_t>{2});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_EQ(s.message().rfind("sampling_params." + field, 0), 0u) << s.message();
}

TEST(SamplingValidationTest, DefaultsAndInRangeValuesAreAccepted) {
  SamplingParams p;
  EXPECT_TRUE(ValidateGenerationControls(p, Limits(), {}).ok());
  p.min_p = 1.0f;
  p.repetition_penalty = 1.3f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.logit_bias = {{0, -100.0f}, {99, 100.0f}};
  p.banned_token_ids = {5};
  p.stop_token_ids = {7};
  p.max_tokens = 8;
  p.min_tokens = 8;
  p.logprobs = 5;
  p.prompt_logprobs = 0;
  p.n = 4;
  EXPECT_TRUE(ValidateGenerationControls(p, Limits(), std::vector<int32_t>{2}).ok());
}

TEST(SamplingValidationTest, OutOfRangeValuesNameTheField) {
  ExpectRejected([](SamplingParams& p) { p.min_p = -0.1f; }, "min_p");
  ExpectRejected([](SamplingParams& p) { p.min_p = 1.5f; }, "min_p");
  ExpectRejected([](SamplingParams& p) { p.min_p = std::nanf(""); }, "min_p");
  ExpectRejected([](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty");
  ExpectRejected([](SamplingParams& p) { p.repetition_penalty = -1.0f; }, "repetition_penalty");
  ExpectRejected([](SamplingParams& p) { p.presence_penalty = 2.5f; }, "presence_penalty");
  ExpectRejected([](SamplingParams& p) { p.frequency_penalty = -3.0f; }, "frequency_penalty");
  ExpectRejected([](SamplingParams& p) { p.logit_bias = {{100, 1.0f}}; }, "logit_bias");
  ExpectRejected([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }, "logit_bias");
  ExpectRejected([](SamplingParams& p) { p.logit_bias = {{3, 101.0f}}; }, "logit_bias");
  ExpectRejected([](SamplingParams& p) { p.banned_token_ids = {1, 100}; }, "banned_token_ids[1]");
  ExpectRejected([](SamplingParams& p) { p.stop_token_ids = {-4}; }, "stop_token_ids[0]");
  ExpectRejected(
      [](SamplingParams& p) {
        p.stop_token_ids.assign(SamplingParams::kMaxStopTokenIds + 1, 1);
      },
      "stop_token_ids");
  ExpectRejected([](SamplingParams& p) { p.min_tokens = -1; }, "min_tokens");
  ExpectRejected([](SamplingParams& p) { p.min_tokens = p.max_tokens + 1; }, "min_tokens");
  ExpectRejected([](SamplingParams& p) { p.logprobs = 6; }, "logprobs");
  ExpectRejected([](SamplingParams& p) { p.logprobs = -1; }, "logprobs");
  ExpectRejected([](SamplingParams& p) { p.prompt_logprobs = 6; }, "prompt_logprobs");
  ExpectRejected([](SamplingParams& p) { p.n = 0; }, "n ");
  ExpectRejected([](SamplingParams& p) { p.n = 5; }, "n ");
}

TEST(SamplingValidationTest, BanningTheWholeVocabularyIsRejected) {
  SamplingParams p;
  for (int32_t i = 0; i < 99; ++i) p.banned_token_ids.push_back(i);
  EXPECT_TRUE(ValidateGenerationControls(p, Limits(), std::vector<int32_t>{99}).ok());
  p.min_tokens = 1;  // EOS 99 suppressed too: nothing left
  EXPECT_FALSE(ValidateGenerationControls(p, Limits(), std::vector<int32_t>{99}).ok());
  p.ignore_eos = true;
  EXPECT_TRUE(ValidateGenerationControls(p, Limits(), std::vector<int32_t>{99}).ok());
}

}  // namespace
}  // namespace llmserve
