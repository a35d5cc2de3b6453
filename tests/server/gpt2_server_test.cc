// The GPT-2 family behind the real server: gpt2-tiny-random (a GPT2LMHeadModel
// checkpoint with F16 tensors) with the GPT-2 byte-level BPE, checked through
// the generated stub against the 16 greedy tokens of an independent float64
// implementation (reference/gpt2-tiny-random.json), unary and streaming, and
// the server's tokenization of each prompt text against the reference ids.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/server_app.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::ElementsAreArray;

TEST(Gpt2ServerTest, GreedyTokensAndTokenizationMatchTheReference) {
  EngineOptions options;
  options.model_path = SharedPath("models/gpt2-tiny-random");
  options.tokenizer_path = SharedPath("models/gpt2-tokenizer/encoder.json");
  options.num_threads = 2;
  auto engine = LLMEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.metrics_address = "";
  auto app = ServerApp::Start(*std::move(engine), server_options);
  ASSERT_TRUE(app.ok()) << app.status();
  auto channel = grpc::CreateChannel((*app)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Generation::NewStub(channel);

  const nlohmann::json ref = llmserve::testing::ReadJsonFile(SharedPath("reference/gpt2-tiny-random.json"));
  ASSERT_TRUE(ref.contains("cases"));
  for (const auto& c : ref["cases"]) {
    const std::string text = c["prompt_text"];
    SCOPED_TRACE(text);
    const auto prompt = c["prompt_token_ids"].get<std::vector<uint32_t>>();
    const auto want = c["greedy_completion_token_ids"].get<std::vector<uint32_t>>();

    // The server tokenizes the prompt text as the reference did (GPT-2 adds no BOS).
    grpc::ClientContext tokenize_context;
    v1::TokenizeRequest tokenize;
    tokenize.set_text(text);
    v1::TokenizeResponse tokens;
    ASSERT_TRUE(stub->Tokenize(&tokenize_context, tokenize, &tokens).ok());
    EXPECT_THAT(tokens.token_ids(), ElementsAreArray(prompt));

    v1::GenerateRequest request;
    request.mutable_token_ids()->mutable_ids()->Add(prompt.begin(), prompt.end());
    request.mutable_sampling_params()->set_temperature(0.0f);
    request.mutable_sampling_params()->set_max_tokens(static_cast<int>(want.size()));
    request.mutable_sampling_params()->set_ignore_eos(true);
    v1::GenerateResponse unary;
    const grpc::Status status = llmserve::testing::CallGenerate(*stub, request, &unary);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_THAT(unary.token_ids(), ElementsAreArray(want));

    const llmserve::testing::StreamResult stream = llmserve::testing::CallStream(*stub, request);
    ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
    EXPECT_THAT(stream.token_ids, ElementsAreArray(want));
    EXPECT_EQ(stream.text, unary.text());
  }
}

}  // namespace
}  // namespace llmserve::server
