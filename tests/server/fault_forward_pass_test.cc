// Fault: the engine's forward pass fails for one step
// (LLMEngine::FailNextForwardPassForTesting, injected where the model would
// run). Every request in that step ends with INTERNAL carrying the error's
// message — a batch of prefills (queued while scheduling was paused, so they
// share the failing step) and streams already decoding — and nothing else
// is lost: the calls are recorded once each, the KV blocks are freed (none
// kept in the prefix cache, so the same prompts afterwards are computed
// afresh) and later requests get the reference greedy tokens.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "tests/server/metrics_scrape.h"
#include "tests/server/stories_server.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CallGenerate;
using ::llmserve::testing::CallStream;
using ::llmserve::testing::Scrape;
using ::llmserve::testing::StreamResult;
using ::testing::HasSubstr;

constexpr char kFault[] = "injected test fault: the forward pass failed";
constexpr int kTokens = 24;

/// A golden case of reference/stories260K-greedy.json as a request for
/// kTokens greedy tokens, and its expected ids.
struct Golden {
  v1::GenerateRequest request;
  std::vector<uint32_t> expected;
};

std::vector<Golden> LoadGolden() {
  const nlohmann::json json = llmserve::testing::ReadJsonFile(
      llmserve::testing::SharedPath("reference/stories260K-greedy.json"));
  std::vector<Golden> cases;
  for (const nlohmann::json& c : json.at("cases")) {
    Golden g;
    for (int id : c.at("prompt_token_ids")) g.request.mutable_token_ids()->add_ids(id);
    g.request.mutable_sampling_params()->set_max_tokens(kTokens);
    g.request.mutable_sampling_params()->set_temperature(0);
    g.request.mutable_sampling_params()->set_ignore_eos(true);
    const auto& ids = c.at("greedy_completion_token_ids");
    for (int i = 0; i < kTokens; ++i) g.expected.push_back(ids.at(i).get<uint32_t>());
    cases.push_back(std::move(g));
  }
  return cases;
}

using ForwardPassFaultTest = StoriesServerTest;

