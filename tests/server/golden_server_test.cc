// A real model served end to end: stories260K behind the gRPC server on
// 127.0.0.1 (ephemeral port), checked through the generated stub (and the
// llmserve-client binary) against the golden greedy decodes of
// /work/shared/reference/stories260K-greedy.json.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/server_app.h"
#include "tests/server/client_runner.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CommandResult;
using ::llmserve::testing::RunCommand;
using ::llmserve::testing::StreamResult;
using ::testing::ElementsAreArray;

struct GoldenCase {
  std::string prompt;
  std::vector<uint32_t> prompt_ids;
  std::vector<uint32_t> completion_ids;
  std::string text;  // prompt + completion, decoded
};

std::vector<GoldenCase> LoadCases() {
  std::vector<GoldenCase> cases;
  const nlohmann::json golden =
      llmserve::testing::ReadJsonFile(llmserve::testing::SharedPath("reference/stories260K-greedy.json"));
  if (golden.is_null()) return cases;
  for (const auto& c : golden.at("cases")) {
    GoldenCase g;
    g.prompt = c.at("prompt").get<std::string>();
    g.prompt_ids = c.at("prompt_token_ids").get<std::vector<uint32_t>>();
    g.completion_ids = c.at("greedy_completion_token_ids").get<std::vector<uint32_t>>();
    g.text = c.at("text").get<std::string>();
    cases.push_back(std::move(g));
  }
  return cases;
}

class GoldenServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 2;
    auto engine = LLMEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.service.logger = [](const RequestLogEntry& entry) {
      absl::MutexLock lock(&log_mu_);
      log_->push_back(entry);
    };
    auto app = ServerApp::Start(*std::move(engine), server_options);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = app->release();
  }
  static void TearDownTestSuite() {
    delete app_;
    app_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(app_, nullptr);
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
    cases_ = LoadCases();
    ASSERT_FALSE(cases_.empty());
  }

  static v1::GenerateRequest GreedyRequest(const GoldenCase& c, bool as_text) {
    v1::GenerateRequest r;
    if (as_text) {
      r.set_text(c.prompt);
    } else {
      r.mutable_token_ids()->mutable_ids()->Add(c.prompt_ids.begin(), c.prompt_ids.end());
    }
    r.mutable_sampling_params()->set_temperature(0.0f);
    r.mutable_sampling_params()->set_max_tokens(static_cast<int>(c.completion_ids.size()));
    r.mutable_sampling_params()->set_ignore_eos(false);
    return r;
  }

  grpc::Status Generate(const v1::GenerateRequest& request, v1::GenerateResponse* response) {
    return llmserve::testing::CallGenerate(*stub_, request, response);
  }

  StreamResult Stream(const v1::GenerateRequest& request) {
    return llmserve::testing::CallStream(*stub_, request);
  }

  /// Checks one golden case through Generate and GenerateStream.
  void CheckCase(const GoldenCase& c, bool as_text) {
    SCOPED_TRACE(absl::StrCat("prompt \"", c.prompt, "\"", as_text ? " as text" : " as ids"));
    const v1::GenerateRequest request = GreedyRequest(c, as_text);
    v1::GenerateResponse unary;
    grpc::Status status = Generate(request, &unary);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_THAT(unary.token_ids(), ElementsAreArray(c.completion_ids));
    EXPECT_EQ(unary.finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(unary.usage().prompt_tokens(), c.prompt_ids.size());
    EXPECT_EQ(unary.usage().completion_tokens(), c.completion_ids.size());
    ASSERT_GE(c.text.size(), c.prompt.size());
    EXPECT_EQ(unary.text(), c.text.substr(c.prompt.size()));

    StreamResult stream = Stream(request);
    ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
    EXPECT_THAT(stream.token_ids, ElementsAreArray(c.completion_ids));
    EXPECT_EQ(stream.text, unary.text());
    ASSERT_GT(stream.messages.size(), 1u);
    EXPECT_EQ(stream.messages.back().finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(stream.messages.back().usage().completion_tokens(), c.completion_ids.size());
  }

  /// Waits until the engine holds no request (running or waiting).
  static bool WaitForEngineIdle() {
    for (int i = 0; i < 4000; ++i) {
      const EngineStats stats = app_->engine().GetStats();
      if (stats.num_running == 0 && stats.num_waiting == 0) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  /// The server's log entry for `request_id`, once written (handlers log
  /// just before they return, which may be after the client saw the status).
  static std::optional<RequestLogEntry> WaitForLogEntry(const std::string& request_id) {
    absl::MutexLock lock(&log_mu_);
    auto logged = [&request_id]() ABSL_SHARED_LOCKS_REQUIRED(log_mu_) {
      for (const RequestLogEntry& e : *log_) {
        if (e.request_id == request_id) return true;
      }
      return false;
    };
    if (!log_mu_.AwaitWithTimeout(absl::Condition(&logged), absl::Seconds(20))) return std::nullopt;
    for (const RequestLogEntry& e : *log_) {
      if (e.request_id == request_id) return e;
    }
    return std::nullopt;
  }

  static ServerApp* app_;
  static absl::Mutex log_mu_;
  static std::vector<RequestLogEntry>* log_ ABSL_GUARDED_BY(log_mu_);
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
  std::vector<GoldenCase> cases_;
};

ServerApp* GoldenServerTest::app_ = nullptr;
absl::Mutex GoldenServerTest::log_mu_;
std::vector<RequestLogEntry>* GoldenServerTest::log_ = new std::vector<RequestLogEntry>();

TEST_F(GoldenServerTest, HealthServingAndModelInfo) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext health_context;
  grpc::health::v1::HealthCheckResponse health_response;
  ASSERT_TRUE(health->Check(&health_context, {}, &health_response).ok());
  EXPECT_EQ(health_response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.architecture(), "llama");
  EXPECT_EQ(info.vocab_size(), 512u);
  EXPECT_EQ(info.hidden_size(), 64u);
  EXPECT_EQ(info.num_layers(), 5u);
  EXPECT_EQ(info.num_heads(), 8u);
  EXPECT_EQ(info.num_kv_heads(), 4u);
  EXPECT_EQ(info.head_dim(), 8u);
  EXPECT_EQ(info.model_max_context(), 512u);
  EXPECT_EQ(info.max_context(), 512u);
  EXPECT_EQ(info.dtype(), "f32");
  // The ids generation stops on (llama2.c's run.c: BOS 1 and EOS 2), beside
  // the tokenizer's single EOS.
  EXPECT_THAT(info.eos_token_ids(), ::testing::ElementsAre(1, 2));
  EXPECT_EQ(info.eos_token_id(), 2);
  EXPECT_EQ(info.num_threads(), static_cast<uint32_t>(EffectiveNumThreads(2).value()));
  EXPECT_GT(info.kv_cache_blocks(), 0u);
  EXPECT_EQ(info.kv_cache_tokens(), uint64_t{info.kv_cache_blocks()} * info.block_size());
  EXPECT_EQ(info.bos_token_id(), 1);
}

TEST_F(GoldenServerTest, ServerTokenizationMatchesGoldenPromptIds) {
  for (const GoldenCase& c : cases_) {
    SCOPED_TRACE(c.prompt);
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text(c.prompt);
    v1::TokenizeResponse response;
    ASSERT_TRUE(stub_->Tokenize(&context, request, &response).ok());
    EXPECT_THAT(response.token_ids(), ElementsAreArray(c.prompt_ids));
    std::string decoded;
    for (const std::string& piece : response.pieces()) decoded += piece;
    EXPECT_EQ(decoded, c.prompt);
  }
}

TEST_F(GoldenServerTest, GreedyFromPromptIdsMatchesGolden) {
  for (const GoldenCase& c : cases_) CheckCase(c, /*as_text=*/false);
}

TEST_F(GoldenServerTest, GreedyFromPromptTextMatchesGolden) {
  for (const GoldenCase& c : cases_) {
    if (!c.prompt.empty()) CheckCase(c, /*as_text=*/true);
  }
}

TEST_F(GoldenServerTest, ConcurrentGreedyRequestsMatchGolden) {
  // All cases at once, unary and streaming, so they share engine batches.
  std::vector<std::thread> threads;
  std::vector<std::vector<uint32_t>> got(2 * cases_.size());
  std::vector<grpc::Status> statuses(got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      const GoldenCase& c = cases_[i / 2];
      const v1::GenerateRequest request = GreedyRequest(c, /*as_text=*/false);
      if (i % 2 == 0) {
        v1::GenerateResponse response;
        statuses[i] = Generate(request, &response);
        got[i].assign(response.token_ids().begin(), response.token_ids().end());
      } else {
        StreamResult stream = Stream(request);
        statuses[i] = stream.status;
        got[i] = stream.token_ids;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_THAT(got[i], ElementsAreArray(cases_[i / 2].completion_ids));
  }
}

TEST_F(GoldenServerTest, FixedSeedSamplingIsReproducible) {
  auto sampled = [&](uint64_t seed, bool streaming) {
    v1::GenerateRequest request;
    request.set_text("Once upon a time");
    request.mutable_sampling_params()->set_temperature(0.8f);
    request.mutable_sampling_params()->set_seed(seed);
    request.mutable_sampling_params()->set_max_tokens(64);
    std::vector<uint32_t> ids;
    if (streaming) {
      StreamResult stream = Stream(request);
      EXPECT_TRUE(stream.status.ok()) << stream.status.error_message();
      ids = stream.token_ids;
    } else {
      v1::GenerateResponse response;
      grpc::Status status = Generate(request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      ids.assign(response.token_ids().begin(), response.token_ids().end());
    }
    return ids;
  };
  const std::vector<uint32_t> first = sampled(1234, false);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(sampled(1234, false), first);
  EXPECT_EQ(sampled(1234, true), first);
  // Sampling really samples: other seeds do not all reproduce it.
  bool any_differs = false;
  for (uint64_t seed : {1, 2, 3, 4}) any_differs |= sampled(seed, false) != first;
  EXPECT_TRUE(any_differs);
}

TEST_F(GoldenServerTest, ClientCancelFreesTheEngine) {
  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.set_request_id("cancel-me");
  request.mutable_sampling_params()->set_max_tokens(400);
  request.mutable_sampling_params()->set_ignore_eos(true);
  grpc::ClientContext context;
  auto reader = stub_->GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(reader->Read(&message));
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForEngineIdle());
  // The engine really aborted the request instead of running it to the end.
  const std::optional<RequestLogEntry> entry = WaitForLogEntry("cancel-me");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->finish_reason, FinishReason::kCancelled);
  EXPECT_LT(entry->completion_tokens, 400);
  EXPECT_EQ(entry->code, grpc::StatusCode::CANCELLED);
}

TEST_F(GoldenServerTest, InvalidRequestsAgainstTheRealModel) {
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(1);
  request.mutable_token_ids()->add_ids(512);  // == vocab size
  v1::GenerateResponse response;
  grpc::Status status = Generate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("prompt.token_ids[1]"));

  request.mutable_token_ids()->mutable_ids()->RemoveLast();
  request.mutable_sampling_params()->set_max_tokens(512);  // 1 + 512 > 512
  status = Generate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("sampling_params.max_tokens"));
  request.mutable_sampling_params()->set_max_tokens(511);
  request.mutable_sampling_params()->set_temperature(0);
  status = Generate(request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GoldenServerTest, ClientBinaryFixedSeedIsReproducible) {
  const std::string client = llmserve::testing::ClientBinary();
  ASSERT_TRUE(std::filesystem::exists(client)) << "not built: " << client;
  const std::string base = absl::StrCat(client, " generate --address=", app_->address(),
                                        " --prompt='Once upon a time' --temperature=0.8 "
                                        "--seed=77 --max-tokens=48 --timeout=60 2>/dev/null");
  const CommandResult first = RunCommand(base);
  const CommandResult second = RunCommand(base);
  const CommandResult streamed = RunCommand(absl::StrCat(base, " --stream"));
  EXPECT_EQ(first.exit_code, 0);
  EXPECT_EQ(second.exit_code, 0);
  EXPECT_EQ(streamed.exit_code, 0);
  EXPECT_GT(first.out.size(), 1u);
  EXPECT_EQ(first.out, second.out);
  EXPECT_EQ(streamed.out, first.out);
}

}  // namespace
}  // namespace llmserve::server
