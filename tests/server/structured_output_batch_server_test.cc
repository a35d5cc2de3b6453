// Structured output (issue #23) inside the engine's batching, through the
// gRPC server on stories260K:
//  - the masked distribution equals the unmasked one renormalized over the
//    allowed tokens (logprobs with the constraint against prompt logprobs of
//    the same positions without it);
//  - constrained and unconstrained requests in the same steps: the
//    unconstrained outputs equal the independent golden greedy decodes;
//  - n > 1: every completion has its own matcher and matches;
//  - preemption: with a KV cache far too small, constrained sampled requests
//    are preempted and recomputed and still produce exactly their solo outputs
//    (the matcher state follows the generated tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "llmserve/v1/generation.grpc.pb.h"
#include "tests/server/stories_server.h"
#include "tests/server/stub_calls.h"
#include "tests/server/structured_output_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CallResult;
using ::llmserve::testing::ChoiceConstraint;
using ::llmserve::testing::ConstrainedRequest;
using ::llmserve::testing::GenerateAll;
using ::llmserve::testing::RegexConstraint;

using StructuredOutputBatchTest = StoriesServerTest;

std::vector<uint32_t> Ids(const google::protobuf::RepeatedField<uint32_t>& ids) {
  return {ids.begin(), ids.end()};
}

TEST_F(StructuredOutputBatchTest, MaskedDistributionIsTheUnmaskedOneRenormalizedOverAllowedTokens) {
  StartServer([](EngineOptions& o) { o.max_logprobs = 64; });
  const std::vector<uint32_t> prompt = {1, 403};  // BOS "Once" (stories260K-greedy.json)
  for (const v1::StructuredOutput& so :
       {ChoiceConstraint({"upon a time", "there was", "a girl"}), RegexConstraint("[0-9]{2,4}"),
        RegexConstraint(" (big|small) (dog|cat)")}) {
    // Greedy with the constraint and logprobs of 64 alternatives: the top list
    // then holds every allowed token (their probabilities sum to 1).
    v1::GenerateRequest constrained;
    for (uint32_t id : prompt) constrained.mutable_token_ids()->add_ids(id);
    constrained.mutable_sampling_params()->set_temperature(0);
    constrained.mutable_sampling_params()->set_max_tokens(3);
    constrained.mutable_sampling_params()->set_logprobs(64);
    *constrained.mutable_sampling_params()->mutable_structured_output() = so;
    const std::vector<CallResult> c = GenerateAll(*stub_, {constrained}, 1);
    ASSERT_TRUE(c[0].status.ok()) << c[0].status.error_message();
    const v1::GenerateResponse& out = c[0].response;
    ASSERT_EQ(out.logprobs_size(), out.token_ids_size());
    for (int pos = 0; pos < out.logprobs_size(); ++pos) {
      // The allowed tokens at this position: those with a finite logprob.
      std::vector<std::pair<uint32_t, double>> allowed;
      double mass = 0;
      for (const v1::TokenLogprob& t : out.logprobs(pos).top()) {
        if (!std::isfinite(t.logprob())) continue;
        allowed.emplace_back(t.token_id(), t.logprob());
        mass += std::exp(static_cast<double>(t.logprob()));
      }
      ASSERT_FALSE(allowed.empty());
      ASSERT_NEAR(mass, 1.0, 1e-4) << so.ShortDebugString() << " position " << pos
                                   << ": the top list must hold every allowed token";
      // Unconstrained: the log-probability of each allowed token at the same
      // position, as the prompt logprob of that token appended to the context.
      std::vector<v1::GenerateRequest> probes;
      for (const auto& [id, lp] : allowed) {
        v1::GenerateRequest probe;
        for (uint32_t p : prompt) probe.mutable_token_ids()->add_ids(p);
        for (int j = 0; j < pos; ++j) probe.mutable_token_ids()->add_ids(out.token_ids(j));
        probe.mutable_token_ids()->add_ids(id);
        probe.mutable_sampling_params()->set_max_tokens(1);
        probe.mutable_sampling_params()->set_prompt_logprobs(0);
        probes.push_back(probe);
      }
      const std::vector<CallResult> u = GenerateAll(*stub_, probes, 4);
      std::vector<double> raw;
      for (const CallResult& r : u) {
        ASSERT_TRUE(r.status.ok()) << r.status.error_message();
        raw.push_back(r.response.prompt_logprobs(r.response.prompt_logprobs_size() - 1).token().logprob());
      }
      double max = raw[0];
      for (double v : raw) max = std::max(max, v);
      double sum = 0;
      for (double v : raw) sum += std::exp(v - max);
      const double log_z = max + std::log(sum);  // log of the allowed tokens' unmasked mass
      for (std::size_t i = 0; i < allowed.size(); ++i) {
        EXPECT_NEAR(allowed[i].second, raw[i] - log_z, 2e-3)
            << so.ShortDebugString() << " position " << pos << " token " << allowed[i].first;
      }
    }
  }
}

