// llmserve-bench against the real llmserve binary serving stories260K (short,
// bounded runs): its completed requests and token counts equal the server's
// Prometheus counters (scraped here independently, with the server tests'
// parser), a burst beyond --max-queued-requests reports RESOURCE_EXHAUSTED
// failures with every call accounted for and nothing hung, and streaming and
// unary runs of the same workload count the same tokens. A request failed
// after its prefill is in the server's token counters but not the client's:
// the cross-check shows those lines as not comparable instead of a mismatch.

#include <filesystem>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/bench/report.h"
#include "client/bench/run_stats.h"
#include "client/bench/server_view.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_process.h"
#include "tests/server/metrics_scrape.h"
#include "tests/test_util.h"

namespace llmserve::bench {
namespace {

using ::llmserve::testing::BuildPath;
using ::llmserve::testing::RunBounded;
using ::llmserve::testing::Scrape;
using ::llmserve::testing::ServerProcess;
using ::testing::HasSubstr;

/// The port of "http://127.0.0.1:PORT/metrics".
int MetricsPort(const std::string& url) {
  const size_t colon = url.rfind(':');
  return std::stoi(url.substr(colon + 1, url.find('/', colon) - colon - 1));
}

Scrape ScrapeServer(const ServerProcess& server) {
  const llmserve::testing::HttpResponse response =
      llmserve::testing::HttpGet(MetricsPort(server.metrics_url()), "/metrics");
  EXPECT_EQ(response.status, 200);
  return Scrape(response.body);
}

/// Sum of every sample named `name` (over its labels).
double Total(const Scrape& scrape, const std::string& name) {
  double sum = 0;
  for (const llmserve::testing::Sample& s : scrape.samples()) {
    if (s.name == name) sum += s.value;
  }
  return sum;
}

std::vector<std::string> StoriesArgs(std::vector<std::string> extra) {
  std::vector<std::string> args = {
      "--model", llmserve::testing::SharedPath("models/stories260K/stories260K.bin"),
      "--threads", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class RealServerBenchTest : public ::testing::Test {
 protected:
  nlohmann::json RunBench(const ServerProcess& server, const std::string& args, int* exit_code,
                          std::string* out) {
    const std::string output = llmserve::testing::MakeTempDir("llmserve_bench_real") + "/r.json";
    auto result = RunBounded(absl::StrCat(BuildPath("client/llmserve-bench"), " --address ",
                                          server.address(), " --metrics-url ",
                                          server.metrics_url(), " --timeout 120 --output ",
                                          output, " ", args, " 2>&1"),
                             300);
    *exit_code = result.exit_code;
    *out = result.out;
    if (!std::filesystem::exists(output)) return nlohmann::json();  // failed runs write none
    return llmserve::testing::ReadJsonFile(output);
  }
};

TEST_F(RealServerBenchTest, CountsEqualTheServersCountersStreamingAndUnary) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({}))) << server.error();
  const std::string workload =
      "--num-requests 12 --input-len 16 --output-len 24 --range-ratio 0.5 --seed 5 --warmup 2";
  nlohmann::json results[2];
  for (int unary = 0; unary < 2; ++unary) {
    SCOPED_TRACE(unary ? "unary" : "stream");
    const Scrape before = ScrapeServer(server);
    int exit_code = 0;
    std::string out;
    results[unary] = RunBench(server,
                              absl::StrCat(workload, " --concurrency 4 --stream=",
                                           unary ? "false" : "true"),
                              &exit_code, &out);
    ASSERT_EQ(exit_code, 0) << out << server.log();  // 2 = cross-check mismatch
    EXPECT_THAT(out, HasSubstr("Server cross-check"));
    EXPECT_THAT(out, ::testing::Not(HasSubstr("MISMATCH")));
    const nlohmann::json& j = results[unary];
    const Scrape after = ScrapeServer(server);
    EXPECT_EQ(j["completed"], 12);
    EXPECT_EQ(j["failed"], 0);
    // Warm-up requests happen before the bench's own "before" scrape, but after ours.
    EXPECT_EQ(j["completed"].get<double>() + 2,
              Total(after, "llmserve_request_success_total") -
                  Total(before, "llmserve_request_success_total"));
    int64_t input = 0, output = 0;
    for (int n : j["input_lens"]) input += n;
    for (int n : j["output_lens"]) output += n;
    EXPECT_EQ(j["total_input_tokens"], input);
    EXPECT_EQ(j["total_output_tokens"], output);
    EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];
    for (const nlohmann::json& line : j["server_cross_check"]["lines"]) {
      if (line["checked"].get<bool>()) {
        EXPECT_EQ(line["client"], line["server"]) << line;
      }
    }
    // The random workload sends token ids: prompt tokens are exactly its lengths.
    EXPECT_GE(input, 12 * 8);
    EXPECT_LE(input, 12 * 24);
  }
  EXPECT_EQ(results[0]["input_lens"], results[1]["input_lens"]);
  EXPECT_EQ(results[0]["output_lens"], results[1]["output_lens"]);
  EXPECT_EQ(results[0]["total_output_tokens"], results[1]["total_output_tokens"]);
}

