#ifndef LLMSERVE_TESTS_SERVER_STORIES_SERVER_H_
#define LLMSERVE_TESTS_SERVER_STORIES_SERVER_H_

// Test fixture: the real engine on stories260K behind an in-process ServerApp
// (127.0.0.1, ephemeral port, Metrics attached), with helpers to wait until
// the engine is idle and to read its metrics. Header-only.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/metrics.h"
#include "server/server_app.h"
#include "tests/server/metrics_scrape.h"
#include "tests/test_util.h"

namespace llmserve::server {

/// stories260K served in process.
class StoriesServerTest : public ::testing::Test {
 protected:
  /// Starts the server; `customize` may adjust the engine options (defaults:
  /// stories260K, 2 threads). Request log entries are only counted.
  void StartServer(const std::function<void(EngineOptions&)>& customize = nullptr) {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 2;
    if (customize) customize(options);
    metrics_ = std::make_shared<Metrics>();
    auto engine = LLMEngine::Create(options, metrics_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.service.logger = [this](const RequestLogEntry&) { ++log_entries_; };
    auto app = ServerApp::Start(*std::move(engine), server_options, metrics_);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }

  void TearDown() override { app_.reset(); }

  /// Waits (bounded, ~60 s) until the engine holds no request and no KV
  /// block, and the service no call.
  bool WaitForIdle() {
    for (int i = 0; i < 6000; ++i) {
      const EngineStats stats = app_->engine().GetStats();
      if (stats.num_running == 0 && stats.num_waiting == 0 && stats.num_kv_blocks_used == 0 &&
          app_->service()->active_calls() == 0) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  /// The metrics as /metrics would serve them.
  llmserve::testing::Scrape ScrapeMetrics() {
    return llmserve::testing::Scrape(app_->metrics().SerializeText());
  }

  /// Sum of llmserve_request_success_total and _failure_total over all labels:
  /// every Generate / GenerateStream call that ended.
  static double CallsRecorded(const llmserve::testing::Scrape& scrape) {
    double total = 0;
    for (const llmserve::testing::Sample& s : scrape.samples()) {
      if (s.name == "llmserve_request_success_total" ||
          s.name == "llmserve_request_failure_total") {
        total += s.value;
      }
    }
    return total;
  }

  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<ServerApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
  std::atomic<int> log_entries_{0};
};

}  // namespace llmserve::server

#endif  // LLMSERVE_TESTS_SERVER_STORIES_SERVER_H_
