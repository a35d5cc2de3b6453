// Run figures from synthetic request records: percentiles as numpy computes
// them, TPOT's definition, exact goodput counts, failures by status code,
// throughput and concurrency.

#include "client/bench/run_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace llmserve::bench {
namespace {

using ::testing::HasSubstr;

RequestRecord Ok(int index, double start, double ttft, double e2e, int output_tokens,
                 int prompt_tokens = 10) {
  RequestRecord r;
  r.index = index;
  r.start_seconds = start;
  r.ttft_seconds = ttft;
  r.e2e_seconds = e2e;
  r.output_tokens = output_tokens;
  r.prompt_tokens = prompt_tokens;
  for (int i = 1; i < output_tokens; ++i) r.itl_seconds.push_back((e2e - ttft) / (output_tokens - 1));
  return r;
}

RequestRecord Failed(int index, grpc::StatusCode code) {
  RequestRecord r;
  r.index = index;
  r.status = code;
  r.e2e_seconds = 0.001;
  return r;
}

TEST(RunStatsTest, PercentilesMatchNumpy) {
  // numpy: np.percentile(range(1, 11), [50, 90, 95, 99]) = [5.5, 9.1, 9.55, 9.91];
  // np.std(range(1, 11)) = 2.8722813232690143.
  const Distribution d = Summarize({10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, {90, 95, 99});
  EXPECT_EQ(d.count, 10);
  EXPECT_DOUBLE_EQ(d.mean, 5.5);
  EXPECT_DOUBLE_EQ(d.median, 5.5);
  EXPECT_NEAR(d.percentiles.at(90), 9.1, 1e-12);
  EXPECT_NEAR(d.percentiles.at(95), 9.55, 1e-12);
  EXPECT_NEAR(d.percentiles.at(99), 9.91, 1e-12);
  EXPECT_NEAR(d.std, 2.8722813232690143, 1e-12);
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.max, 10);
  const Distribution one = Summarize({42}, {99});
  EXPECT_EQ(one.median, 42);
  EXPECT_EQ(one.percentiles.at(99), 42);
  EXPECT_EQ(one.std, 0);
  const Distribution none = Summarize({}, {99});
  EXPECT_EQ(none.count, 0);
  EXPECT_EQ(none.percentiles.at(99), 0);
}

TEST(RunStatsTest, TpotIsDecodeTimePerTokenAfterTheFirst) {
  EXPECT_DOUBLE_EQ(Ok(0, 0, 0.1, 1.0, 10).TpotSeconds(), 0.1);
  EXPECT_EQ(Ok(0, 0, 0.1, 0.1, 1).TpotSeconds(), -1);  // one token: undefined
  RequestRecord unary = Ok(0, 0, 1.0, 1.0, 10);
  unary.unary = true;
  EXPECT_EQ(unary.TpotSeconds(), -1);
  EXPECT_EQ(Failed(0, grpc::StatusCode::INTERNAL).TpotSeconds(), -1);
}

TEST(RunStatsTest, GoodputCountsRequestsMeetingEverySlo) {
  absl::StatusOr<GoodputSlo> slo = ParseGoodput("ttft:200,tpot:50,e2el:1000");
  ASSERT_TRUE(slo.ok()) << slo.status();
  std::vector<RequestRecord> records = {
      Ok(0, 0.0, 0.100, 0.420, 9),   // good: TPOT 40 ms
      Ok(1, 0.0, 0.300, 0.400, 5),   // TTFT 300 > 200
      Ok(2, 0.1, 0.100, 0.900, 9),   // TPOT 100 > 50
      Ok(3, 0.1, 0.150, 1.200, 50),  // e2e 1200 > 1000
      Ok(4, 0.2, 0.050, 0.050, 1),   // good: no TPOT, meets the rest
      Ok(5, 0.2, 0.199, 0.599, 11),  // good: tpot 40
      Failed(6, grpc::StatusCode::RESOURCE_EXHAUSTED),
  };
  const RunStats s = ComputeRunStats(records, 2.0, *slo);
  EXPECT_EQ(s.good_requests, 3);
  EXPECT_DOUBLE_EQ(s.request_goodput, 1.5);
  // Without SLOs every completed request is good.
  EXPECT_EQ(ComputeRunStats(records, 2.0, GoodputSlo()).good_requests, 6);
  // One objective at a time.
  EXPECT_EQ(ComputeRunStats(records, 2.0, *ParseGoodput("ttft:200")).good_requests, 5);
  EXPECT_EQ(ComputeRunStats(records, 2.0, *ParseGoodput("tpot:50")).good_requests, 5);
  EXPECT_EQ(ComputeRunStats(records, 2.0, *ParseGoodput("e2el:1000")).good_requests, 5);
}

TEST(RunStatsTest, CountsThroughputFailuresAndConcurrency) {
  std::vector<RequestRecord> records = {
      Ok(0, 0.0, 0.1, 1.0, 10, 7), Ok(1, 0.5, 0.1, 1.0, 20, 8), Ok(2, 1.0, 0.1, 1.0, 30, 9),
      Failed(3, grpc::StatusCode::RESOURCE_EXHAUSTED),
      Failed(4, grpc::StatusCode::RESOURCE_EXHAUSTED),
      Failed(5, grpc::StatusCode::UNAVAILABLE)};
  records[3].start_seconds = records[4].start_seconds = records[5].start_seconds = 1.9;
  const RunStats s = ComputeRunStats(records, 2.0, GoodputSlo());
  EXPECT_EQ(s.num_requests, 6);
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.failed, 3);
  EXPECT_EQ(s.failures_by_code.at("RESOURCE_EXHAUSTED"), 2);
  EXPECT_EQ(s.failures_by_code.at("UNAVAILABLE"), 1);
  EXPECT_EQ(s.total_input_tokens, 24);
  EXPECT_EQ(s.total_output_tokens, 60);
  EXPECT_DOUBLE_EQ(s.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(s.output_throughput, 30);
  EXPECT_DOUBLE_EQ(s.total_token_throughput, 42);
  // [0,1), [0.5,1.5), [1,2), three at 1.9 (1 ms each): at most 2 + ... = the
  // three failures overlap with request 2 → 4.
  EXPECT_EQ(s.peak_concurrency, 4);
  EXPECT_NEAR(s.achieved_concurrency, (3.0 + 0.003) / 2.0, 1e-12);
  EXPECT_EQ(s.ttft_ms.count, 3);
  EXPECT_NEAR(s.ttft_ms.mean, 100, 1e-9);
  EXPECT_EQ(s.itl_ms.count, 9 + 19 + 29);
  EXPECT_NEAR(s.e2el_ms.median, 1000, 1e-9);
  // Token arrival times: request 0 spans [0.1, 1.0), request 1 [0.6, 1.5), 2 [1.1, 2.0].
  EXPECT_GT(s.max_output_tokens_per_s, 0);
  EXPECT_LE(s.max_output_tokens_per_s, 60);
}

TEST(RunStatsTest, FailedRequestsTokensForTheCrossCheck) {
  std::vector<RequestRecord> records = {Ok(0, 0.0, 0.1, 1.0, 10, 7),
                                        Failed(1, grpc::StatusCode::CANCELLED),
                                        Failed(2, grpc::StatusCode::DEADLINE_EXCEEDED),
                                        Failed(3, grpc::StatusCode::DEADLINE_EXCEEDED)};
  records[1].sent_prompt_tokens = 11;  // cancelled after 4 tokens: its prefill ran
  records[1].output_tokens = 4;
  records[1].max_output_tokens = 64;
  records[2].sent_prompt_tokens = 12;  // no token: its prefill may have run
  records[2].max_output_tokens = 32;   // max_tokens 16 × n 2
  records[3].sent_prompt_tokens = 13;
  records[3].output_tokens = 1;
  records[3].max_output_tokens = 8;
  RunStats s = ComputeRunStats(records, 1.0, GoodputSlo());
  EXPECT_EQ(s.failed_prompt_tokens_prefilled, 11 + 13);
  EXPECT_EQ(s.failed_prompt_tokens_maybe, 12);
  EXPECT_EQ(s.failed_output_tokens_received, 5);
  EXPECT_EQ(s.failed_output_tokens_max, 64 + 32 + 8);
  EXPECT_EQ(s.total_input_tokens, 7);  // completed requests only
  EXPECT_EQ(s.deadline_failures_with_tokens, 1);  // request 3
  // One failed text prompt (length unknown): the prompt sums are unknown.
  records[2].sent_prompt_tokens = -1;
  s = ComputeRunStats(records, 1.0, GoodputSlo());
  EXPECT_EQ(s.failed_prompt_tokens_prefilled, -1);
  EXPECT_EQ(s.failed_prompt_tokens_maybe, -1);
}

TEST(RunStatsTest, TpotObjectiveNeedsStreamedCalls) {
  // A unary call has no TPOT: a tpot objective would count every request as good.
  RequestRecord unary = Ok(0, 0, 1.0, 1.0, 10);
  unary.unary = true;
  EXPECT_EQ(unary.TpotSeconds(), -1);
  const absl::Status rejected = ValidateGoodputForCalls(*ParseGoodput("ttft:500,tpot:50"), false);
  EXPECT_EQ(rejected.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rejected.message()), HasSubstr("tpot"));
  EXPECT_THAT(std::string(rejected.message()), HasSubstr("--stream=false"));
  EXPECT_TRUE(ValidateGoodputForCalls(*ParseGoodput("ttft:500,tpot:50"), true).ok());
  EXPECT_TRUE(ValidateGoodputForCalls(*ParseGoodput("ttft:500,e2el:900"), false).ok());
  EXPECT_TRUE(ValidateGoodputForCalls(GoodputSlo(), false).ok());
}

TEST(RunStatsTest, ParseGoodputRejectsBadSpecs) {
  EXPECT_TRUE(ParseGoodput("").ok());
  EXPECT_TRUE(ParseGoodput("").value().empty());
  EXPECT_EQ(*ParseGoodput(" ttft : 500 ").value().ttft_ms, 500);
  for (const auto& [spec, what] : std::vector<std::pair<std::string, std::string>>{
           {"ttfb:5", "unknown metric"},
           {"ttft:abc", "KEY:MILLISECONDS"},
           {"ttft:-1", "KEY:MILLISECONDS"},
           {"ttft", "KEY:MILLISECONDS"},
           {"ttft:1,ttft:2", "given twice"}}) {
    absl::StatusOr<GoodputSlo> slo = ParseGoodput(spec);
    ASSERT_FALSE(slo.ok()) << spec;
    EXPECT_THAT(std::string(slo.status().message()), HasSubstr(what)) << spec;
  }
}

}  // namespace
}  // namespace llmserve::bench
