// LoadDriver against FakeGenerationServer with injected delays: the measured
// TTFT, ITL, TPOT and e2e latency agree with the injected ones, goodput and
// failure counts are exact, closed and open loops keep the requested number
// of calls in flight, unary and streaming calls count the same tokens.
//
// Tolerance of the latency checks: a token cannot reach the client before the
// server's schedule sends it, so TTFT, TTFT + the sum of the gaps (the last
// token's arrival) and e2e are >= their injected values (minus 1 ms for the
// clocks' granularity) exactly; the upper bounds allow 50 % + 150 ms of
// delivery delay (seen on a 2-core machine running 4 copies of this test next
// to compilers); the mean gap and TPOT are checked within 50 %. None of the
// checks depends on how fast the machine is.

#include "client/bench/load_driver.h"

#include <gtest/gtest.h>

#include "client/bench/arrival.h"
#include "client/bench/fake_generation_server.h"
#include "client/bench/grpc_backend.h"
#include "client/bench/run_stats.h"
#include "tests/bench/callback_queue_keepalive.h"

namespace llmserve::bench {
namespace {

struct Fixture {
  explicit Fixture(FakeServerOptions options) {
    llmserve::testing::KeepCallbackQueueAlive();
    auto started = FakeGenerationServer::Start(std::move(options));
    EXPECT_TRUE(started.ok()) << started.status();
    server = *std::move(started);
    driver = std::make_unique<LoadDriver>(
        std::make_unique<GrpcBackend>(std::vector<std::shared_ptr<grpc::Channel>>{
            grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials())}));
  }
  std::unique_ptr<FakeGenerationServer> server;
  std::unique_ptr<LoadDriver> driver;
};

std::vector<BenchRequest> Workload(int n, int prompt_len, int max_tokens) {
  RandomWorkloadOptions o;
  o.num_requests = n;
  o.input_len = prompt_len;
  o.output_len = max_tokens;
  o.vocab_size = 100;
  return RandomWorkload(o).value();
}

LoadOptions Closed(int concurrency, int n) {
  LoadOptions o;
  o.concurrency = concurrency;
  o.num_requests = n;
  o.timeout_seconds = 120;  // nothing can hang the test
  return o;
}

TEST(LoadDriverTest, MeasuredLatenciesMatchInjectedDelays) {
  constexpr double kTtft = 0.060, kItl = 0.015;
  constexpr int kTokens = 24;
  FakeServerOptions fake;
  fake.ttft_seconds = kTtft;
  fake.itl_seconds = kItl;
  Fixture f(fake);
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(8, 5, kTokens), Closed(4, 8));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->records.size(), 8u);
  const RunStats s = ComputeRunStats(run->records, run->duration_seconds, GoodputSlo());
  EXPECT_EQ(s.completed, 8);
  EXPECT_EQ(s.total_output_tokens, 8 * kTokens);
  EXPECT_EQ(s.total_input_tokens, 8 * 5);
  const double slack = 0.001;
  const double late = 0.150;
  const double last_due = kTtft + (kTokens - 1) * kItl;
  double gaps = 0;
  for (const RequestRecord& r : run->records) {
    SCOPED_TRACE(r.index);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.output_tokens, kTokens);
    EXPECT_EQ(r.finish_reason, "length");
    EXPECT_GE(r.ttft_seconds, kTtft - slack);
    EXPECT_LE(r.ttft_seconds, kTtft * 1.5 + late);
    ASSERT_EQ(r.itl_seconds.size(), static_cast<size_t>(kTokens - 1));
    double sum = 0;
    for (double gap : r.itl_seconds) sum += gap;
    gaps += sum;
    EXPECT_GE(r.ttft_seconds + sum, last_due - slack);  // the last token's arrival
    EXPECT_LE(r.ttft_seconds + sum, last_due * 1.5 + late);
    EXPECT_GE(r.e2e_seconds, last_due - slack);
    EXPECT_LE(r.e2e_seconds, last_due * 1.5 + late);
    // The server's span lies inside the client's.
    EXPECT_GT(r.server_e2e_seconds, 0);
    EXPECT_LE(r.server_e2e_seconds, r.e2e_seconds);
  }
  EXPECT_NEAR(gaps / (8 * (kTokens - 1)), kItl, kItl * 0.5);
  EXPECT_GE(s.ttft_ms.mean, (kTtft - slack) * 1e3);
  EXPECT_LE(s.ttft_ms.mean, (kTtft * 1.5 + late) * 1e3);
  EXPECT_NEAR(s.tpot_ms.mean, kItl * 1e3, kItl * 1e3 * 0.5);
  EXPECT_NEAR(s.itl_ms.mean, kItl * 1e3, kItl * 1e3 * 0.5);
  EXPECT_GE(s.e2el_ms.mean, (last_due - slack) * 1e3);
  EXPECT_LE(s.e2el_ms.mean, (last_due * 1.5 + late) * 1e3);
  EXPECT_EQ(s.itl_ms.count, 8 * (kTokens - 1));
  EXPECT_EQ(s.server_e2el_ms.count, 8);
  EXPECT_LE(s.server_e2el_ms.mean, s.e2el_ms.mean);
  EXPECT_NEAR(s.ttft_ms.median, kTtft * 1e3, kTtft * 1e3 * 0.5 + 50);
  EXPECT_NEAR(s.tpot_ms.mean, kItl * 1e3, kItl * 1e3 * 0.5 + 5);
  EXPECT_NEAR(s.itl_ms.median, kItl * 1e3, kItl * 1e3 * 0.5 + 5);
  EXPECT_EQ(s.itl_ms.count, 8 * (kTokens - 1));
}

