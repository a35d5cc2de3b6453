// The Generation service end to end over real gRPC (127.0.0.1, ephemeral
// port) against a FakeEngine: validation, unary vs streaming, status mapping,
// cancellation and deadlines (nothing leaks in the engine), health, Tokenize,
// GetModelInfo, request log.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/server_app.h"
#include "tests/server/fake_server.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::FakeEngine;
using ::llmserve::testing::FakeTokenizer;
using ::llmserve::testing::StreamResult;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using GenerationServiceTest = FakeServerTest;

TEST_F(GenerationServiceTest, HealthIsServingAfterWarmUp) {
  EXPECT_EQ(engine_->warm_ups(), 1);
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(ServerAppTest, WarmUpFailureFailsStart) {
  auto engine = std::make_unique<FakeEngine>();
  engine->set_warm_up_status(absl::InternalError("kaboom"));
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  auto app = ServerApp::Start(std::move(engine), options);
  ASSERT_FALSE(app.ok());
  EXPECT_EQ(app.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(app.status().message(), HasSubstr("kaboom"));
}

TEST(ServerAppTest, UnbindableAddressFailsStart) {
  ServerOptions options;
  options.listen_address = "256.1.2.3:1";  // not an address
  auto app = ServerApp::Start(std::make_unique<FakeEngine>(), options);
  ASSERT_FALSE(app.ok());
  EXPECT_EQ(app.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(GenerationServiceTest, UnaryGeneratesFromText) {
  v1::GenerateResponse response;
  grpc::Status status = Generate(TextRequest("hi", 8), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string expected = FakeEngine::ExpectedText(TextIds("hi"), 8);
  EXPECT_EQ(response.text(), expected);
  std::vector<uint32_t> expected_ids;
  for (char c : expected) expected_ids.push_back(FakeTokenizer::ByteId(c));
  EXPECT_THAT(response.token_ids(), ElementsAreArray(expected_ids));
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(response.usage().prompt_tokens(), 3u);
  EXPECT_EQ(response.usage().completion_tokens(), 8u);
  EXPECT_THAT(response.request_id(), StartsWith("req-"));
  EXPECT_GT(response.timing().total_seconds(), 0.0);
  // The server tokenized the text with BOS and applied the sampling defaults.
  const EngineRequest seen = engine_->last_request();
  EXPECT_THAT(seen.prompt_token_ids, ElementsAreArray(TextIds("hi")));
  EXPECT_EQ(seen.request_id, response.request_id());
  EXPECT_EQ(seen.sampling.temperature, 1.0f);
  EXPECT_EQ(seen.sampling.top_p, 1.0f);
  EXPECT_EQ(seen.sampling.top_k, 0);
  EXPECT_FALSE(seen.sampling.seed.has_value());
  EXPECT_TRUE(seen.sampling.stop.empty());
  EXPECT_FALSE(seen.sampling.ignore_eos);
}

TEST_F(GenerationServiceTest, EmptyTextPromptIsBosAlone) {
  v1::GenerateResponse response;
  grpc::Status status = Generate(TextRequest("", 4), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(engine_->last_request().prompt_token_ids, ElementsAre(FakeTokenizer::kBos));
  EXPECT_EQ(response.usage().prompt_tokens(), 1u);
  EXPECT_EQ(response.text(), FakeEngine::ExpectedText({FakeTokenizer::kBos}, 4));
}

TEST_F(GenerationServiceTest, DefaultsAndExplicitSamplingParamsReachTheEngine) {
  v1::GenerateRequest request;
  request.set_text("x");
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(request, &response).ok());
  EXPECT_EQ(engine_->last_request().sampling.max_tokens, 16);
  EXPECT_EQ(response.usage().completion_tokens(), 16u);

  request.set_request_id("mine");
  request.mutable_token_ids()->add_ids(5);
  request.mutable_token_ids()->add_ids(299);
  v1::SamplingParams* p = request.mutable_sampling_params();
  p->set_max_tokens(3);
  p->set_temperature(0.0f);
  p->set_top_k(7);
  p->set_top_p(0.5f);
  p->set_seed(42);
  p->add_stop("zz");
  p->set_ignore_eos(true);
  ASSERT_TRUE(Generate(request, &response).ok());
  EXPECT_EQ(response.request_id(), "mine");
  const EngineRequest seen = engine_->last_request();
  EXPECT_EQ(seen.request_id, "mine");
  EXPECT_THAT(seen.prompt_token_ids, ElementsAre(5, 299));  // used as is, no BOS
  EXPECT_EQ(seen.sampling.max_tokens, 3);
  EXPECT_EQ(seen.sampling.temperature, 0.0f);
  EXPECT_EQ(seen.sampling.top_k, 7);
  EXPECT_EQ(seen.sampling.top_p, 0.5f);
  EXPECT_EQ(seen.sampling.seed, std::optional<uint64_t>(42));
  EXPECT_THAT(seen.sampling.stop, ElementsAre("zz"));
  EXPECT_TRUE(seen.sampling.ignore_eos);
}

TEST_F(GenerationServiceTest, StreamingMatchesUnary) {
  const v1::GenerateRequest request = TextRequest("Once", 12);
  v1::GenerateResponse unary;
  ASSERT_TRUE(Generate(request, &unary).ok());
  StreamResult stream = Stream(request);
  ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
  ASSERT_FALSE(stream.messages.empty());
  EXPECT_EQ(stream.text, unary.text());
  EXPECT_THAT(stream.token_ids, ElementsAreArray(unary.token_ids()));
  for (size_t i = 0; i + 1 < stream.messages.size(); ++i) {
    EXPECT_EQ(stream.messages[i].finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
    EXPECT_FALSE(stream.messages[i].has_usage());
  }
  const v1::GenerateStreamResponse& last = stream.messages.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(last.usage().prompt_tokens(), 5u);
  EXPECT_EQ(last.usage().completion_tokens(), 12u);
  EXPECT_TRUE(last.has_timing());
  for (const auto& m : stream.messages) EXPECT_EQ(m.request_id(), last.request_id());
  EXPECT_THAT(last.request_id(), StartsWith("req-"));
  EXPECT_NE(last.request_id(), unary.request_id());
}

TEST_F(GenerationServiceTest, EosFinishesWithEos) {
  engine_->set_eos_at(3);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(TextRequest("a", 10), &response).ok());
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_EOS);
  ASSERT_EQ(response.token_ids_size(), 4);
  EXPECT_EQ(response.token_ids(3), static_cast<uint32_t>(FakeTokenizer::kEos));
  EXPECT_EQ(response.text(), FakeEngine::ExpectedText(TextIds("a"), 3));
  StreamResult stream = Stream(TextRequest("a", 10));
  ASSERT_TRUE(stream.status.ok());
  EXPECT_EQ(stream.messages.back().finish_reason(), v1::FINISH_REASON_EOS);
  EXPECT_EQ(stream.text, response.text());
}

struct InvalidCase {
  std::string name;
  std::function<void(v1::GenerateRequest*)> mutate;
  std::string field;  // must appear in the error message
};

TEST_F(GenerationServiceTest, InvalidRequestsAreRejectedNamingTheField) {
  const std::vector<InvalidCase> cases = {
      {"zero max_tokens", [](auto* r) { r->mutable_sampling_params()->set_max_tokens(0); },
       "sampling_params.max_tokens"},
      {"negative max_tokens", [](auto* r) { r->mutable_sampling_params()->set_max_tokens(-3); },
       "sampling_params.max_tokens"},
      {"negative temperature",
       [](auto* r) { r->mutable_sampling_params()->set_temperature(-0.5f); },
       "sampling_params.temperature"},
      {"nan temperature", [](auto* r) { r->mutable_sampling_params()->set_temperature(NAN); },
       "sampling_params.temperature"},
      {"zero top_p", [](auto* r) { r->mutable_sampling_params()->set_top_p(0.0f); },
       "sampling_params.top_p"},
      {"top_p above 1", [](auto* r) { r->mutable_sampling_params()->set_top_p(1.5f); },
       "sampling_params.top_p"},
      {"negative top_k", [](auto* r) { r->mutable_sampling_params()->set_top_k(-1); },
       "sampling_params.top_k"},
      {"empty stop string", [](auto* r) { r->mutable_sampling_params()->add_stop(""); },
       "sampling_params.stop[0]"},
      {"no prompt", [](auto* r) { r->clear_prompt(); }, "prompt"},
      {"empty token ids", [](auto* r) { r->mutable_token_ids(); }, "prompt.token_ids"},
      {"token id == vocab size",
       [](auto* r) {
         r->mutable_token_ids()->add_ids(5);
         r->mutable_token_ids()->add_ids(300);
       },
       "prompt.token_ids[1]"},
      {"prompt + max_tokens > max_context (ids)",
       [](auto* r) {
         for (int i = 0; i < 10; ++i) r->mutable_token_ids()->add_ids(5);
         r->mutable_sampling_params()->set_max_tokens(55);  // 65 > 64
       },
       "sampling_params.max_tokens"},
      {"prompt + default max_tokens > max_context (text)",
       [](auto* r) {
         r->set_text(std::string(48, 'x'));  // 49 tokens + 16 > 64
         r->mutable_sampling_params()->clear_max_tokens();
       },
       "sampling_params.max_tokens"},
      {"request_id too long", [](auto* r) { r->set_request_id(std::string(257, 'i')); },
       "request_id"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    v1::GenerateRequest request = TextRequest("ok", 4);
    c.mutate(&request);
    v1::GenerateResponse response;
    grpc::Status status = Generate(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
    StreamResult stream = Stream(request);
    EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(stream.status.error_message(), HasSubstr(c.field));
    EXPECT_TRUE(stream.messages.empty());
  }
  EXPECT_EQ(engine_->added_requests(), 0);  // never reached the engine
  // The boundary itself is accepted: 10 + 54 == 64.
  v1::GenerateRequest at_limit;
  for (int i = 0; i < 10; ++i) at_limit.mutable_token_ids()->add_ids(5);
  at_limit.mutable_sampling_params()->set_max_tokens(54);
  v1::GenerateResponse response;
  EXPECT_TRUE(Generate(at_limit, &response).ok());
}

TEST_F(GenerationServiceTest, EngineAdmissionErrorsKeepTheirCode) {
  const std::vector<absl::Status> errors = {absl::ResourceExhaustedError("queue full"),
                                            absl::UnavailableError("draining"),
                                            absl::InvalidArgumentError("too long for the cache")};
  for (const absl::Status& error : errors) {
    SCOPED_TRACE(error.ToString());
    engine_->set_add_request_status(error);
    v1::GenerateResponse response;
    grpc::Status status = Generate(TextRequest("a", 2), &response);
    EXPECT_EQ(static_cast<int>(status.error_code()), static_cast<int>(error.code()));
    EXPECT_EQ(status.error_message(), error.message());
    StreamResult stream = Stream(TextRequest("a", 2));
    EXPECT_EQ(static_cast<int>(stream.status.error_code()), static_cast<int>(error.code()));
  }
}

TEST_F(GenerationServiceTest, EngineErrorIsInternalWithTheMessage) {
  engine_->set_error_after_tokens(2);
  v1::GenerateResponse response;
  grpc::Status status = Generate(TextRequest("a", 10), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(status.error_message(), HasSubstr("fake engine failure"));
  StreamResult stream = Stream(TextRequest("a", 10));
  EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(stream.status.error_message(), HasSubstr("fake engine failure"));
  EXPECT_EQ(engine_->live_requests(), 0);
}

TEST_F(GenerationServiceTest, DuplicateInFlightRequestIdIsInvalid) {
  engine_->set_hold_after_tokens(0);
  v1::GenerateRequest request = TextRequest("a", 4);
  request.set_request_id("dup");
  grpc::ClientContext first_context;
  grpc::Status first_status;
  std::thread first([&] {
    v1::GenerateResponse response;
    first_status = Generate(request, &response, &first_context);
  });
  ASSERT_TRUE(engine_->WaitForLive(1));
  v1::GenerateResponse response;
  grpc::Status status = Generate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("dup"));
  first_context.TryCancel();
  first.join();
  EXPECT_EQ(first_status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(engine_->WaitForLive(0));
}

TEST_F(GenerationServiceTest, ClientCancelAbortsUnaryRequest) {
  engine_->set_hold_after_tokens(2);
  v1::GenerateRequest request = TextRequest("a", 50);
  request.set_request_id("to-cancel");
  grpc::ClientContext context;
  grpc::Status status;
  std::thread call([&] {
    v1::GenerateResponse response;
    status = Generate(request, &response, &context);
  });
  ASSERT_TRUE(engine_->WaitForLive(1));
  context.TryCancel();
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(engine_->WaitForLive(0));
  EXPECT_THAT(engine_->aborted_ids(), ElementsAre("to-cancel"));
}

TEST_F(GenerationServiceTest, ClientCancelMidStreamAbortsRequest) {
  engine_->set_hold_after_tokens(3);
  v1::GenerateRequest request = TextRequest("a", 50);
  request.set_request_id("stream-cancel");
  grpc::ClientContext context;
  auto reader = stub_->GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.request_id(), "stream-cancel");
  EXPECT_FALSE(message.text().empty());
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(engine_->WaitForLive(0));
  EXPECT_THAT(engine_->aborted_ids(), ElementsAre("stream-cancel"));
}

TEST_F(GenerationServiceTest, DeadlineAbortsRequest) {
  engine_->set_hold_after_tokens(1);
  for (bool streaming : {false, true}) {
    SCOPED_TRACE(streaming ? "stream" : "unary");
    v1::GenerateRequest request = TextRequest("a", 50);
    request.set_request_id(streaming ? "deadline-stream" : "deadline-unary");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    grpc::Status status;
    if (streaming) {
      status = Stream(request, &context).status;
    } else {
      v1::GenerateResponse response;
      status = Generate(request, &response, &context);
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_TRUE(engine_->WaitForLive(0));
  }
  EXPECT_THAT(engine_->aborted_ids(), ElementsAre("deadline-unary", "deadline-stream"));
  // The server logged both calls as ended by the deadline, with the engine's
  // cancelled finish.
  std::vector<RequestLogEntry> log;
  for (int i = 0; i < 2000 && (log = Log()).size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(log.size(), 2u);
  for (const RequestLogEntry& e : log) {
    EXPECT_EQ(e.code, grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_EQ(e.finish_reason, FinishReason::kCancelled);
  }
}

TEST_F(GenerationServiceTest, EngineShutdownIsUnavailable) {
  engine_->set_hold_after_tokens(0);
  grpc::Status status;
  std::thread call([&] {
    v1::GenerateResponse response;
    status = Generate(TextRequest("a", 5), &response);
  });
  ASSERT_TRUE(engine_->WaitForLive(1));
  engine_->Shutdown(absl::UnavailableError("draining"));
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("draining"));
  // New requests are refused by the engine with its code.
  v1::GenerateResponse response;
  EXPECT_EQ(Generate(TextRequest("a", 5), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GenerationServiceTest, ConcurrentRequestsGetTheirOwnOutputs) {
  constexpr int kCalls = 8;
  std::vector<std::thread> threads;
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<std::string> texts(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      const v1::GenerateRequest request = TextRequest(std::string(i + 1, 'q'), 6 + i);
      statuses[i] = GenerateText(request, /*stream=*/i % 2 == 1, &texts[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(texts[i], FakeEngine::ExpectedText(TextIds(std::string(i + 1, 'q')), 6 + i)) << i;
  }
  EXPECT_EQ(engine_->live_requests(), 0);
}

TEST_F(GenerationServiceTest, OneLogLinePerCall) {
  v1::GenerateResponse response;
  v1::GenerateRequest ok = TextRequest("ab", 3);
  ok.set_request_id("logged");
  ASSERT_TRUE(Generate(ok, &response).ok());
  ASSERT_FALSE(Generate(TextRequest("ab", 0), &response).ok());
  const std::vector<RequestLogEntry> log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "Generate");
  EXPECT_EQ(log[0].request_id, "logged");
  EXPECT_EQ(log[0].prompt_tokens, 3);
  EXPECT_EQ(log[0].completion_tokens, 3);
  EXPECT_EQ(log[0].finish_reason, FinishReason::kLength);
  EXPECT_EQ(log[0].code, grpc::StatusCode::OK);
  EXPECT_EQ(log[1].code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(log[1].message, HasSubstr("max_tokens"));
  const std::string line = FormatRequestLogLine(log[0]);
  EXPECT_THAT(line, HasSubstr("id=logged"));
  EXPECT_THAT(line, HasSubstr("finish=length"));
  EXPECT_THAT(line, HasSubstr("status=OK"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST_F(GenerationServiceTest, Tokenize) {
  v1::TokenizeRequest request;
  request.set_text("hi");
  v1::TokenizeResponse response;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Tokenize(&context, request, &response).ok());
  }
  EXPECT_THAT(response.token_ids(), ElementsAre(1, 'h' + 3, 'i' + 3));
  EXPECT_THAT(response.pieces(), ElementsAre("", "h", "i"));
  request.set_add_bos(false);
  response.Clear();
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Tokenize(&context, request, &response).ok());
  EXPECT_THAT(response.token_ids(), ElementsAre('h' + 3, 'i' + 3));
}

TEST_F(GenerationServiceTest, GetModelInfo) {
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.model_name(), "fake");
  EXPECT_EQ(info.model_path(), "fake.bin");
  EXPECT_EQ(info.architecture(), "llama");
  EXPECT_EQ(info.vocab_size(), 300u);
  EXPECT_EQ(info.max_context(), 64u);
  EXPECT_EQ(info.num_layers(), 1u);
  EXPECT_EQ(info.num_heads(), 2u);
  EXPECT_EQ(info.num_kv_heads(), 1u);
  EXPECT_EQ(info.head_dim(), 4u);
  EXPECT_EQ(info.dtype(), "f32");
  EXPECT_EQ(info.block_size(), 16u);
  EXPECT_EQ(info.kv_cache_blocks(), 8u);
  EXPECT_EQ(info.kv_cache_tokens(), 128u);
  EXPECT_EQ(info.bos_token_id(), 1);
  EXPECT_EQ(info.eos_token_id(), 2);
  EXPECT_THAT(info.eos_token_ids(), ::testing::ElementsAre(2));  // what the engine stops on
}

}  // namespace
}  // namespace llmserve::server