TEST_F(ForwardPassFaultTest, RequestsOfTheFailedStepGetInternalAndLaterOnesAreServed) {
  StartServer();
  const std::vector<Golden> golden = LoadGolden();
  ASSERT_EQ(golden.size(), 4u);

  // 1. A step of prefills fails: queue every case (unary and streamed) while
  // the scheduler is paused, so the first step after the fault holds them all.
  app_->engine().SetSchedulingPausedForTesting(true);
  std::vector<grpc::Status> unary(golden.size());
  std::vector<StreamResult> streamed(golden.size());
  std::vector<std::thread> calls;
  for (size_t i = 0; i < golden.size(); ++i) {
    calls.emplace_back([&, i] {
      v1::GenerateResponse response;
      unary[i] = CallGenerate(*stub_, golden[i].request, &response);
    });
    calls.emplace_back([&, i] { streamed[i] = CallStream(*stub_, golden[i].request); });
  }
  const int queued = static_cast<int>(2 * golden.size());
  for (int i = 0; i < 6000 && app_->engine().GetStats().num_waiting < queued; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(app_->engine().GetStats().num_waiting, queued);  // no ASSERT: join the calls first
  app_->engine().FailNextForwardPassForTesting(absl::DataLossError(kFault));
  app_->engine().SetSchedulingPausedForTesting(false);
  for (std::thread& t : calls) t.join();
  for (size_t i = 0; i < golden.size(); ++i) {
    EXPECT_EQ(unary[i].error_code(), grpc::StatusCode::INTERNAL) << i;
    EXPECT_THAT(unary[i].error_message(), HasSubstr(kFault));
    EXPECT_EQ(streamed[i].status.error_code(), grpc::StatusCode::INTERNAL) << i;
    EXPECT_THAT(streamed[i].status.error_message(), HasSubstr(kFault));
    EXPECT_TRUE(streamed[i].token_ids.empty());  // the failed step produced nothing
  }
  ASSERT_TRUE(WaitForIdle()) << "KV blocks leaked: "
                             << app_->engine().GetStats().num_kv_blocks_used;

  // 2. Later requests, the same prompts, are served: the reference tokens
  // (no K/V of the failed step was kept for the prefix cache).
  for (const Golden& g : golden) {
    v1::GenerateResponse response;
    const grpc::Status status = CallGenerate(*stub_, g.request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(std::vector<uint32_t>(response.token_ids().begin(), response.token_ids().end()),
              g.expected);
  }

  // 3. A decode step fails: two streams already streaming end with INTERNAL
  // after the tokens they had, a request after them is served.
  v1::GenerateRequest long_request = golden[1].request;
  long_request.mutable_sampling_params()->set_max_tokens(480);
  std::vector<StreamResult> decoding(2);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>>> readers;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub_->GenerateStream(contexts.back().get(), long_request));
    v1::GenerateStreamResponse message;
    ASSERT_TRUE(readers.back()->Read(&message));
  }
  app_->engine().FailNextForwardPassForTesting(absl::DataLossError(kFault));
  for (int i = 0; i < 2; ++i) {
    v1::GenerateStreamResponse message;
    int tokens = 0;
    while (readers[i]->Read(&message)) tokens += message.token_ids_size();
    const grpc::Status status = readers[i]->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(kFault));
    EXPECT_LT(tokens, 480);
  }
  ASSERT_TRUE(WaitForIdle()) << "KV blocks leaked: "
                             << app_->engine().GetStats().num_kv_blocks_used;
  {
    v1::GenerateResponse response;
    ASSERT_TRUE(CallGenerate(*stub_, golden[3].request, &response).ok());
    EXPECT_EQ(std::vector<uint32_t>(response.token_ids().begin(), response.token_ids().end()),
              golden[3].expected);
  }

  // Every call was recorded once, the failures as INTERNAL; nothing is held.
  const Scrape scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "INTERNAL"}}),
            2 * golden.size() + 2);
  // Prompt tokens count prefills that completed: not those of the failed step.
  double prompt_tokens = 0;
  for (const Golden& g : golden) prompt_tokens += g.request.token_ids().ids_size();
  prompt_tokens +=
      2 * golden[1].request.token_ids().ids_size() + golden[3].request.token_ids().ids_size();
  EXPECT_EQ(scrape.Value("llmserve_prompt_tokens_total"), prompt_tokens);
  EXPECT_EQ(CallsRecorded(scrape), 2 * golden.size() + 2 + golden.size() + 1);
  EXPECT_EQ(scrape.Value("llmserve_num_requests_running"), 0);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_usage_ratio"), 0);
  EXPECT_TRUE(app_->serving());
}

// A request of several completions (n = 3) whose first step fails: the
// completions waiting to share its prompt end with it, at once, instead of
// generating their 400 tokens each for a request that has already failed
// (they did before: the client waited for all of them to get its INTERNAL).
TEST_F(ForwardPassFaultTest, AFailedCompletionEndsItsWholeRequestAtOnce) {
  StartServer();
  const std::vector<Golden> golden = LoadGolden();
  v1::GenerateRequest request = golden[3].request;  // 25 prompt tokens: a full block to share
  request.mutable_sampling_params()->set_n(3);
  request.mutable_sampling_params()->set_max_tokens(400);
  const double tokens_before = ScrapeMetrics().Value("llmserve_generation_tokens_total");
  app_->engine().SetSchedulingPausedForTesting(true);
  grpc::Status status;
  std::thread call([&] {
    v1::GenerateResponse response;
    status = CallGenerate(*stub_, request, &response);
  });
  for (int i = 0; i < 6000 && app_->engine().GetStats().num_waiting < 1; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  app_->engine().FailNextForwardPassForTesting(absl::DataLossError(kFault));
  app_->engine().SetSchedulingPausedForTesting(false);
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(status.error_message(), HasSubstr(kFault));
  ASSERT_TRUE(WaitForIdle());
  const double generated =
      ScrapeMetrics().Value("llmserve_generation_tokens_total") - tokens_before;
  EXPECT_EQ(generated, 0) << "the other completions ran on after the request had failed";
}

}  // namespace
}  // namespace llmserve::server
