// The llmserve-bench binary with --backend openai-completions / openai-chat
// against an in-process FakeOpenAIServer: the result JSON names the backend,
// the endpoint and the model the server lists, with exact request and token
// counts; flag errors are clear.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "client/bench/fake_openai_server.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace llmserve::bench {
namespace {

using ::llmserve::testing::BuildPath;
using ::llmserve::testing::RunBounded;
using ::testing::HasSubstr;

class BenchOpenAICliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeOpenAIServerOptions options;
    options.model = "listed-model";
    options.itl_seconds = 0.001;
    auto server = FakeOpenAIServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    dir_ = llmserve::testing::MakeTempDir("llmserve_bench_openai_cli");
  }
  llmserve::testing::CommandResult Bench(const std::string& args) {
    return RunBounded(absl::StrCat(BuildPath("client/llmserve-bench"), " ", args, " 2>&1"), 300);
  }
  std::unique_ptr<FakeOpenAIServer> server_;
  std::string dir_;
};

TEST_F(BenchOpenAICliTest, CompletionsAndChatRunsGiveExactCounts) {
  for (const char* backend : {"openai-completions", "openai-chat"}) {
    SCOPED_TRACE(backend);
    const std::string output = absl::StrCat(dir_, "/", backend, ".json");
    // --address may carry the base URL.
    auto result = Bench(absl::StrCat("--backend ", backend, " --address ", server_->base_url(),
                                     " --vocab-size 100 --concurrency 2 --num-requests 6",
                                     " --input-len 4 --output-len 5 --warmup 1 --output ", output));
    ASSERT_EQ(result.exit_code, 0) << result.out;
    EXPECT_THAT(result.out, HasSubstr("Serving Benchmark Result"));
    const nlohmann::json j = llmserve::testing::ReadJsonFile(output);
    EXPECT_EQ(j["backend"], backend);
    EXPECT_EQ(j["endpoint"],
              std::string(backend) == "openai-chat" ? "/v1/chat/completions" : "/v1/completions");
    EXPECT_EQ(j["model_id"], "listed-model");
    EXPECT_EQ(j["completed"], 6);
    EXPECT_EQ(j["failed"], 0);
    EXPECT_EQ(j["total_output_tokens"], 30);
    if (std::string(backend) == "openai-completions") EXPECT_EQ(j["total_input_tokens"], 24);
    EXPECT_EQ(j["itls"].size(), 6u);
    for (const nlohmann::json& itls : j["itls"]) EXPECT_EQ(itls.size(), 4u);
  }
  EXPECT_EQ(server_->arrivals(), 14);  // 2 × (1 warm-up + 6)
}

TEST(BenchOpenAICliVocabTest, VocabSizeComesFromTheModelList) {
  FakeOpenAIServerOptions options;
  options.vocab_size = 50;  // as llama-server's meta.n_vocab
  auto server = FakeOpenAIServer::Start(options);
  ASSERT_TRUE(server.ok());
  auto result = RunBounded(
      absl::StrCat(BuildPath("client/llmserve-bench"), " --backend openai-completions --base-url ",
                   (*server)->base_url(), " --concurrency 2 --num-requests 4 --input-len 30 2>&1"),
      300);
  ASSERT_EQ(result.exit_code, 0) << result.out;
  for (const nlohmann::json& body : (*server)->request_bodies()) {
    ASSERT_EQ(body["prompt"].size(), 30u);
    for (const nlohmann::json& id : body["prompt"]) EXPECT_LT(id.get<int>(), 50);
  }
}

TEST_F(BenchOpenAICliTest, FlagErrorsAreClear) {
  auto result = Bench(absl::StrCat("--backend openai-completions --base-url ", server_->base_url(),
                                   " --num-requests 1"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("needs --vocab-size"));
  result = Bench("--backend openai-completions --base-url https://localhost:1 --num-requests 1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("https is not supported"));
  result = Bench(absl::StrCat("--backend openai-chat --tls --base-url ", server_->base_url(),
                              " --num-requests 1"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("the HTTP backends have no TLS"));
  result = Bench("--backend carrier-pigeon --num-requests 1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("is not grpc, openai-completions or openai-chat"));
}

}  // namespace
}  // namespace llmserve::bench
