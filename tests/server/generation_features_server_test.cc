// Issue #12 through the gRPC server with the real stories260K model:
// logprobs and prompt logprobs (unary and streamed with each delta) against
// the independent float64 reference, n completions with their indices,
// priority and penalties accepted, and out-of-range values rejected with
// INVALID_ARGUMENT naming the field (--max-logprobs, --max-n limits).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/server_app.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CallGenerate;
using ::llmserve::testing::CallStream;

class GenerationFeaturesServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 2;
    options.max_logprobs = 6;
    options.max_n = 4;
    auto engine = LLMEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
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
    stub_ = v1::Generation::NewStub(
        grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials()));
  }

  static ServerApp* app_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

ServerApp* GenerationFeaturesServerTest::app_ = nullptr;

// `got` against reference position `ref`: chosen logprob and top-5 within
// 1e-3 (ids may differ only within a near tie); pieces are the tokens' bytes.
void ExpectMatches(const v1::PositionLogprobs& got, const nlohmann::json& ref,
                   const std::string& where) {
  EXPECT_EQ(got.token().token_id(), ref["next_token"].get<uint32_t>()) << where;
  EXPECT_NEAR(got.token().logprob(), ref["next_token_logprob"].get<double>(), 1e-3) << where;
  const auto ids = ref["top5_ids"].get<std::vector<uint32_t>>();
  const auto lps = ref["top5_logprobs"].get<std::vector<double>>();
  ASSERT_EQ(got.top_size(), 5) << where;
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(got.top(i).logprob(), lps[i], 1e-3) << where << " top " << i;
    if (got.top(i).token_id() != ids[i]) {
      const auto it = std::find(ids.begin(), ids.end(), got.top(i).token_id());
      ASSERT_NE(it, ids.end()) << where;
      EXPECT_NEAR(lps[it - ids.begin()], lps[i], 1e-3) << where << " swapped ids, not a tie";
    }
  }
}

TEST_F(GenerationFeaturesServerTest, LogprobsMatchTheReferenceUnaryAndStreamed) {
  const nlohmann::json ref = llmserve::testing::ReadJsonFile(
      llmserve::testing::SharedPath("reference/stories260K-logprobs.json"));
  ASSERT_FALSE(ref.is_null());
  for (const auto& c : ref["cases"]) {
    const auto prompt = c["prompt_token_ids"].get<std::vector<uint32_t>>();
    const auto completion = c["greedy_completion_token_ids"].get<std::vector<uint32_t>>();
    const auto& positions = c["positions"];
    v1::GenerateRequest request;
    for (uint32_t id : prompt) request.mutable_token_ids()->add_ids(id);
    request.mutable_sampling_params()->set_temperature(0.0f);
    request.mutable_sampling_params()->set_max_tokens(static_cast<int32_t>(completion.size()));
    request.mutable_sampling_params()->set_logprobs(5);
    request.mutable_sampling_params()->set_prompt_logprobs(5);

    v1::GenerateResponse response;
    ASSERT_TRUE(CallGenerate(*stub_, request, &response).ok());
    ASSERT_EQ(std::vector<uint32_t>(response.token_ids().begin(), response.token_ids().end()),
              completion);
    ASSERT_EQ(response.logprobs_size(), static_cast<int>(completion.size()));
    const int p0 = static_cast<int>(prompt.size()) - 1;
    std::string pieces;
    for (int j = 0; j < response.logprobs_size(); ++j) {
      const v1::PositionLogprobs& lp = response.logprobs(j);
      ExpectMatches(lp, positions[p0 + j], "completion token " + std::to_string(j));
      EXPECT_EQ(lp.top(0).token_id(), response.token_ids(j)) << "greedy is not top-1";
      EXPECT_EQ(lp.rank(), 1u);
      EXPECT_EQ(lp.top(0).piece(), lp.token().piece());
      pieces += lp.token().piece();
    }
    EXPECT_EQ(pieces, response.text()) << "the chosen pieces spell the text";
    ASSERT_EQ(response.prompt_logprobs_size(), static_cast<int>(prompt.size()) - 1);
    for (int i = 0; i < response.prompt_logprobs_size(); ++i) {
      EXPECT_EQ(response.prompt_logprobs(i).token().token_id(), prompt[i + 1]);
      ExpectMatches(response.prompt_logprobs(i), positions[i],
                    "prompt token " + std::to_string(i + 1));
    }

    // Streamed: every delta carries one logprob entry per token.
    const auto stream = CallStream(*stub_, request);
    ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
    std::vector<v1::PositionLogprobs> streamed, streamed_prompt;
    for (const auto& m : stream.messages) {
      EXPECT_EQ(m.logprobs_size(), m.token_ids_size());
      EXPECT_EQ(m.index(), 0u);
      streamed.insert(streamed.end(), m.logprobs().begin(), m.logprobs().end());
      streamed_prompt.insert(streamed_prompt.end(), m.prompt_logprobs().begin(),
                             m.prompt_logprobs().end());
    }
    ASSERT_EQ(streamed.size(), completion.size());
    for (std::size_t j = 0; j < streamed.size(); ++j) {
      ExpectMatches(streamed[j], positions[p0 + j], "streamed token " + std::to_string(j));
    }
    EXPECT_EQ(streamed_prompt.size(), prompt.size() - 1);
  }
}

