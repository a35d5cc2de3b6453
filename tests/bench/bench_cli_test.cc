// The llmserve-bench binary against an in-process FakeGenerationServer: the
// result JSON has the documented fields (vllm bench serve's names) with the
// right types and values, sweeps write one object per point, --save-requests
// writes one line per request, and bad flags fail with a clear message.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/bench/fake_generation_server.h"
#include "client/bench/report.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_process.h"
#include "tests/bench/callback_queue_keepalive.h"
#include "tests/test_util.h"

namespace llmserve::bench {
namespace {

using ::llmserve::testing::BuildPath;
using ::llmserve::testing::RunBounded;
using ::testing::HasSubstr;

class BenchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llmserve::testing::KeepCallbackQueueAlive();
    FakeServerOptions options;
    options.ttft_seconds = 0.005;
    options.itl_seconds = 0.001;
    auto server = FakeGenerationServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    dir_ = llmserve::testing::MakeTempDir("llmserve_bench_cli");
  }
  /// Runs the bench against the fake with `args` (stderr merged into out).
  llmserve::testing::CommandResult Bench(const std::string& args) {
    return RunBounded(absl::StrCat(BuildPath("client/llmserve-bench"), " --address ",
                                   server_->address(), " ", args, " 2>&1"),
                      300);
  }
  std::unique_ptr<FakeGenerationServer> server_;
  std::string dir_;
};

void ExpectSchema(const nlohmann::json& j) {
  for (const std::string& field : RequiredResultFields()) {
    EXPECT_TRUE(j.contains(field)) << "missing " << field;
  }
  for (const char* number :
       {"duration", "request_throughput", "output_throughput", "total_token_throughput",
        "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p90_ttft_ms", "p95_ttft_ms",
        "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms", "mean_itl_ms",
        "median_itl_ms", "p99_itl_ms", "mean_e2el_ms", "median_e2el_ms", "p99_e2el_ms",
        "achieved_concurrency", "max_output_tokens_per_s", "burstiness"}) {
    EXPECT_TRUE(j[number].is_number()) << number;
  }
  for (const char* integer : {"completed", "failed", "total_input_tokens", "total_output_tokens",
                              "num_prompts", "max_concurrent_requests", "good_requests"}) {
    EXPECT_TRUE(j[integer].is_number_integer()) << integer;
  }
  for (const char* array : {"input_lens", "output_lens", "ttfts", "tpots", "itls", "e2els",
                            "errors"}) {
    ASSERT_TRUE(j[array].is_array()) << array;
    EXPECT_EQ(j[array].size(), j["num_prompts"].get<size_t>()) << array;
  }
  EXPECT_TRUE(j["failures_by_code"].is_object());
}

TEST_F(BenchCliTest, ResultJsonHasTheDocumentedFields) {
  const std::string output = dir_ + "/result.json";
  const std::string requests = dir_ + "/requests.jsonl";
  auto result = Bench(absl::StrCat("--concurrency 3 --num-requests 9 --warmup 2 --input-len 6 ",
                                   "--output-len 5 --goodput ttft:60000 --output ", output,
                                   " --save-requests ", requests));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_THAT(result.out, HasSubstr("Serving Benchmark Result"));
  EXPECT_THAT(result.out, HasSubstr("Mean TTFT (ms):"));
  const nlohmann::json j = llmserve::testing::ReadJsonFile(output);
  ASSERT_TRUE(j.is_object()) << j.dump();
  ExpectSchema(j);
  EXPECT_EQ(j["backend"], "llmserve-grpc");
  EXPECT_EQ(j["endpoint"], "GenerateStream");
  EXPECT_EQ(j["model_id"], "fake");
  EXPECT_EQ(j["dataset_name"], "random");
  EXPECT_EQ(j["num_prompts"], 9);
  EXPECT_EQ(j["completed"], 9);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["total_input_tokens"], 9 * 6);
  EXPECT_EQ(j["total_output_tokens"], 9 * 5);
  EXPECT_EQ(j["request_rate"], "inf");
  EXPECT_EQ(j["max_concurrency"], 3);
  EXPECT_EQ(j["warmup_requests"], 2);
  EXPECT_EQ(j["good_requests"], 9);
  EXPECT_TRUE(j["request_goodput"].is_number());
  EXPECT_EQ(j["itls"][0].size(), 4u);
  EXPECT_GE(j["mean_ttft_ms"].get<double>(), 5.0 - 1.0);
  EXPECT_EQ(server_->arrivals(), 11);  // warm-up included, sent but not measured
  EXPECT_FALSE(j.contains("server_cross_check"));
  // One line per measured request.
  const std::string lines = llmserve::testing::ReadFile(requests);
  std::vector<std::string> split = absl::StrSplit(lines, '\n', absl::SkipEmpty());
  ASSERT_EQ(split.size(), 9u);
  const nlohmann::json first = nlohmann::json::parse(split[0]);
  EXPECT_EQ(first["status"], "OK");
  EXPECT_EQ(first["output_tokens"], 5);
  EXPECT_EQ(first["itl_s"].size(), 4u);
}