TEST(LoadDriverTest, GoodputCountsAreExact) {
  // Even arrivals: TTFT 10 ms; odd: 400 ms. An SLO of 150 ms splits them exactly.
  FakeServerOptions fake;
  fake.ttft_for = [](int arrival) { return arrival % 2 == 0 ? 0.010 : 0.400; };
  fake.itl_seconds = 0.001;
  Fixture f(fake);
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(10, 3, 4), Closed(2, 10));
  ASSERT_TRUE(run.ok()) << run.status();
  const RunStats s = ComputeRunStats(run->records, run->duration_seconds,
                                     ParseGoodput("ttft:150").value());
  EXPECT_EQ(s.completed, 10);
  EXPECT_EQ(s.good_requests, 5);
  EXPECT_DOUBLE_EQ(s.request_goodput, 5 / run->duration_seconds);
  // e2e: fast ones ~13 ms, slow ones >= 403 ms.
  EXPECT_EQ(ComputeRunStats(run->records, run->duration_seconds, ParseGoodput("e2el:200").value())
                .good_requests,
            5);
}

TEST(LoadDriverTest, FailuresAreCountedByStatusCode) {
  FakeServerOptions fake;
  fake.fail_for = [](int arrival) {
    if (arrival % 5 == 1) return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
    if (arrival % 5 == 2) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining");
    return grpc::Status::OK;
  };
  for (bool stream : {true, false}) {
    SCOPED_TRACE(stream ? "stream" : "unary");
    Fixture f(fake);
    LoadOptions o = Closed(1, 20);  // one at a time: arrival order = send order
    o.stream = stream;
    absl::StatusOr<RunResult> run = f.driver->Run(Workload(20, 3, 4), o);
    ASSERT_TRUE(run.ok()) << run.status();
    const RunStats s = ComputeRunStats(run->records, run->duration_seconds, GoodputSlo());
    EXPECT_EQ(s.completed, 12);
    EXPECT_EQ(s.failed, 8);
    EXPECT_EQ(s.failures_by_code.at("RESOURCE_EXHAUSTED"), 4);
    EXPECT_EQ(s.failures_by_code.at("UNAVAILABLE"), 4);
    EXPECT_EQ(s.failures_by_code.size(), 2u);
    EXPECT_EQ(run->records[1].status, grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(run->records[1].error, "queue full");
    EXPECT_EQ(s.total_output_tokens, 12 * 4);
  }
}

TEST(LoadDriverTest, ClosedLoopKeepsConcurrencyInFlight) {
  FakeServerOptions fake;
  fake.hold_first_calls = 3;  // the first 3 stay open until all 3 have arrived
  fake.itl_seconds = 0.001;
  Fixture f(fake);
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(9, 3, 5), Closed(3, 9));
  ASSERT_TRUE(run.ok()) << run.status();
  const RunStats s = ComputeRunStats(run->records, run->duration_seconds, GoodputSlo());
  EXPECT_EQ(s.completed, 9);
  EXPECT_EQ(s.peak_concurrency, 3);  // never more than asked, and all 3 reached
}

