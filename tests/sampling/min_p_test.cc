// Min-p sampling against a float64 reference of its definition (vLLM /
// Hugging Face MinPLogitsWarper): after temperature, drop every token whose
// probability is below min_p × the largest probability, renormalize.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "engine/sampling/sampler.h"

namespace llmserve {
namespace {

std::vector<double> ReferenceMinP(const std::vector<float>& logits, double t, double min_p,
                                  int top_k = 0) {
  std::vector<double> p(logits.size());
  double m = -1e300, z = 0;
  for (float l : logits) m = std::max(m, l / t);
  for (std::size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp(logits[i] / t - m);
  double pmax = 0;
  for (double& x : p) pmax = std::max(pmax, x /= z);
  for (double& x : p) {
    if (x < min_p * pmax) x = 0;
  }
  if (top_k > 0) {  // then keep the top_k largest survivors
    std::vector<double> sorted = p;
    std::sort(sorted.rbegin(), sorted.rend());
    const double kth = sorted[static_cast<std::size_t>(top_k) - 1];
    for (double& x : p) {
      if (x < kth) x = 0;
    }
  }
  double kept = 0;
  for (double x : p) kept += x;
  for (double& x : p) x /= kept;
  return p;
}

std::map<int32_t, double> Frequencies(const std::vector<float>& logits, const SamplingParams& p,
                                      int draws) {
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  std::map<int32_t, double> f;
  for (int i = 0; i < draws; ++i) f[SampleToken(logits, p, rng, scratch)] += 1.0 / draws;
  return f;
}

void ExpectFollows(const std::vector<float>& logits, const SamplingParams& p,
                   const std::vector<double>& want) {
  auto got = Frequencies(logits, p, 100000);
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] == 0.0) {
      EXPECT_EQ(got.count(static_cast<int32_t>(i)), 0u) << "token " << i << " should be dropped";
    } else {
      EXPECT_NEAR(got[static_cast<int32_t>(i)], want[i], 0.007) << "token " << i;
    }
  }
}

TEST(MinPTest, FollowsReferenceOnRandomLogits) {
  std::mt19937 gen(9);
  std::normal_distribution<float> d(0.0f, 1.5f);
  for (float min_p : {0.05f, 0.2f, 0.5f}) {
    for (float t : {0.7f, 1.0f, 1.6f}) {
      std::vector<float> logits(24);
      for (float& x : logits) x = d(gen);
      SamplingParams p;
      p.min_p = min_p;
      p.temperature = t;
      p.seed = 77;
      ExpectFollows(logits, p, ReferenceMinP(logits, t, min_p));
    }
  }
}

TEST(MinPTest, CombinesWithTopK) {
  std::vector<float> logits = {2.0f, 1.9f, 1.8f, 0.5f, -0.5f, 1.7f, -3.0f};
  SamplingParams p;
  p.min_p = 0.25f;  // drops 4 (p/pmax = e^-2.5 ≈ 0.08) and 6; 3 has e^-1.5 ≈ 0.22 → dropped too
  p.top_k = 3;
  p.seed = 8;
  ExpectFollows(logits, p, ReferenceMinP(logits, 1.0, 0.25, 3));
}

TEST(MinPTest, OneKeepsOnlyTheMaximaAndGreedyIgnoresIt) {
  std::vector<float> logits = {0.0f, 3.0f, 1.0f, 3.0f};
  SamplingParams p;
  p.min_p = 1.0f;
  p.seed = 1;
  auto got = Frequencies(logits, p, 20000);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_NEAR(got[1], 0.5, 0.02);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.min_p = 0.9f;
  SamplingRng rng(greedy);
  std::vector<std::pair<float, int32_t>> scratch;
  EXPECT_EQ(SampleToken(logits, greedy, rng, scratch), 1);
}

// Top-p orders only as many candidates as the nucleus needs (growing the
// partial sort); a wide nucleus must still be exactly the smallest prefix.
TEST(TopPTest, WideNucleusIsTheSmallestPrefixReachingP) {
  std::vector<float> logits(5000, -50.0f);
  for (int i = 0; i < 1000; ++i) logits[i] = 0.0f;  // 1000 equally likely tokens
  SamplingParams p;
  p.top_p = 0.5f;  // the 500 lowest ids of them (ties: lower id first)
  p.seed = 4;
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  std::vector<int> counts(5000, 0);
  for (int i = 0; i < 20000; ++i) ++counts[SampleToken(logits, p, rng, scratch)];
  int distinct = 0;
  for (int id = 0; id < 5000; ++id) {
    if (id >= 500) {
      ASSERT_EQ(counts[id], 0) << "token " << id << " is outside the nucleus";
    } else {
      distinct += counts[id] > 0;
      EXPECT_NEAR(counts[id], 40, 30) << id;  // uniform over the 500: 40 each
    }
  }
  EXPECT_EQ(distinct, 500);
}

TEST(MinPTest, ZeroIsTheSameDrawsAsBefore) {
  // min_p = 0 must not change the RNG stream or candidate order.
  std::vector<float> logits = {0.1f, 0.3f, -0.2f, 0.25f, 0.0f};
  SamplingParams a;
  a.seed = 5;
  SamplingParams b = a;
  b.min_p = 1e-30f;  // keeps everything, through the min-p code path
  SamplingRng ra(a), rb(b);
  std::vector<std::pair<float, int32_t>> scratch;
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(SampleToken(logits, a, ra, scratch), SampleToken(logits, b, rb, scratch));
  }
}

}  // namespace
}  // namespace llmserve
