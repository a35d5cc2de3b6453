#ifndef LLMSERVE_TESTS_SERVER_FAKE_SERVER_H_
#define LLMSERVE_TESTS_SERVER_FAKE_SERVER_H_

// Test fixture: a real gRPC server (ServerApp) over a FakeEngine. Header-only.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/server_app.h"
#include "tests/server/fake_engine.h"
#include "tests/server/stub_calls.h"

namespace llmserve::server {

/// Prompt ids of text as the fake tokenizer encodes it with BOS.
inline std::vector<int32_t> TextIds(const std::string& text) {
  std::vector<int32_t> ids = {testing::FakeTokenizer::kBos};
  for (char c : text) ids.push_back(testing::FakeTokenizer::ByteId(static_cast<unsigned char>(c)));
  return ids;
}

inline v1::GenerateRequest TextRequest(const std::string& text, int max_tokens) {
  v1::GenerateRequest r;
  r.set_text(text);
  r.mutable_sampling_params()->set_max_tokens(max_tokens);
  return r;
}

/// A ServerApp over a FakeEngine on 127.0.0.1 (ephemeral port), a channel and
/// a stub, and the request log it wrote.
class FakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  /// Starts the server over a fresh FakeEngine; `customize` may adjust the
  /// options (defaults: 127.0.0.1:0, no metrics exporter, log kept in Log()).
  void StartServer(const std::function<void(ServerOptions&)>& customize = nullptr,
                   testing::FakeEngineOptions engine_options = {}) {
    auto engine = std::make_unique<testing::FakeEngine>(engine_options);
    engine_ = engine.get();
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.service.logger = [this](const RequestLogEntry& entry) {
      absl::MutexLock lock(&log_mu_);
      log_.push_back(entry);
    };
    if (customize) customize(options);
    auto app = ServerApp::Start(std::move(engine), options);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }

  /// Stops the running server (no drain) and starts another (see StartServer).
  void RestartServer(const std::function<void(ServerOptions&)>& customize,
                     testing::FakeEngineOptions engine_options = {}) {
    TearDown();
    StartServer(customize, engine_options);
  }

  void TearDown() override {
    if (app_ != nullptr) {
      app_->Shutdown(absl::ZeroDuration());
      app_.reset();
    }
  }

  grpc::Status Generate(const v1::GenerateRequest& request, v1::GenerateResponse* response,
                        grpc::ClientContext* context = nullptr) {
    return testing::CallGenerate(*stub_, request, response, context);
  }

  testing::StreamResult Stream(const v1::GenerateRequest& request,
                               grpc::ClientContext* context = nullptr) {
    return testing::CallStream(*stub_, request, context);
  }

  /// Generate (`stream` false) or GenerateStream; the completion text goes to *text.
  grpc::Status GenerateText(const v1::GenerateRequest& request, bool stream, std::string* text) {
    if (stream) {
      testing::StreamResult result = Stream(request);
      *text = result.text;
      return result.status;
    }
    v1::GenerateResponse response;
    grpc::Status status = Generate(request, &response);
    *text = response.text();
    return status;
  }

  std::vector<RequestLogEntry> Log() {
    absl::MutexLock lock(&log_mu_);
    return log_;
  }

  testing::FakeEngine* engine_ = nullptr;
  std::unique_ptr<ServerApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
  absl::Mutex log_mu_;
  std::vector<RequestLogEntry> log_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace llmserve::server

#endif  // LLMSERVE_TESTS_SERVER_FAKE_SERVER_H_
