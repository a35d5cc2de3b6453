// Logprobs: the log-softmax of a raw logits row against a float64 reference
// (naive formula in long double), top-k order and ranks; stable for logits
// whose exp overflows float.
#include "engine/sampling/logprobs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace llmserve {
namespace {

std::vector<long double> ReferenceLogSoftmax(const std::vector<float>& l) {
  long double m = -std::numeric_limits<long double>::infinity();
  for (float x : l) m = std::max<long double>(m, x);
  long double z = 0;
  for (float x : l) z += std::exp(static_cast<long double>(x) - m);
  std::vector<long double> out;
  for (float x : l) out.push_back(static_cast<long double>(x) - m - std::log(z));
  return out;
}

void CheckRow(const std::vector<float>& logits, int k) {
  const auto want = ReferenceLogSoftmax(logits);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return want[a] > want[b]; });
  std::vector<int32_t> scratch;
  const int32_t fourth = order[std::min<std::size_t>(3, order.size() - 1)];
  for (int32_t chosen : {order[0], fourth, order[order.size() / 2], order.back()}) {
    const PositionLogprobs got = ComputeLogprobs(logits, chosen, k, scratch);
    EXPECT_EQ(got.chosen.token_id, chosen);
    EXPECT_NEAR(got.chosen.logprob, static_cast<double>(want[chosen]), 1e-4);
    const auto pos = std::find(order.begin(), order.end(), chosen) - order.begin();
    EXPECT_EQ(got.rank, pos + 1);
    ASSERT_EQ(got.top.size(), static_cast<std::size_t>(std::min<int>(k, logits.size())));
    for (std::size_t i = 0; i < got.top.size(); ++i) {
      EXPECT_EQ(got.top[i].token_id, order[i]) << i;
      EXPECT_NEAR(got.top[i].logprob, static_cast<double>(want[order[i]]), 1e-4) << i;
    }
  }
}

TEST(LogprobsTest, MatchesFloat64LogSoftmaxOnRandomRows) {
  std::mt19937 gen(42);
  for (int vocab : {2, 512, 50257}) {
    for (float scale : {1.0f, 10.0f}) {
      std::normal_distribution<float> d(0.0f, scale);
      std::vector<float> logits(static_cast<std::size_t>(vocab));
      for (float& x : logits) x = d(gen);
      CheckRow(logits, 5);
      CheckRow(logits, 20);
    }
  }
}

TEST(LogprobsTest, StableWhenExpOverflowsFloat) {
  // exp(1000) overflows float and double: a naive softmax gives inf/NaN.
  std::vector<float> logits = {1000.0f, 999.0f, 990.0f, -1000.0f};
  std::vector<int32_t> scratch;
  const PositionLogprobs got = ComputeLogprobs(logits, 1, 4, scratch);
  const double lse = 1000.0 + std::log(1.0 + std::exp(-1.0) + std::exp(-10.0));
  EXPECT_NEAR(got.chosen.logprob, 999.0 - lse, 1e-5);
  EXPECT_NEAR(got.top[0].logprob, 1000.0 - lse, 1e-5);
  for (const auto& t : got.top) EXPECT_FALSE(std::isnan(t.logprob));
  EXPECT_EQ(got.top[3].token_id, 3);
}

TEST(LogprobsTest, TiesRankLowerIdFirstAndKIsClamped) {
  std::vector<float> logits = {1.0f, 3.0f, 3.0f, -std::numeric_limits<float>::infinity()};
  std::vector<int32_t> scratch;
  PositionLogprobs got = ComputeLogprobs(logits, 2, 10, scratch);
  EXPECT_EQ(got.rank, 2);
  ASSERT_EQ(got.top.size(), 4u);
  EXPECT_EQ(got.top[0].token_id, 1);
  EXPECT_EQ(got.top[1].token_id, 2);
  EXPECT_EQ(got.top[3].logprob, -std::numeric_limits<float>::infinity());
  got = ComputeLogprobs(logits, 1, 0, scratch);
  EXPECT_TRUE(got.top.empty());
  EXPECT_EQ(got.rank, 1);
  EXPECT_NEAR(got.chosen.logprob, 3.0 - std::log(std::exp(1.0) + 2 * std::exp(3.0)), 1e-6);
}

}  // namespace
}  // namespace llmserve
