// SequenceSampler: logprobs are of the raw row (before penalties and bias);
// completion i of n draws from seed + i; the same row and history give the
// same token and logprobs whatever else ran (the per-sequence state is all).
#include "engine/sampling/sequence_sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace llmserve {
namespace {

std::vector<float> Row(std::mt19937& gen, int vocab = 50) {
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> r(static_cast<std::size_t>(vocab));
  for (float& x : r) x = d(gen);
  return r;
}

TEST(SequenceSamplerTest, LogprobsAreOfTheRawDistribution) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = 3;
  p.logit_bias = {{7, 100.0f}};  // forces token 7
  p.repetition_penalty = 1.5f;
  SequenceSampler s(p, std::vector<int32_t>{1, 2}, 50, {});
  std::mt19937 gen(3);
  const std::vector<float> raw = Row(gen);
  std::vector<float> row = raw;
  const SampleResult t = s.Sample(absl::MakeSpan(row));
  EXPECT_EQ(t.token_id, 7);
  ASSERT_TRUE(t.logprobs.has_value());
  double z = 0;
  for (float x : raw) z += std::exp(static_cast<double>(x));
  EXPECT_NEAR(t.logprobs->chosen.logprob, raw[7] - std::log(z), 1e-5);
  std::vector<int32_t> scratch;
  const PositionLogprobs want = ComputeLogprobs(raw, 7, 3, scratch);
  ASSERT_EQ(t.logprobs->top.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.logprobs->top[i].token_id, want.top[i].token_id);
    EXPECT_EQ(t.logprobs->top[i].logprob, want.top[i].logprob);
  }
  EXPECT_EQ(t.logprobs->rank, want.rank);
}

TEST(SequenceSamplerTest, CompletionIUsesSeedPlusI) {
  SamplingParams p;
  p.seed = 100;
  p.temperature = 1.0f;
  p.presence_penalty = 0.5f;
  SamplingParams p2 = p;
  p2.seed = 102;
  SequenceSampler third(p, std::vector<int32_t>{1}, 50, {}, /*completion_index=*/2);
  SequenceSampler alone(p2, std::vector<int32_t>{1}, 50, {});
  std::mt19937 gen(8);
  for (int i = 0; i < 100; ++i) {
    const std::vector<float> raw = Row(gen);
    std::vector<float> a = raw, b = raw;
    EXPECT_EQ(third.Sample(absl::MakeSpan(a)).token_id, alone.Sample(absl::MakeSpan(b)).token_id);
  }
  EXPECT_EQ(CompletionSeed(p, 3), std::optional<uint64_t>(103));
  EXPECT_FALSE(CompletionSeed(SamplingParams{}, 3).has_value());
}

// A structured-output mask (-inf outside the allowed set) comes before the
// processors: when they leave no allowed token (min_tokens suppressing the
// only allowed EOS, banned ids, -100 bias) the token comes from the masked row
// without them (the constraint wins); logprobs are of the masked row.
TEST(SequenceSamplerTest, MaskedRowWinsOverProcessorsThatBanEveryAllowedToken) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::mt19937 gen(5);
  const std::vector<float> raw = Row(gen);
  std::vector<float> masked(raw.size(), kNegInf);
  masked[2] = raw[2];    // EOS, the only allowed token at a terminated output
  masked[30] = raw[30];  // plus one more, banned below
  SamplingParams p;
  p.temperature = 0.7f;
  p.seed = 1;
  p.min_tokens = 5;  // suppresses EOS 2
  p.banned_token_ids = {30};
  p.logprobs = 2;
  SequenceSampler s(p, std::vector<int32_t>{1}, 50, std::vector<int32_t>{2});
  std::vector<float> row = masked;
  const SampleResult t = s.Sample(absl::MakeSpan(row), /*masked=*/true);
  EXPECT_TRUE(t.token_id == 2 || t.token_id == 30) << t.token_id;
  ASSERT_TRUE(t.logprobs.has_value());
  // Of the masked row: the two allowed tokens share all the mass.
  const double z = std::log(std::exp(double{raw[2]}) + std::exp(double{raw[30]}));
  EXPECT_NEAR(t.logprobs->chosen.logprob, raw[t.token_id] - z, 1e-5);
  ASSERT_EQ(t.logprobs->top.size(), 2u);
  EXPECT_NEAR(std::exp(double{t.logprobs->top[0].logprob}) + std::exp(double{t.logprobs->top[1].logprob}),
              1.0, 1e-5);

  // Where the processors leave an allowed token, they still apply after the mask.
  masked[40] = raw[40];
  SequenceSampler greedy([] {
    SamplingParams q;
    q.temperature = 0.0f;
    q.banned_token_ids = {30};
    q.min_tokens = 5;
    return q;
  }(), std::vector<int32_t>{1}, 50, std::vector<int32_t>{2});
  row = masked;
  EXPECT_EQ(greedy.Sample(absl::MakeSpan(row), /*masked=*/true).token_id, 40);
}

}  // namespace
}  // namespace llmserve
