// The logits processors against float64 implementations of the published
// definitions, recomputed from the whole history at every step (the processor
// itself keeps counts incrementally): repetition penalty (CTRL / Hugging Face,
// over prompt ∪ completion), presence and frequency penalties (OpenAI, over the
// completion), logit bias, banned ids and min_tokens suppression.
#include "engine/sampling/logits_processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "engine/sampling/sampler.h"

namespace llmserve {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<float> RandomLogits(int vocab, std::mt19937& gen, float scale = 8.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> l(static_cast<std::size_t>(vocab));
  for (float& x : l) x = d(gen);
  return l;
}

// Float64 reference, straight from the definitions.
std::vector<double> Reference(const std::vector<float>& logits, const SamplingParams& p,
                              const std::vector<int32_t>& prompt,
                              const std::vector<int32_t>& completion,
                              const std::vector<int32_t>& eos) {
  std::vector<double> x(logits.begin(), logits.end());
  // logit_bias (OpenAI): added to the logit.
  for (const auto& [id, b] : p.logit_bias) x[id] += b;
  // Banned ids never sampled.
  for (int32_t id : p.banned_token_ids) x[id] = -kInf;
  // min_tokens: EOS and stop ids impossible while the completion is shorter.
  if (static_cast<int>(completion.size()) < p.min_tokens) {
    for (int32_t id : p.stop_token_ids) x[id] = -kInf;
    if (!p.ignore_eos) {
      for (int32_t id : eos) x[id] = -kInf;
    }
  }
  // Repetition penalty (Keskar et al. 2019 as implemented by Hugging Face's
  // RepetitionPenaltyLogitsProcessor): every distinct token of prompt + completion.
  std::set<int32_t> seen(prompt.begin(), prompt.end());
  seen.insert(completion.begin(), completion.end());
  const double r = p.repetition_penalty;
  for (int32_t id : seen) x[id] = x[id] < 0 ? x[id] * r : x[id] / r;
  // OpenAI: mu[j] - c[j] * alpha_frequency - [c[j] > 0] * alpha_presence,
  // c[j] = times j was sampled before (completion only).
  std::map<int32_t, int> c;
  for (int32_t id : completion) ++c[id];
  for (const auto& [id, count] : c) {
    x[id] -= count * static_cast<double>(p.frequency_penalty) + p.presence_penalty;
  }
  return x;
}

void ExpectMatches(const std::vector<float>& got, const std::vector<double>& want,
                   const std::string& where) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t v = 0; v < got.size(); ++v) {
    if (std::isinf(want[v])) {
      EXPECT_EQ(static_cast<double>(got[v]), want[v]) << where << " token " << v;
    } else {
      EXPECT_NEAR(got[v], want[v], 1e-5 * std::max(1.0, std::abs(want[v])))
          << where << " token " << v;
    }
  }
}

// Runs `steps` generation steps with random tokens (half of them repeats)
// and checks every step's processed row against the reference.
void CheckAgainstReference(const SamplingParams& p, int vocab, uint32_t seed, int steps = 40) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 30; ++i) prompt.push_back(id(gen));
  const std::vector<int32_t> eos = {2, 7};
  LogitsProcessor proc(p, prompt, vocab, eos);
  std::vector<int32_t> completion;
  for (int step = 0; step < steps; ++step) {
    std::vector<float> row = RandomLogits(vocab, gen);
    const std::vector<double> want = Reference(row, p, prompt, completion, eos);
    proc.Apply(absl::MakeSpan(row));
    ExpectMatches(row, want, "step " + std::to_string(step));
    if (::testing::Test::HasFailure()) return;
    // Next token: often a repeat of a recent one, so counts grow above 1.
    const int32_t next = (step % 2 == 1 && !completion.empty())
                             ? completion[static_cast<std::size_t>(id(gen)) % completion.size()]
                             : id(gen);
    completion.push_back(next);
    proc.AppendToken(next);
  }
}

TEST(LogitsProcessorTest, DefaultParamsLeaveTheRowUnchanged) {
  SamplingParams p;
  LogitsProcessor proc(p, std::vector<int32_t>{1, 2, 3}, 100, std::vector<int32_t>{2});
  EXPECT_FALSE(proc.active());
  std::mt19937 gen(1);
  std::vector<float> row = RandomLogits(100, gen);
  const std::vector<float> before = row;
  proc.Apply(absl::MakeSpan(row));
  EXPECT_EQ(row, before);
}

TEST(LogitsProcessorTest, RepetitionPenaltyMatchesCtrlDefinition) {
  for (float r : {1.3f, 0.7f, 2.0f}) {
    SamplingParams p;
    p.repetition_penalty = r;
    CheckAgainstReference(p, 500, 11);
  }
}

TEST(LogitsProcessorTest, PresenceAndFrequencyMatchOpenAIDefinition) {
  for (auto [pres, freq] : {std::pair{0.5f, 0.0f}, {0.0f, 0.8f}, {1.5f, -0.4f}, {-2.0f, 2.0f}}) {
    SamplingParams p;
    p.presence_penalty = pres;
    p.frequency_penalty = freq;
    CheckAgainstReference(p, 500, 12);
  }
}

TEST(LogitsProcessorTest, AllProcessorsTogetherMatchTheReference) {
  SamplingParams p;
  p.repetition_penalty = 1.2f;
  p.presence_penalty = 0.3f;
  p.frequency_penalty = 0.6f;
  p.logit_bias = {{5, 3.5f}, {9, -100.0f}, {2, 1.0f}, {499, 100.0f}};
  p.banned_token_ids = {11, 12, 13};
  p.stop_token_ids = {20, 21};
  p.min_tokens = 10;
  CheckAgainstReference(p, 500, 13);
  p.ignore_eos = true;
  CheckAgainstReference(p, 500, 14);
}