TEST_F(RealServerBenchTest, PrefixWorkloadHitsThePrefixCache) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({}))) << server.error();
  int exit_code = 0;
  std::string out;
  // 2 prefixes of 64 tokens (4 blocks of 16), 4 suffixes each, one at a time:
  // every request after the first of its prefix reuses the prefix's blocks.
  const nlohmann::json j = RunBench(server,
                                    "--workload prefix --num-prefixes 2 --prefix-len 64 "
                                    "--input-len 8 --output-len 4 --concurrency 1 --num-requests 8",
                                    &exit_code, &out);
  ASSERT_EQ(exit_code, 0) << out;
  EXPECT_EQ(j["completed"], 8);
  EXPECT_EQ(j["total_input_tokens"], 8 * 72);
  EXPECT_GE(j["total_cached_tokens"].get<int>(), 6 * 64) << out;
  EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];
}

TEST_F(RealServerBenchTest, BearerTokenAuth) {
  const std::string dir = llmserve::testing::MakeTempDir("llmserve_bench_auth");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/token", "s3cret\n"));
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({"--auth-token-file", dir + "/token"}))) << server.error();
  int exit_code = 0;
  std::string out;
  RunBench(server, "--num-requests 2 --input-len 4 --output-len 2", &exit_code, &out);
  EXPECT_EQ(exit_code, 1);
  EXPECT_THAT(out, HasSubstr("GetModelInfo"));
  const nlohmann::json j =
      RunBench(server, absl::StrCat("--num-requests 2 --input-len 4 --output-len 2 ",
                                    "--auth-token-file ", dir, "/token"),
               &exit_code, &out);
  ASSERT_EQ(exit_code, 0) << out;
  EXPECT_EQ(j["completed"], 2);
}

TEST_F(RealServerBenchTest, BurstBeyondTheQueueLimitIsRefusedNotHung) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({"--max-queued-requests", "1", "--max-num-seqs", "1"})))
      << server.error();
  int exit_code = 0;
  std::string out;
  const nlohmann::json j = RunBench(
      server, "--request-rate inf --num-requests 32 --input-len 8 --output-len 200", &exit_code,
      &out);
  ASSERT_NE(exit_code, 124) << "llmserve-bench hung";
  ASSERT_EQ(exit_code, 0) << out << server.log();
  EXPECT_EQ(j["completed"].get<int>() + j["failed"].get<int>(), 32);
  EXPECT_GE(j["completed"].get<int>(), 1);
  EXPECT_GE(j["failed"].get<int>(), 1) << out;
  ASSERT_TRUE(j["failures_by_code"].contains("RESOURCE_EXHAUSTED")) << j["failures_by_code"];
  EXPECT_EQ(j["failures_by_code"].size(), 1u) << j["failures_by_code"];
  EXPECT_EQ(j["failures_by_code"]["RESOURCE_EXHAUSTED"], j["failed"]);
  EXPECT_EQ(j["total_output_tokens"], j["completed"].get<int>() * 200);
  EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];
  // Refused at admission, before any prefill: the token counts stay comparable.
  for (const nlohmann::json& line : j["server_cross_check"]["lines"]) {
    if (line["name"] == "prompt tokens" || line["name"] == "generation tokens") {
      EXPECT_TRUE(line["checked"].get<bool>()) << line;
      EXPECT_EQ(line["client"], line["server"]) << line;
    }
  }
  // The server is idle afterwards: nothing left running or waiting.
  const Scrape after = ScrapeServer(server);
  EXPECT_EQ(Total(after, "llmserve_num_requests_running"), 0);
  EXPECT_EQ(Total(after, "llmserve_num_requests_waiting"), 0);
}