TEST_F(StructuredOutputBatchTest, UnconstrainedRequestsInMixedBatchesEqualTheGoldenDecodes) {
  StartServer();
  const nlohmann::json golden = llmserve::testing::ReadJsonFile(
      llmserve::testing::SharedPath("reference/stories260K-greedy.json"));
  ASSERT_FALSE(golden.is_null());
  std::vector<v1::GenerateRequest> requests;
  std::vector<std::vector<uint32_t>> expected;  // empty for constrained requests
  for (int round = 0; round < 3; ++round) {
    for (const auto& c : golden["cases"]) {
      v1::GenerateRequest r;
      for (uint32_t id : c["prompt_token_ids"].get<std::vector<uint32_t>>()) r.mutable_token_ids()->add_ids(id);
      const auto ids = c["greedy_completion_token_ids"].get<std::vector<uint32_t>>();
      const int n = std::min<int>(static_cast<int>(ids.size()), 48);
      r.mutable_sampling_params()->set_temperature(0);
      r.mutable_sampling_params()->set_max_tokens(n);
      requests.push_back(r);
      expected.emplace_back(ids.begin(), ids.begin() + n);
      // Beside each, constrained ones: any JSON object, a regex, a choice.
      v1::StructuredOutput json_object;
      json_object.set_json_object(true);
      requests.push_back(ConstrainedRequest("Once", json_object, 1.0f, requests.size(), 48));
      expected.emplace_back();
      requests.push_back(ConstrainedRequest("Once", RegexConstraint("[a-z ]{5,40}\\."), 1.0f, round, 48));
      expected.emplace_back();
      requests.push_back(ConstrainedRequest("Once", ChoiceConstraint({"upon", "more"}), 0.0f, 0, 48));
      expected.emplace_back();
    }
  }
  const std::vector<CallResult> results = GenerateAll(*stub_, requests, 16);
  int unconstrained = 0;
  for (std::size_t k = 0; k < results.size(); ++k) {
    ASSERT_TRUE(results[k].status.ok()) << k << ": " << results[k].status.error_message();
    if (expected[k].empty()) {
      // The constrained neighbours match their constraints when complete.
      const v1::GenerateResponse& r = results[k].response;
      const v1::StructuredOutput& so = requests[k].sampling_params().structured_output();
      if (r.finish_reason() == v1::FINISH_REASON_LENGTH) continue;
      if (so.has_json_object()) {
        const nlohmann::json value = nlohmann::json::parse(r.text(), nullptr, false);
        EXPECT_TRUE(value.is_object()) << k << ": '" << r.text() << "'";
      } else if (so.has_regex()) {
        EXPECT_TRUE(std::regex_match(r.text(), std::regex(so.regex()))) << k << ": '" << r.text() << "'";
      } else {
        EXPECT_TRUE(r.text() == "upon" || r.text() == "more") << k << ": '" << r.text() << "'";
      }
      continue;
    }
    ++unconstrained;
    EXPECT_EQ(Ids(results[k].response.token_ids()), expected[k]) << "request " << k;
  }
  EXPECT_EQ(unconstrained, 12);
  EXPECT_TRUE(WaitForIdle());
}

TEST_F(StructuredOutputBatchTest, EachOfNCompletionsHasItsOwnMatcher) {
  StartServer();
  const std::string pattern = "[a-z]{1,6}( [a-z]{1,6}){1,3}";
  v1::GenerateRequest r = ConstrainedRequest("Once upon a time", RegexConstraint(pattern), 1.0f, 7, 60);
  r.mutable_sampling_params()->set_n(4);
  const std::vector<CallResult> results = GenerateAll(*stub_, {r, r}, 2);
  for (const CallResult& result : results) {
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    ASSERT_EQ(result.response.completions_size(), 4);
    std::set<std::string> distinct;
    for (int i = 0; i < 4; ++i) {
      const v1::Completion& c = result.response.completions(i);
      EXPECT_EQ(c.index(), static_cast<uint32_t>(i));
      EXPECT_NE(c.finish_reason(), v1::FINISH_REASON_LENGTH);
      EXPECT_TRUE(std::regex_match(c.text(), std::regex(pattern))) << i << ": '" << c.text() << "'";
      distinct.insert(c.text());
    }
    EXPECT_GT(distinct.size(), 1u) << "completions draw from seed + i";
  }
  // Deterministic per seed: the two identical requests agree.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(results[0].response.completions(i).text(), results[1].response.completions(i).text());
  }
  EXPECT_TRUE(WaitForIdle());
}