TEST(LoadDriverTest, OpenLoopArrivalsDoNotWaitForResponses) {
  // The server answers nothing until all 16 calls have arrived: only a sender
  // that never waits for responses can finish this run.
  FakeServerOptions fake;
  fake.hold_first_calls = 16;
  Fixture f(fake);
  LoadOptions o;
  o.request_rate = kInfiniteRate;
  o.num_requests = 16;
  o.timeout_seconds = 120;
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(16, 3, 3), o);
  ASSERT_TRUE(run.ok()) << run.status();
  const RunStats s = ComputeRunStats(run->records, run->duration_seconds, GoodputSlo());
  EXPECT_EQ(s.completed, 16);
  EXPECT_EQ(f.server->max_in_flight(), 16);
  EXPECT_EQ(s.peak_concurrency, 16);
  // A finite Poisson rate sends the same requests.
  o.request_rate = 400;
  Fixture g(FakeServerOptions{});
  run = g.driver->Run(Workload(16, 3, 3), o);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(ComputeRunStats(run->records, run->duration_seconds, GoodputSlo()).completed, 16);
  for (size_t i = 1; i < run->records.size(); ++i) {
    EXPECT_GE(run->records[i].start_seconds, run->records[i - 1].start_seconds);
  }
}

TEST(LoadDriverTest, UnaryAndStreamingCountTheSameTokens) {
  FakeServerOptions fake;
  fake.itl_seconds = 0.001;
  Fixture f(fake);
  RandomWorkloadOptions w;
  w.num_requests = 12;
  w.input_len = 10;
  w.output_len = 10;
  w.range_ratio = 0.5;
  w.vocab_size = 100;
  const std::vector<BenchRequest> workload = RandomWorkload(w).value();
  LoadOptions o = Closed(4, 12);
  absl::StatusOr<RunResult> stream = f.driver->Run(workload, o);
  o.stream = false;
  absl::StatusOr<RunResult> unary = f.driver->Run(workload, o);
  ASSERT_TRUE(stream.ok() && unary.ok());
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(stream->records[i].output_tokens, workload[i].max_tokens);
    EXPECT_EQ(unary->records[i].output_tokens, workload[i].max_tokens);
    EXPECT_EQ(stream->records[i].prompt_tokens, unary->records[i].prompt_tokens);
    EXPECT_TRUE(unary->records[i].itl_seconds.empty());
    EXPECT_EQ(unary->records[i].ttft_seconds, unary->records[i].e2e_seconds);
  }
}

TEST(LoadDriverTest, DeadlineEndsCallsThatTakeTooLong) {
  FakeServerOptions fake;
  fake.ttft_seconds = 1.5;
  Fixture f(fake);
  LoadOptions o = Closed(4, 4);
  o.timeout_seconds = 0.1;
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(4, 3, 3), o);
  ASSERT_TRUE(run.ok());
  const RunStats s = ComputeRunStats(run->records, run->duration_seconds, GoodputSlo());
  EXPECT_EQ(s.failures_by_code.at("DEADLINE_EXCEEDED"), 4);
  EXPECT_EQ(s.completed, 0);
}

TEST(LoadDriverTest, DurationStopsSending) {
  FakeServerOptions fake;
  fake.ttft_seconds = 0.02;
  Fixture f(fake);
  LoadOptions o = Closed(2, 1000000);
  o.duration_seconds = 0.3;
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(5, 3, 1), o);
  ASSERT_TRUE(run.ok());
  // At most 2 in flight, each >= 20 ms: at most 2 * (0.3 / 0.02 + 1) sent.
  EXPECT_GE(run->records.size(), 2u);
  EXPECT_LE(run->records.size(), 32u);
  for (const RequestRecord& r : run->records) EXPECT_TRUE(r.ok()) << r.error;
}

TEST(LoadDriverTest, RejectsBadOptions) {
  Fixture f(FakeServerOptions{});
  EXPECT_FALSE(f.driver->Run({}, Closed(1, 1)).ok());
  EXPECT_FALSE(f.driver->Run(Workload(1, 1, 1), Closed(1, 0)).ok());
  LoadOptions o;
  o.num_requests = 1;
  o.request_rate = 0;
  EXPECT_EQ(f.driver->Run(Workload(1, 1, 1), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmserve::bench