TEST_F(RealServerBenchTest, SeveralCompletionsWithLogprobsCountEveryCompletionsTokens) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({}))) << server.error();
  // Every issue-#12 option at a value that leaves the lengths fixed (ignore_eos,
  // no stop ids/strings that can match): each request yields n × output-len tokens.
  const std::string workload =
      "--num-requests 6 --input-len 12 --output-len 10 --seed 3 --concurrency 3 --n 2 "
      "--logprobs 2 --prompt-logprobs 1 --min-p 0.05 --repetition-penalty 1.1 "
      "--presence-penalty 0.5 --frequency-penalty 0.25 --logit-bias 5:1.5,7:-2 "
      "--banned-token-ids 9 --min-tokens 2 --priority 1 --sampling-seed 11";
  nlohmann::json results[2];
  for (int unary = 0; unary < 2; ++unary) {
    SCOPED_TRACE(unary ? "unary" : "stream");
    const Scrape before = ScrapeServer(server);
    int exit_code = 0;
    std::string out;
    results[unary] = RunBench(
        server, absl::StrCat(workload, " --stream=", unary ? "false" : "true"), &exit_code, &out);
    ASSERT_EQ(exit_code, 0) << out << server.log();  // 2 = cross-check mismatch
    const nlohmann::json& j = results[unary];
    EXPECT_EQ(j["completed"], 6);
    EXPECT_EQ(j["failed"], 0);
    EXPECT_EQ(j["total_output_tokens"], 6 * 2 * 10) << out;
    for (int n : j["output_lens"]) EXPECT_EQ(n, 2 * 10);
    EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];
    for (const nlohmann::json& line : j["server_cross_check"]["lines"]) {
      if (line["name"] == "generation tokens" || line["name"] == "prompt tokens" ||
          line["name"] == "completed requests") {
        EXPECT_TRUE(line["checked"].get<bool>()) << line;
        EXPECT_EQ(line["client"], line["server"]) << line;
      }
    }
    // Our own scrape agrees too: the server generated n tokens per position.
    const Scrape after = ScrapeServer(server);
    EXPECT_EQ(Total(after, "llmserve_generation_tokens_total") -
                  Total(before, "llmserve_generation_tokens_total"),
              6 * 2 * 10);
    if (!unary) {
      // TTFT and ITL defined over the merged stream of both completions: one
      // TTFT per request and at most 2 × 10 − 1 gaps, all >= 0.
      ASSERT_EQ(j["ttfts"].size(), 6u) << j.dump();
      for (const nlohmann::json& t : j["ttfts"]) EXPECT_GT(t.get<double>(), 0);
      for (const nlohmann::json& gaps : j["itls"]) {
        EXPECT_LE(gaps.size(), 19u);
        for (const nlohmann::json& g : gaps) EXPECT_GE(g.get<double>(), 0);
      }
    }
  }
  EXPECT_EQ(results[0]["output_lens"], results[1]["output_lens"]);
  EXPECT_EQ(results[0]["total_output_tokens"], results[1]["total_output_tokens"]);
}

TEST_F(RealServerBenchTest, InvalidGenerationOptionIsReportedAsInvalidArgument) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({"--max-n", "2"}))) << server.error();
  int exit_code = 0;
  std::string out;
  for (int unary = 0; unary < 2; ++unary) {
    SCOPED_TRACE(unary ? "unary" : "stream");
    const nlohmann::json j = RunBench(
        server,
        absl::StrCat("--num-requests 4 --input-len 4 --output-len 4 --n 3 --stream=",
                     unary ? "false" : "true"),
        &exit_code, &out);
    ASSERT_NE(exit_code, 124) << "llmserve-bench hung";
    ASSERT_EQ(exit_code, 0) << out << server.log();
    EXPECT_EQ(j["completed"], 0);
    EXPECT_EQ(j["failed"], 4);
    ASSERT_TRUE(j["failures_by_code"].contains("INVALID_ARGUMENT")) << j["failures_by_code"];
    EXPECT_EQ(j["failures_by_code"].size(), 1u) << j["failures_by_code"];
    EXPECT_EQ(j["failures_by_code"]["INVALID_ARGUMENT"], 4);
    for (const nlohmann::json& e : j["errors"]) {
      EXPECT_THAT(e.get<std::string>(), HasSubstr("sampling_params.n")) << e;
    }
    EXPECT_EQ(j["total_output_tokens"], 0);
    EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];
  }
  // An unparsable option is a usage error before any request is sent.
  RunBench(server, "--num-requests 1 --input-len 4 --output-len 4 --logit-bias 5", &exit_code,
           &out);
  EXPECT_EQ(exit_code, 1);
  EXPECT_THAT(out, HasSubstr("--logit-bias"));
}

