// Sampling: greedy is argmax; seeds make draws reproducible and independent of
// other requests; temperature/top-k/top-p restrict the distribution as
// specified (checked against exact probabilities with a fixed seed).
#include "engine/sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

namespace llmserve {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f}; }

TEST(SamplerTest, GreedyIsArgmaxWithLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0.0f;
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  EXPECT_EQ(SampleToken(Logits(), p, rng, scratch), 1);
  EXPECT_EQ(ArgMax(std::vector<float>{-5.0f, -2.0f, -3.0f}), 1);
}

/// The sequential definition ArgMax vectorizes: best moves to i whenever
/// values[i] > values[best].
int32_t SequentialArgMax(const std::vector<float>& v) {
  int32_t best = 0;
  for (int32_t i = 1; i < static_cast<int32_t>(v.size()); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

TEST(SamplerTest, ArgMaxEqualsTheSequentialDefinitionOnTiesNaNsZerosAndInfinities) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Values from a small set, so ties, signed zeros, NaN and infinities meet
  // at every position relative to the 32-value blocks.
  const float pool[] = {-2.0f, -1.0f, -0.0f, 0.0f, 1.0f, 3.0f, nan, -inf, inf};
  std::mt19937 rng(7);
  int checked = 0;
  for (int n : {1, 2, 31, 32, 33, 63, 64, 65, 100, 50257}) {
    for (int trial = 0; trial < 200; ++trial) {
      // Each trial draws from a random subset of the pool (often no inf or NaN).
      std::vector<float> allowed;
      for (float x : pool) {
        if (rng() % 2 == 0) allowed.push_back(x);
      }
      if (allowed.empty()) allowed.push_back(-1.0f);
      std::vector<float> v(n);
      for (float& x : v) x = allowed[rng() % allowed.size()];
      ASSERT_EQ(ArgMax(v), SequentialArgMax(v)) << "n " << n << " trial " << trial;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 10 * 200);
  // Fixed cases: the maximum in the tail after the last full block, NaN first,
  // a NaN before the maximum, -0 before +0, all -inf.
  std::vector<float> tail(70, -1.0f);
  tail[69] = 2.0f;
  EXPECT_EQ(ArgMax(tail), 69);
  EXPECT_EQ(ArgMax(std::vector<float>{nan, 5.0f, 6.0f}), 0);
  EXPECT_EQ(ArgMax(std::vector<float>{1.0f, nan, 6.0f, 6.0f}), 2);
  EXPECT_EQ(ArgMax(std::vector<float>{-1.0f, -0.0f, 0.0f}), 1);
  EXPECT_EQ(ArgMax(std::vector<float>(40, -inf)), 0);
}

TEST(SamplerTest, TinyTemperatureIsNearGreedyNotNaN) {
  // 1/T would overflow to inf and turn the softmax into NaN.
  std::vector<std::pair<float, int32_t>> scratch;
  for (float t : {1e-40f, 1e-30f, 1e-8f}) {
    SamplingParams p;
    p.temperature = t;
    p.seed = 1;
    SamplingRng rng(p);
    std::vector<float> logits = {0.0f, 20.0f, -3.0f, 19.0f};
    for (int i = 0; i < 20; ++i) EXPECT_EQ(SampleToken(logits, p, rng, scratch), 1) << t;
  }
}

TEST(SamplerTest, TopKOneAndTinyTopPAreGreedy) {
  std::vector<std::pair<float, int32_t>> scratch;
  SamplingParams k1;
  k1.top_k = 1;
  k1.seed = 3;
  SamplingParams p_small;
  p_small.top_p = 1e-6f;
  p_small.seed = 3;
  SamplingRng r1(k1), r2(p_small);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(SampleToken(Logits(), k1, r1, scratch), 1);
    EXPECT_EQ(SampleToken(Logits(), p_small, r2, scratch), 1);
  }
}

TEST(SamplerTest, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::vector<std::pair<float, int32_t>> scratch;
  SamplingParams a;
  a.seed = 1234;
  a.temperature = 1.5f;
  SamplingParams b = a;
  b.seed = 999;
  SamplingRng r1(a), r2(a), r3(b);
  std::vector<int32_t> s1, s2, s3;
  for (int i = 0; i < 64; ++i) {
    s1.push_back(SampleToken(Logits(), a, r1, scratch));
    s2.push_back(SampleToken(Logits(), a, r2, scratch));
    s3.push_back(SampleToken(Logits(), b, r3, scratch));
  }
  EXPECT_EQ(s1, s2);
  EXPECT_NE(s1, s3);
}

// Empirical frequencies over many draws approach the exact probabilities.
std::map<int32_t, double> Frequencies(const SamplingParams& p, int draws) {
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  std::map<int32_t, double> f;
  for (int i = 0; i < draws; ++i) f[SampleToken(Logits(), p, rng, scratch)] += 1.0 / draws;
  return f;
}

std::vector<double> Softmax(const std::vector<float>& l, float t) {
  std::vector<double> p(l.size());
  double z = 0;
  for (std::size_t i = 0; i < l.size(); ++i) z += p[i] = std::exp(l[i] / t);
  for (double& x : p) x /= z;
  return p;
}

TEST(SamplerTest, TemperatureSamplingFollowsSoftmax) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.seed = 7;
  const auto want = Softmax(Logits(), 0.7f);
  auto got = Frequencies(p, 200000);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.005) << i;
}

