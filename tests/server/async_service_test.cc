// The service on gRPC's callback API and the engine's progress accounting:
//  - 1,000 concurrent streams are served by a bounded number of threads
//    (counted in /proc/self/task; a thread-per-call server needs > 1,000);
//  - a client cancel aborts the engine request at once: its KV blocks are
//    free within one engine step of the abort (real stories260K engine);
//  - a scheduler that stalls with work pending is seen by the watchdog
//    (health NOT_SERVING), and EngineStats::num_steps counts only real steps.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/server_app.h"
#include "tests/server/fake_engine.h"
#include "tests/server/fake_server.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using grpc::health::v1::HealthCheckResponse;

using llmserve::testing::ThreadsOfThisProcess;

/// One GenerateStream read with gRPC's client callback API (no thread per stream).
class StreamReader final : public grpc::ClientReadReactor<v1::GenerateStreamResponse> {
 public:
  void Start(v1::Generation::Stub* stub, const v1::GenerateRequest& request) {
    stub->async()->GenerateStream(&context_, &request, this);
    StartRead(&message_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      text_ += message_.text();
      ++messages_;
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }
  /// Waits (up to `timeout`) until at least `n` messages arrived.
  bool WaitForMessages(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return messages_ >= n || done_; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout) && messages_ >= n;
  }
  grpc::Status Wait(std::string* text) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    *text = text_;
    return status_;
  }

 private:
  grpc::ClientContext context_;
  v1::GenerateStreamResponse message_;
  absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
  int messages_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

using AsyncServiceTest = FakeServerTest;

TEST_F(AsyncServiceTest, ThousandConcurrentStreamsUseBoundedThreads) {
  constexpr int kStreams = 1000;
  engine_->set_hold_after_tokens(1);  // one token each, then held open
  const int threads_before = ThreadsOfThisProcess();
  std::vector<std::unique_ptr<StreamReader>> readers;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    requests.push_back(TextRequest(std::to_string(i), 3));
  }
  for (int i = 0; i < kStreams; ++i) {
    readers.push_back(std::make_unique<StreamReader>());
    readers.back()->Start(stub_.get(), requests[i]);
  }
  // Every stream is open in the engine and has received its first message.
  ASSERT_TRUE(engine_->WaitForLive(kStreams, absl::Seconds(120)));
  for (auto& reader : readers) ASSERT_TRUE(reader->WaitForMessages(1, absl::Seconds(120)));
  const int threads_during = ThreadsOfThisProcess();
  EXPECT_EQ(app_->service()->active_calls(), kStreams);
  // gRPC's callback executor and pollers, the fake engine, this test: a small
  // pool whatever the number of calls (a thread per call would add 1,000).
  EXPECT_LT(threads_during - threads_before, 64)
      << threads_before << " threads before, " << threads_during << " with " << kStreams
      << " open streams";
  std::cerr << "threads: " << threads_before << " before, " << threads_during << " with "
            << kStreams << " open streams\n";

  engine_->set_hold_after_tokens(-1);
  for (int i = 0; i < kStreams; ++i) {
    std::string text;
    grpc::Status status = readers[i]->Wait(&text);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    EXPECT_EQ(text, testing::FakeEngine::ExpectedText(TextIds(std::to_string(i)), 3)) << i;
  }
  EXPECT_TRUE(engine_->WaitForLive(0));
}

// The engine thread only queues outputs: the response (unary), the stream's
// messages and the call's record are made on gRPC's or the service's
// response threads. The request log is written where the call's end is
// built, so its thread shows where that happened.
TEST_F(AsyncServiceTest, ResponsesAreBuiltOffTheEngineThread) {
  absl::Mutex mu;
  std::vector<std::thread::id> log_threads;
  RestartServer([&](ServerOptions& options) {
    options.service.logger = [&](const RequestLogEntry&) {
      absl::MutexLock lock(&mu);
      log_threads.push_back(std::this_thread::get_id());
    };
  });
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(TextRequest("unary", 4), &response).ok());
  EXPECT_EQ(response.text(), testing::FakeEngine::ExpectedText(TextIds("unary"), 4));
  testing::StreamResult ok = testing::CallStream(*stub_, TextRequest("stream", 4));
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.text, testing::FakeEngine::ExpectedText(TextIds("stream"), 4));
  // A stream that fails in the engine ends with the error as its status.
  engine_->set_error_after_tokens(1);
  testing::StreamResult failed = testing::CallStream(*stub_, TextRequest("failing", 4));
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::INTERNAL);
  ASSERT_TRUE(Generate(TextRequest("unary2", 4), &response).error_code() ==
              grpc::StatusCode::INTERNAL);

  absl::MutexLock lock(&mu);
  ASSERT_EQ(log_threads.size(), 4u);
  for (std::size_t i = 0; i < log_threads.size(); ++i) {
    EXPECT_NE(log_threads[i], engine_->engine_thread_id()) << "call " << i;
  }
}

// ---- Real engine: cancellation frees blocks within one step; watchdog ----

/// Forwards to a real engine and records, per request, the engine's step
/// count when the server aborted it and when its final output arrived.
class RecordingEngine final : public LLMEngine {
 public:
  explicit RecordingEngine(std::unique_ptr<LLMEngine> engine) : engine_(std::move(engine)) {}