/// What llmserve-bench records of a GenerateStream call read to the end
/// (cancelled after its first message when `cancel_after_first`).
RequestRecord StreamRecord(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                           bool cancel_after_first) {
  RequestRecord record;
  grpc::ClientContext context;
  auto reader = stub.GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  bool first = true;
  while (reader->Read(&message)) {
    record.output_tokens += message.token_ids_size();
    if (message.has_usage()) record.prompt_tokens = static_cast<int>(message.usage().prompt_tokens());
    if (first && cancel_after_first) context.TryCancel();
    first = false;
  }
  const grpc::Status status = reader->Finish();
  record.status = status.error_code();
  record.error = status.error_message();
  record.e2e_seconds = 0.001;
  return record;
}

TEST_F(RealServerBenchTest, FailuresAfterPrefillMakeTokenCountsNotComparable) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(StoriesArgs({}))) << server.error();
  absl::StatusOr<ServerCounters> before = ScrapeServerCounters(server.metrics_url());
  ASSERT_TRUE(before.ok()) << before.status();
  auto stub = v1::Generation::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  // The same prompt twice: one request completes, one is cancelled by the
  // client after its first token (its prefill ran; 480 tokens would follow).
  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.mutable_sampling_params()->set_ignore_eos(true);
  request.mutable_sampling_params()->set_max_tokens(8);
  std::vector<RequestRecord> records;
  records.push_back(StreamRecord(*stub, request, /*cancel_after_first=*/false));
  request.mutable_sampling_params()->set_max_tokens(480);
  records.push_back(StreamRecord(*stub, request, /*cancel_after_first=*/true));
  ASSERT_TRUE(records[0].ok()) << records[0].error;
  ASSERT_EQ(records[0].output_tokens, 8);
  ASSERT_GT(records[0].prompt_tokens, 0);
  ASSERT_EQ(records[1].status, grpc::StatusCode::CANCELLED) << records[1].error;
  ASSERT_GE(records[1].output_tokens, 1);
  const RunStats stats = ComputeRunStats(records, 1.0, GoodputSlo());
  ASSERT_EQ(stats.completed, 1);
  ASSERT_EQ(stats.failed, 1);

  // The handlers record their outcome just before returning (possibly after
  // the client saw the status): scrape until both are in (bounded).
  ServerCounters delta;
  for (int attempt = 0; attempt < 400; ++attempt) {
    absl::StatusOr<ServerCounters> after = ScrapeServerCounters(server.metrics_url());
    ASSERT_TRUE(after.ok()) << after.status();
    delta = Delta(*after, *before);
    if (delta.requests_success == 1 && delta.failures_by_code["CANCELLED"] == 1 &&
        delta.ttft_count == 2) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_EQ(delta.requests_success, 1);
  ASSERT_EQ(delta.failures_by_code["CANCELLED"], 1);
  ASSERT_EQ(delta.ttft_count, 2) << "both prefills ran";
  // The server counts the cancelled request's prompt too: comparing it with
  // the client's (completed requests only) would report a mismatch.
  EXPECT_EQ(delta.prompt_tokens, 2 * stats.total_input_tokens);
  EXPECT_GT(delta.generation_tokens, stats.total_output_tokens);

  const std::vector<CrossCheckLine> lines = CrossCheck(stats, delta);
  EXPECT_TRUE(AllAgree(lines)) << FormatCrossCheck(lines);
  int token_lines = 0, checked_counts = 0;
  for (const CrossCheckLine& line : lines) {
    if (line.name == "prompt tokens" || line.name == "generation tokens") {
      ++token_lines;
      EXPECT_FALSE(line.checked) << line.name;
      EXPECT_THAT(line.note, HasSubstr("1 failed request")) << line.name;
    } else if (line.name == "completed requests" || line.name == "failed CANCELLED") {
      ++checked_counts;
      EXPECT_TRUE(line.checked) << line.name;
      EXPECT_EQ(line.client, line.server) << line.name;
    }
  }
  EXPECT_EQ(token_lines, 2);
  EXPECT_EQ(checked_counts, 2);
}

}  // namespace
}  // namespace llmserve::bench