TEST_F(GenerationFeaturesServerTest, NCompletionsCarryTheirIndex) {
  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.set_priority(-3);
  v1::SamplingParams* p = request.mutable_sampling_params();
  p->set_n(3);
  p->set_seed(11);
  p->set_max_tokens(12);
  p->set_ignore_eos(true);
  p->set_repetition_penalty(1.2f);
  p->set_presence_penalty(0.5f);
  p->set_min_p(0.05f);
  v1::GenerateResponse response;
  ASSERT_TRUE(CallGenerate(*stub_, request, &response).ok());
  ASSERT_EQ(response.completions_size(), 3);
  uint32_t total = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(response.completions(i).index(), static_cast<uint32_t>(i));
    EXPECT_EQ(response.completions(i).token_ids_size(), 12);
    EXPECT_EQ(response.completions(i).finish_reason(), v1::FINISH_REASON_LENGTH);
    total += response.completions(i).token_ids_size();
  }
  EXPECT_EQ(response.text(), response.completions(0).text());
  EXPECT_EQ(response.usage().completion_tokens(), total);

  // Completion 2 equals a single request with seed 13.
  v1::GenerateRequest single = request;
  single.mutable_sampling_params()->set_n(1);
  single.mutable_sampling_params()->set_seed(13);
  v1::GenerateResponse one;
  ASSERT_TRUE(CallGenerate(*stub_, single, &one).ok());
  EXPECT_EQ(one.text(), response.completions(2).text());

  // Streamed: messages of each index concatenate to that completion.
  const auto stream = CallStream(*stub_, request);
  ASSERT_TRUE(stream.status.ok());
  std::map<uint32_t, std::string> texts;
  std::map<uint32_t, int> finals;
  for (const auto& m : stream.messages) {
    texts[m.index()] += m.text();
    if (m.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) ++finals[m.index()];
  }
  ASSERT_EQ(texts.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(texts[i], response.completions(i).text()) << i;
    EXPECT_EQ(finals[i], 1) << i;
  }
  EXPECT_TRUE(stream.messages.back().has_usage());
  EXPECT_EQ(stream.messages.back().usage().completion_tokens(), total);
}

TEST_F(GenerationFeaturesServerTest, OutOfRangeValuesAreInvalidArgumentNamingTheField) {
  auto check = [&](const std::function<void(v1::SamplingParams*)>& edit, const std::string& field) {
    v1::GenerateRequest request;
    request.set_text("hi");
    edit(request.mutable_sampling_params());
    v1::GenerateResponse response;
    const grpc::Status s = CallGenerate(*stub_, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_NE(s.error_message().find(field), std::string::npos) << s.error_message();
    const auto stream = CallStream(*stub_, request);
    EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
  };
  check([](v1::SamplingParams* p) { p->set_logprobs(7); }, "sampling_params.logprobs");
  check([](v1::SamplingParams* p) { p->set_prompt_logprobs(100); },
        "sampling_params.prompt_logprobs");
  check([](v1::SamplingParams* p) { p->set_n(5); }, "sampling_params.n");
  check([](v1::SamplingParams* p) { p->set_n(0); }, "sampling_params.n");
  check([](v1::SamplingParams* p) { p->set_repetition_penalty(-1.0f); },
        "sampling_params.repetition_penalty");
  check([](v1::SamplingParams* p) { p->set_frequency_penalty(-2.5f); },
        "sampling_params.frequency_penalty");
  check([](v1::SamplingParams* p) { (*p->mutable_logit_bias())[512] = 1.0f; },
        "sampling_params.logit_bias");
  check([](v1::SamplingParams* p) { p->add_banned_token_ids(4000000000u); },
        "sampling_params.banned_token_ids");
  check([](v1::SamplingParams* p) { p->set_min_tokens(17); }, "sampling_params.min_tokens");
  check([](v1::SamplingParams* p) { p->set_min_p(1.5f); }, "sampling_params.min_p");
}

}  // namespace
}  // namespace llmserve::server
