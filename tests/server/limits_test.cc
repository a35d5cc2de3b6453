// Limits and faults over real gRPC: the bounded queue (RESOURCE_EXHAUSTED at
// once, nothing lost or hung; FakeEngine and stories260K), the prompt length
// and message size limits, and an engine failure that fails its own request
// only.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/metrics.h"
#include "server/server_app.h"
#include "tests/server/fake_server.h"
#include "tests/server/metrics_scrape.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::FakeEngine;
using ::llmserve::testing::Scrape;
using ::llmserve::testing::StreamResult;
using ::testing::HasSubstr;
using LimitsTest = FakeServerTest;

TEST_F(LimitsTest, QueueFullIsResourceExhaustedAtOnce) {
  engine_->set_max_live_requests(3);
  engine_->set_hold_after_tokens(1);
  std::vector<StreamResult> held(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { held[i] = Stream(TextRequest(absl::StrCat("held", i), 5)); });
  }
  ASSERT_TRUE(engine_->WaitForLive(3));
  // Beyond the limit: refused at once, unary and streaming.
  for (int i = 0; i < 4; ++i) {
    v1::GenerateResponse response;
    const grpc::Status status =
        i % 2 == 0 ? Generate(TextRequest("more", 5), &response)
                   : Stream(TextRequest("more", 5)).status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), HasSubstr("queued requests"));
  }
  engine_->set_hold_after_tokens(-1);
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(held[i].status.ok()) << held[i].status.error_message();
    EXPECT_EQ(held[i].text, FakeEngine::ExpectedText(TextIds(absl::StrCat("held", i)), 5));
  }
  const Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "RESOURCE_EXHAUSTED"}}), 4);
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}), 3);
}

TEST_F(LimitsTest, PromptLongerThanMaxPromptTokensIsInvalid) {
  RestartServer([](ServerOptions& o) { o.service.max_prompt_tokens = 4; });
  v1::GenerateResponse response;
  grpc::Status status = Generate(TextRequest("abcd", 2), &response);  // BOS + 4 = 5 tokens
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("prompt: 5 tokens exceeds the maximum prompt length of 4 tokens"));
  v1::GenerateRequest ids;
  for (int i = 0; i < 5; ++i) ids.mutable_token_ids()->add_ids(7);
  EXPECT_EQ(Stream(ids).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(engine_->added_requests(), 0);
  EXPECT_TRUE(Generate(TextRequest("abc", 2), &response).ok());  // exactly 4
}

TEST_F(LimitsTest, OversizedMessageIsRefused) {
  RestartServer([](ServerOptions& o) { o.max_receive_message_bytes = 1024; });
  v1::GenerateResponse response;
  grpc::Status status = Generate(TextRequest(std::string(4000, 'x'), 2), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("message larger than max"));
  EXPECT_EQ(engine_->added_requests(), 0);
  // The server keeps serving normal-sized requests.
  EXPECT_TRUE(Generate(TextRequest("ok", 2), &response).ok());
}

TEST_F(LimitsTest, EngineFailureFailsOnlyItsRequest) {
  engine_->set_failing_request_id("doomed");
  constexpr int kCalls = 7;
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<std::string> texts(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      v1::GenerateRequest request = TextRequest(absl::StrCat("r", i), 12);
      if (i == 3) request.set_request_id("doomed");
      statuses[i] = GenerateText(request, /*stream=*/i % 2 == 1, &texts[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE(i);
    if (i == 3) {
      EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::INTERNAL);
      EXPECT_THAT(statuses[i].error_message(), HasSubstr("fake engine failure"));
    } else {
      ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
      EXPECT_EQ(texts[i], FakeEngine::ExpectedText(TextIds(absl::StrCat("r", i)), 12));
    }
  }
  EXPECT_EQ(engine_->live_requests(), 0);
  // ... and the server goes on serving.
  v1::GenerateResponse response;
  EXPECT_TRUE(Generate(TextRequest("after", 3), &response).ok());
  const Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "INTERNAL"}}), 1);
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}),
            kCalls);
}

// The real engine's queue limit under a burst: every call ends, OK (complete)
// or RESOURCE_EXHAUSTED, and the engine ends idle with its KV cache free.
TEST(RealEngineLimitsTest, BurstBeyondTheQueueLimit) {
  EngineOptions options;
  options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
  options.num_threads = 2;
  options.max_num_seqs = 2;
  options.max_num_batched_tokens = 64;
  options.max_queued_requests = 2;
  auto metrics = std::make_shared<Metrics>();
  auto engine = LLMEngine::Create(options, metrics.get());
  ASSERT_TRUE(engine.ok()) << engine.status();
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.service.logger = nullptr;
  auto app = ServerApp::Start(*std::move(engine), server_options, metrics);
  ASSERT_TRUE(app.ok()) << app.status();
  auto channel = grpc::CreateChannel((*app)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Generation::NewStub(channel);

  constexpr int kCalls = 24;
  constexpr int kTokens = 120;
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<int> completion(kCalls, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      v1::GenerateRequest request;
      request.set_text(absl::StrCat("Once upon a time ", i));
      request.mutable_sampling_params()->set_max_tokens(kTokens);
      request.mutable_sampling_params()->set_ignore_eos(true);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
      if (i % 2 == 0) {
        v1::GenerateResponse response;
        statuses[i] = stub->Generate(&context, request, &response);
        if (statuses[i].ok()) completion[i] = static_cast<int>(response.token_ids_size());
      } else {
        StreamResult stream = llmserve::testing::CallStream(*stub, request, &context);
        statuses[i] = stream.status;
        if (stream.status.ok()) completion[i] = static_cast<int>(stream.token_ids.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, exhausted = 0;
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE(i);
    if (statuses[i].ok()) {
      ++ok;
      EXPECT_EQ(completion[i], kTokens);
    } else {
      ++exhausted;
      EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << statuses[i].error_message();
    }
  }
  EXPECT_GE(ok, 1);
  const EngineStats stats = (*app)->engine().GetStats();
  EXPECT_EQ(stats.num_running, 0);
  EXPECT_EQ(stats.num_waiting, 0);
  EXPECT_EQ(stats.num_kv_blocks_used, 0);
  // Every outcome counted exactly once (handlers record before returning).
  for (int i = 0; i < 2000; ++i) {
    const Scrape scrape((*app)->metrics().SerializeText());
    if (scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}) +
            scrape.Value("llmserve_request_failure_total", {{"code", "RESOURCE_EXHAUSTED"}}) >=
        kCalls) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  const Scrape scrape((*app)->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}), ok);
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "RESOURCE_EXHAUSTED"}}),
            exhausted);
  EXPECT_EQ(scrape.Value("llmserve_generation_tokens_total"), ok * kTokens);
}

}  // namespace
}  // namespace llmserve::server