TEST_F(BenchCliTest, SweepWritesOneObjectPerPoint) {
  const std::string output = dir_ + "/sweep.json";
  auto result = Bench(absl::StrCat("--sweep-rates 200,inf --num-requests 5 --input-len 4 --connections 3 ",
                                   "--output-len 3 --stream=false --output ", output));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const nlohmann::json j = llmserve::testing::ReadJsonFile(output);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["request_rate"], 200.0);
  EXPECT_EQ(j[1]["request_rate"], "inf");
  for (const nlohmann::json& point : j) {
    ExpectSchema(point);
    EXPECT_EQ(point["endpoint"], "Generate");
    EXPECT_TRUE(point["max_concurrency"].is_null());
    EXPECT_EQ(point["completed"], 5);
    EXPECT_EQ(point["total_output_tokens"], 15);
  }
}

TEST_F(BenchCliTest, DurationBoundsTheRun) {
  const std::string output = dir_ + "/duration.json";
  // Each call takes >= 5 ms + 2 ms: 2 in flight for 0.3 s send at most 2 * (0.3 / 0.007 + 1).
  auto result = Bench(absl::StrCat("--duration 0.3 --concurrency 2 --input-len 4 --output-len 3 ",
                                   "--output ", output));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const nlohmann::json j = llmserve::testing::ReadJsonFile(output);
  ExpectSchema(j);
  EXPECT_GE(j["num_prompts"].get<int>(), 2);
  EXPECT_LE(j["num_prompts"].get<int>(), 88);
  EXPECT_EQ(j["completed"], j["num_prompts"]);
}

TEST_F(BenchCliTest, BadFlagsFailClearly) {
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--goodput ttfb:3", "unknown metric"},
           {"--stream=false --goodput ttft:500,tpot:50", "tpot objective needs streamed calls"},
           {"--concurrency 2 --request-rate 5", "not both"},
           {"--sweep-rates 1 --sweep-concurrency 2", "not both"},
           {"--sweep-concurrency 0", "bad concurrency"},
           {"--workload nope", "not random, prefix or file"},
           {"--workload file", "needs --file"},
           {"--num-requests -1", "--num-requests"},
           {"--num-requests 1 --input-len 1048576 --output-len 1", "max_context"}}) {
    auto result = Bench(args);
    EXPECT_EQ(result.exit_code, 1) << args << "\n" << result.out;
    EXPECT_THAT(result.out, HasSubstr(message)) << args;
  }
  auto unreachable = RunBounded(
      absl::StrCat(BuildPath("client/llmserve-bench"), " --address 127.0.0.1:1 2>&1"), 120);
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.out, HasSubstr("GetModelInfo"));
}

TEST_F(BenchCliTest, FileWorkloadShareGpt) {
  const std::string file = dir_ + "/sharegpt.json";
  ASSERT_TRUE(llmserve::testing::WriteFile(file, R"([
    {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "12345"}]},
    {"conversations": [{"from": "human", "value": "abcd"}, {"from": "gpt", "value": "xyz"}]}])"));
  const std::string output = dir_ + "/sharegpt-result.json";
  auto result = Bench(absl::StrCat("--workload file --file ", file,
                                   " --num-requests 2 --concurrency 2 --output ", output));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const nlohmann::json j = llmserve::testing::ReadJsonFile(output);
  // Prompts as text (fake: bytes + BOS); max_tokens = the reply's tokens via
  // the fake's Tokenize (one per byte, no BOS).
  EXPECT_EQ(j["input_lens"], nlohmann::json({3, 5}));
  EXPECT_EQ(j["output_lens"], nlohmann::json({5, 3}));
}

TEST_F(BenchCliTest, FileWorkloadJsonl) {
  const std::string file = dir_ + "/prompts.jsonl";
  ASSERT_TRUE(llmserve::testing::WriteFile(
      file, "{\"prompt\": \"abc\", \"max_tokens\": 2}\n{\"prompt\": \"hello\"}\n"));
  const std::string output = dir_ + "/file.json";
  auto result = Bench(absl::StrCat("--workload file --file ", file,
                                   " --max-tokens 3 --num-requests 4 --concurrency 1 --output ",
                                   output));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const nlohmann::json j = llmserve::testing::ReadJsonFile(output);
  // The fake counts text prompts as bytes + 1 (BOS); the file is cycled.
  EXPECT_EQ(j["input_lens"], nlohmann::json({4, 6, 4, 6}));
  EXPECT_EQ(j["output_lens"], nlohmann::json({2, 3, 2, 3}));
}

}  // namespace
}  // namespace llmserve::bench