TEST_F(StructuredOutputBatchTest, PreemptedConstrainedSequencesResumeWithTheirMatcherState) {
  // stories260K's K/V per token in f32: 5 layers x 4 KV heads x 8 x 2 x 4 bytes.
  constexpr int64_t kBytesPerToken = 5 * 4 * 8 * 2 * 4;
  StartServer([](EngineOptions& o) {
    o.kv_cache_bytes = 512 * kBytesPerToken;  // 32 blocks of 16
    o.block_size = 16;
  });
  const std::string pattern = "[a-z ]{150,200}\\.";
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < 6; ++i) {
    v1::GenerateRequest r;
    std::mt19937 rng(i);
    std::uniform_int_distribution<uint32_t> id(3, 511);
    r.mutable_token_ids()->add_ids(1);
    for (int k = 1; k < 120; ++k) r.mutable_token_ids()->add_ids(id(rng));
    r.mutable_sampling_params()->set_temperature(1.0f);
    r.mutable_sampling_params()->set_seed(100 + i);
    r.mutable_sampling_params()->set_max_tokens(200);
    *r.mutable_sampling_params()->mutable_structured_output() = RegexConstraint(pattern);
    requests.push_back(r);
  }
  std::vector<CallResult> solo;
  for (const v1::GenerateRequest& r : requests) solo.push_back(GenerateAll(*stub_, {r}, 1)[0]);
  const int64_t before = app_->engine().GetStats().num_preemptions;
  ASSERT_EQ(before, 0);
  const std::vector<CallResult> together = GenerateAll(*stub_, requests, 6);
  EXPECT_GT(app_->engine().GetStats().num_preemptions, before) << "the cache was meant to be too small";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(solo[i].status.ok()) << solo[i].status.error_message();
    ASSERT_TRUE(together[i].status.ok()) << together[i].status.error_message();
    EXPECT_EQ(Ids(together[i].response.token_ids()), Ids(solo[i].response.token_ids())) << i;
    EXPECT_NE(solo[i].response.finish_reason(), v1::FINISH_REASON_LENGTH) << i;
    EXPECT_TRUE(std::regex_match(together[i].response.text(), std::regex(pattern)))
        << i << ": '" << together[i].response.text() << "'";
  }
  EXPECT_TRUE(WaitForIdle());
}

TEST_F(StructuredOutputBatchTest, TheConstraintWinsOverTheOtherControlsAndStreams) {
  StartServer();
  const std::string digits = "[0-9]{3}-[0-9]{4}";
  const std::string word = "[a-z]{1,6}";
  v1::StructuredOutput json_object;
  json_object.set_json_object(true);
  std::vector<v1::GenerateRequest> requests;
  for (const v1::StructuredOutput& so :
       {RegexConstraint(digits), RegexConstraint(word), ChoiceConstraint({"yes", "no"}), json_object}) {
    for (uint64_t seed = 0; seed < 4; ++seed) {
      v1::GenerateRequest r = ConstrainedRequest("Once upon a time", so, seed == 0 ? 0.0f : 1.0f, seed, 100);
      v1::SamplingParams* p = r.mutable_sampling_params();
      p->set_ignore_eos(true);  // an EOS at a complete output still ends it
      p->set_min_tokens(50);    // longer than any regex / choice output: the structure's end wins
      p->set_repetition_penalty(1.5f);
      p->set_presence_penalty(1.0f);
      p->set_frequency_penalty(1.0f);
      (*p->mutable_logit_bias())[2] = 100.0f;  // EOS pushed up: allowed only where complete
      p->set_top_k(5);
      p->set_top_p(0.9f);
      requests.push_back(r);
    }
  }
  const std::vector<CallResult> results = GenerateAll(*stub_, requests, 8);
  for (std::size_t k = 0; k < results.size(); ++k) {
    ASSERT_TRUE(results[k].status.ok()) << k << ": " << results[k].status.error_message();
    const v1::GenerateResponse& r = results[k].response;
    const v1::StructuredOutput& so = requests[k].sampling_params().structured_output();
    if (so.has_json_object()) {
      if (r.finish_reason() == v1::FINISH_REASON_LENGTH) continue;
      EXPECT_TRUE(nlohmann::json::parse(r.text(), nullptr, false).is_object()) << k << ": '" << r.text() << "'";
      continue;
    }
    EXPECT_NE(r.finish_reason(), v1::FINISH_REASON_LENGTH) << k << ": '" << r.text() << "'";
    if (so.has_regex()) {
      EXPECT_TRUE(std::regex_match(r.text(), std::regex(so.regex()))) << k << ": '" << r.text() << "'";
    } else {
      EXPECT_TRUE(r.text() == "yes" || r.text() == "no") << k << ": '" << r.text() << "'";
    }
    // min_tokens keeps EOS away while the structure can still grow: the
    // word regex ends only at its longest (6 letters), with reason STOP.
    if (so.has_regex() && so.regex() == word) {
      EXPECT_EQ(r.text().size(), 6u) << k << ": '" << r.text() << "'";
      EXPECT_EQ(r.finish_reason(), v1::FINISH_REASON_STOP) << k;
    }
    // Streamed: the same tokens and text, the finish reason in the last message.
    const llmserve::testing::StreamResult stream = llmserve::testing::CallStream(*stub_, requests[k]);
    ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
    if (requests[k].sampling_params().temperature() == 0.0f || requests[k].sampling_params().has_seed()) {
      EXPECT_EQ(stream.token_ids, Ids(r.token_ids())) << k;
      EXPECT_EQ(stream.text, r.text()) << k;
      EXPECT_EQ(stream.messages.back().finish_reason(), r.finish_reason()) << k;
    }
  }
  EXPECT_TRUE(WaitForIdle());
}

}  // namespace
}  // namespace llmserve::server