TEST(LogitsProcessorTest, RepetitionCoversPromptPresenceCoversCompletionOnly) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 1.0f;
  LogitsProcessor proc(p, std::vector<int32_t>{3}, 8, {});
  std::vector<float> row(8, 4.0f);
  proc.Apply(absl::MakeSpan(row));
  EXPECT_FLOAT_EQ(row[3], 2.0f);  // prompt token: repetition only
  EXPECT_FLOAT_EQ(row[4], 4.0f);
  proc.AppendToken(4);
  row.assign(8, -4.0f);
  proc.Apply(absl::MakeSpan(row));
  EXPECT_FLOAT_EQ(row[3], -8.0f);         // negative logit multiplied
  EXPECT_FLOAT_EQ(row[4], -8.0f - 1.0f);  // completion token: both
  EXPECT_FLOAT_EQ(row[5], -4.0f);
}

TEST(LogitsProcessorTest, LogitBiasForcesAndBansTokens) {
  std::mt19937 gen(5);
  std::vector<float> raw = RandomLogits(64, gen, 2.0f);
  const int32_t top = ArgMax(raw);
  const int32_t forced = (top + 17) % 64;
  SamplingParams p;
  p.logit_bias = {{forced, 100.0f}, {top, -100.0f}};
  p.seed = 3;
  LogitsProcessor proc(p, std::vector<int32_t>{1}, 64, {});
  std::vector<float> row = raw;
  proc.Apply(absl::MakeSpan(row));
  EXPECT_EQ(ArgMax(row), forced);
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  for (int i = 0; i < 200; ++i) EXPECT_EQ(SampleToken(row, p, rng, scratch), forced);

  // Banned: the argmax token is never drawn, even at a high temperature.
  SamplingParams ban;
  ban.banned_token_ids = {top};
  ban.temperature = 5.0f;
  ban.seed = 4;
  LogitsProcessor ban_proc(ban, std::vector<int32_t>{1}, 64, {});
  row = raw;
  ban_proc.Apply(absl::MakeSpan(row));
  EXPECT_NE(ArgMax(row), top);
  SamplingRng rng2(ban);
  std::set<int32_t> drawn;
  for (int i = 0; i < 5000; ++i) drawn.insert(SampleToken(row, ban, rng2, scratch));
  EXPECT_EQ(drawn.count(top), 0u);
  EXPECT_GT(drawn.size(), 10u);  // really sampling
}

TEST(LogitsProcessorTest, MinTokensSuppressesEosAndStopIdsUntilReached) {
  SamplingParams p;
  p.min_tokens = 3;
  p.stop_token_ids = {6};
  p.logit_bias = {{6, 1.0f}};
  const std::vector<int32_t> eos = {2};
  LogitsProcessor proc(p, std::vector<int32_t>{1}, 10, eos);
  for (int generated = 0; generated < 5; ++generated) {
    std::vector<float> row(10, 0.5f);
    row[2] = 50.0f;  // EOS would win
    proc.Apply(absl::MakeSpan(row));
    if (generated < 3) {
      EXPECT_EQ(row[2], -std::numeric_limits<float>::infinity()) << generated;
      EXPECT_EQ(row[6], -std::numeric_limits<float>::infinity()) << generated;
      EXPECT_NE(ArgMax(row), 2);
    } else {
      EXPECT_EQ(row[2], 50.0f) << generated;
      EXPECT_EQ(row[6], 1.5f) << generated;  // its logit_bias comes back
      EXPECT_EQ(ArgMax(row), 2);
    }
    proc.AppendToken(0);
  }
}

// ignore_eos lifts min_tokens' EOS suppression (EOS would not end the
// completion), except with a structured output, whose EOS always ends it.
TEST(LogitsProcessorTest, MinTokensSuppressesEosWithIgnoreEosOnlyForStructuredOutput) {
  SamplingParams p;
  p.min_tokens = 2;
  p.ignore_eos = true;
  const std::vector<int32_t> eos = {2};
  std::vector<float> row(10, 0.5f);
  LogitsProcessor plain(p, std::vector<int32_t>{1}, 10, eos);
  plain.Apply(absl::MakeSpan(row));
  EXPECT_EQ(row[2], 0.5f);
  p.structured_output = StructuredOutputParams{};
  LogitsProcessor constrained(p, std::vector<int32_t>{1}, 10, eos);
  constrained.Apply(absl::MakeSpan(row));
  EXPECT_EQ(row[2], -std::numeric_limits<float>::infinity());
}

TEST(LogitsProcessorTest, CopiesContinueIndependently) {
  // `n` completions fork one processor state; each copy evolves on its own.
  SamplingParams p;
  p.frequency_penalty = 1.0f;
  LogitsProcessor a(p, std::vector<int32_t>{1}, 4, {});
  LogitsProcessor b = a;
  a.AppendToken(3);
  std::vector<float> ra(4, 0.0f), rb(4, 0.0f);
  a.Apply(absl::MakeSpan(ra));
  b.Apply(absl::MakeSpan(rb));
  EXPECT_FLOAT_EQ(ra[3], -1.0f);
  EXPECT_FLOAT_EQ(rb[3], 0.0f);
}

}  // namespace
}  // namespace llmserve