// Plain temperature sampling (its own vectorized path) on a vocabulary that
// is not a multiple of 4, with banned (-inf) tokens, logits far below the
// maximum and a tail: the frequencies follow the float64 softmax, a banned
// or negligible token is never drawn, and the last token is reachable.
TEST(SamplerTest, PlainTemperatureSamplingOnAWideVocabularyFollowsTheFloat64Softmax) {
  std::vector<float> logits(1003, -200.0f);  // exp(-200 / 0.9) underflows: never drawn
  const float inf = std::numeric_limits<float>::infinity();
  const std::map<int32_t, float> live = {{0, 1.0f}, {5, 2.5f}, {6, 2.5f}, {401, 0.0f},
                                         {998, -1.0f}, {1001, 3.0f}, {1002, 1.5f}};
  for (const auto& [id, l] : live) logits[id] = l;
  logits[3] = -inf;
  logits[1000] = -inf;
  SamplingParams p;
  p.temperature = 0.9f;
  p.seed = 11;
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  std::map<int32_t, double> got;
  constexpr int kDraws = 200000;
  for (int i = 0; i < kDraws; ++i) got[SampleToken(logits, p, rng, scratch)] += 1.0 / kDraws;
  double z = 0;
  for (const auto& [id, l] : live) z += std::exp((static_cast<double>(l) - 3.0) / 0.9);
  for (const auto& [id, f] : got) EXPECT_TRUE(live.count(id)) << "drew token " << id;
  for (const auto& [id, l] : live) {
    EXPECT_NEAR(got[id], std::exp((static_cast<double>(l) - 3.0) / 0.9) / z, 0.005) << id;
  }
}

TEST(SamplerTest, TopKKeepsOnlyTheKMostLikely) {
  SamplingParams p;
  p.top_k = 3;  // ids 1, 3 (logit 3) and 2 (logit 2)
  p.seed = 11;
  auto got = Frequencies(p, 100000);
  const double z = 2 * std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(got[1], std::exp(3.0) / z, 0.006);
  EXPECT_NEAR(got[3], std::exp(3.0) / z, 0.006);
  EXPECT_NEAR(got[2], std::exp(2.0) / z, 0.006);
  EXPECT_EQ(got.count(0) + got.count(4) + got.count(5), 0u);
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  const auto probs = Softmax(Logits(), 1.0f);
  // Sorted: ids 1 and 3 (p≈0.37 each, 0.74 together), then 2 (≈0.136) → 0.88.
  SamplingParams p;
  p.top_p = 0.8f;
  p.seed = 5;
  auto got = Frequencies(p, 100000);
  const double kept = probs[1] + probs[3] + probs[2];
  EXPECT_NEAR(got[1], probs[1] / kept, 0.006);
  EXPECT_NEAR(got[2], probs[2] / kept, 0.006);
  EXPECT_EQ(got.count(0) + got.count(4) + got.count(5), 0u);
}

TEST(SamplingParamsTest, ValidationNamesTheField) {
  SamplingParams p;
  p.max_tokens = 0;
  EXPECT_NE(p.Validate().message().find("max_tokens"), absl::string_view::npos);
  p = {};
  p.temperature = -0.1f;
  EXPECT_NE(p.Validate().message().find("temperature"), absl::string_view::npos);
  p = {};
  p.top_p = 0.0f;
  EXPECT_NE(p.Validate().message().find("top_p"), absl::string_view::npos);
  p = {};
  p.top_p = 1.5f;
  EXPECT_NE(p.Validate().message().find("top_p"), absl::string_view::npos);
  p = {};
  p.top_k = -1;
  EXPECT_NE(p.Validate().message().find("top_k"), absl::string_view::npos);
  p = {};
  p.stop = std::vector<std::string>(SamplingParams::kMaxStopStrings + 1, "x");
  EXPECT_NE(p.Validate().message().find("stop strings"), absl::string_view::npos);
  p = {};
  p.stop = {std::string(SamplingParams::kMaxStopBytes + 1, 'x')};
  EXPECT_NE(p.Validate().message().find("stop[0]"), absl::string_view::npos);
  p = {};
  EXPECT_TRUE(p.Validate().ok());
}

}  // namespace
}  // namespace llmserve