  absl::Status AddRequest(EngineRequest request, OutputCallback on_output) override {
    return engine_->AddRequest(std::move(request),
                               [this, on_output = std::move(on_output)](RequestOutput out) {
                                 if (!out.finished) absl::SleepFor(output_delay_);
                                 if (out.finished) {
                                   // Final outputs are delivered after the stats
                                   // of their step were published.
                                   const EngineStats stats = engine_->GetStats();
                                   absl::MutexLock lock(&mu_);
                                   steps_at_final_ = stats.num_steps;
                                   kv_usage_at_final_ = stats.kv_cache_usage;
                                   final_reason_ = out.finish_reason;
                                 }
                                 on_output(std::move(out));
                               });
  }
  void AbortRequest(const std::string& request_id, absl::Status reason) override {
    {
      absl::MutexLock lock(&mu_);
      steps_at_abort_ = engine_->GetStats().num_steps;
      ++aborts_;
    }
    engine_->AbortRequest(request_id, std::move(reason));
  }
  absl::Status WarmUp() override { return engine_->WarmUp(); }
  void Shutdown(absl::Status reason) override { engine_->Shutdown(std::move(reason)); }
  EngineStats GetStats() const override { return engine_->GetStats(); }
  double SecondsSinceProgress() const override { return engine_->SecondsSinceProgress(); }
  void SetSchedulingPausedForTesting(bool paused) override {
    engine_->SetSchedulingPausedForTesting(paused);
  }
  const ModelConfig& model_config() const override { return engine_->model_config(); }
  const Tokenizer& tokenizer() const override { return engine_->tokenizer(); }
  const EngineOptions& options() const override { return engine_->options(); }

  /// Each streaming output holds the engine thread this long (a slow step).
  absl::Duration output_delay_ = absl::ZeroDuration();

  mutable absl::Mutex mu_;
  int64_t steps_at_abort_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t steps_at_final_ ABSL_GUARDED_BY(mu_) = -1;
  double kv_usage_at_final_ ABSL_GUARDED_BY(mu_) = -1;
  FinishReason final_reason_ ABSL_GUARDED_BY(mu_) = FinishReason::kNone;
  int aborts_ ABSL_GUARDED_BY(mu_) = 0;

 private:
  std::unique_ptr<LLMEngine> engine_;
};

class RealEngineServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 2;
    auto engine = LLMEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto recording = std::make_unique<RecordingEngine>(*std::move(engine));
    engine_ = recording.get();
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.watchdog_timeout = absl::Milliseconds(300);
    server_options.service.logger = [](const RequestLogEntry&) {};
    auto app = ServerApp::Start(std::move(recording), server_options);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }
  void TearDown() override {
    if (app_ != nullptr) app_->Shutdown(absl::ZeroDuration());
  }

  bool WaitForHealth(HealthCheckResponse::ServingStatus want) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      grpc::ClientContext context;
      HealthCheckResponse response;
      if (health->Check(&context, {}, &response).ok() && response.status() == want) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  RecordingEngine* engine_ = nullptr;
  std::unique_ptr<ServerApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

TEST_F(RealEngineServiceTest, ClientCancelFreesBlocksWithinOneEngineStep) {
  // A long greedy completion (511 tokens, each step held 2 ms so it cannot
  // end first), cancelled after its first messages.
  engine_->output_delay_ = absl::Milliseconds(2);
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(1);
  request.mutable_sampling_params()->set_max_tokens(511);
  request.mutable_sampling_params()->set_temperature(0.0f);
  request.mutable_sampling_params()->set_ignore_eos(true);
  grpc::ClientContext context;
  auto reader = stub_->GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  // A few messages: the stats of a step after its admission are published.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&message));
  EXPECT_GT(engine_->GetStats().kv_cache_usage, 0.0);
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(app_->service()->WaitForNoCalls(absl::Seconds(60)));

  absl::MutexLock lock(&engine_->mu_);
  EXPECT_EQ(engine_->aborts_, 1);
  EXPECT_EQ(engine_->final_reason_, FinishReason::kCancelled);
  ASSERT_GE(engine_->steps_at_abort_, 0);
  // The abort is taken at the start of the next loop pass: at most the step
  // already running completes before the request's blocks are released.
  EXPECT_LE(engine_->steps_at_final_ - engine_->steps_at_abort_, 1);
  EXPECT_EQ(engine_->kv_usage_at_final_, 0.0) << "the cancelled request's blocks are not free";
}

TEST_F(RealEngineServiceTest, StalledSchedulerWithWorkPendingIsNotServing) {
  ASSERT_TRUE(WaitForHealth(HealthCheckResponse::SERVING));
  const int64_t steps_before = engine_->GetStats().num_steps;
  engine_->SetSchedulingPausedForTesting(true);
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(1);
  request.mutable_sampling_params()->set_max_tokens(4);
  request.mutable_sampling_params()->set_temperature(0.0f);
  v1::GenerateResponse response;
  grpc::Status status;
  std::thread call([&] {
    grpc::ClientContext context;
    status = stub_->Generate(&context, request, &response);
  });
  // The engine loop keeps running but schedules nothing: not progress.
  EXPECT_TRUE(WaitForHealth(HealthCheckResponse::NOT_SERVING));
  EXPECT_FALSE(app_->serving());
  EXPECT_EQ(engine_->GetStats().num_steps, steps_before) << "loop passes counted as steps";
  EXPECT_GT(engine_->SecondsSinceProgress(), 0.3);

  engine_->SetSchedulingPausedForTesting(false);
  EXPECT_TRUE(WaitForHealth(HealthCheckResponse::SERVING));
  call.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.token_ids_size(), 4);
  // Four tokens for a one-token prompt: a prefill step and three decodes.
  EXPECT_EQ(engine_->GetStats().num_steps, steps_before + 4);
}

}  // namespace
}  // namespace llmserve::server
