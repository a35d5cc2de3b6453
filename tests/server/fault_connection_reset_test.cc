// Fault: clients whose TCP connection is reset mid-stream. 1,000 raw HTTP/2
// clients (tests/server/raw_grpc_connection.h) each start a long GenerateStream
// on stories260K (every 10th with n = 2 and logprobs), 100 at a time, and
// each resets its connection (RST, SO_LINGER 0) as soon as its first
// streamed message arrived. Afterwards every one of them has exactly one
// recorded outcome (CANCELLED, or success had the engine finished it before
// the server read the RST: never lost, never another code), the engine holds
// no request and no KV block, the gauges read zero, no call is left in the
// service, and a normal request is served with the same tokens as before.
// Also: connections of 50 multiplexed streams reset at once, and resets of
// calls still queued (streamed and unary).

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "tests/server/metrics_scrape.h"
#include "tests/server/raw_grpc_connection.h"
#include "tests/server/stories_server.h"
#include "tests/server/stub_calls.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::RawGrpcConnection;
using ::llmserve::testing::Scrape;

constexpr int kClients = 1000;
constexpr int kWave = 100;  // connections open at once

using ConnectionResetFaultTest = StoriesServerTest;

TEST_F(ConnectionResetFaultTest, ThousandResetStreamsAreAllFreedAndTheServerServes) {
  StartServer();
  v1::GenerateRequest normal;
  normal.set_text("Once upon a time");
  normal.mutable_sampling_params()->set_max_tokens(32);
  normal.mutable_sampling_params()->set_temperature(0);  // greedy: comparable before and after
  v1::GenerateResponse before;
  ASSERT_TRUE(llmserve::testing::CallGenerate(*stub_, normal, &before).ok());
  auto successes = [](const Scrape& scrape) {
    double total = 0;
    for (const llmserve::testing::Sample& s : scrape.samples()) {
      if (s.name == "llmserve_request_success_total") total += s.value;
    }
    return total;
  };
  const double calls_before = CallsRecorded(ScrapeMetrics());
  const double successes_before = successes(ScrapeMetrics());

  v1::GenerateRequest long_request;
  long_request.set_text("Tom and his dog");
  long_request.mutable_sampling_params()->set_max_tokens(500);  // far longer than a wave
  long_request.mutable_sampling_params()->set_ignore_eos(true);
  const std::string message = long_request.SerializeAsString();
  // Every 10th asks for two completions with logprobs: larger messages, and
  // two sequences per request to free.
  v1::GenerateRequest wide_request = long_request;
  wide_request.mutable_sampling_params()->set_n(2);
  wide_request.mutable_sampling_params()->set_logprobs(5);
  const std::string wide_message = wide_request.SerializeAsString();

  std::atomic<int> started{0};
  for (int wave = 0; wave < kClients / kWave; ++wave) {
    std::vector<RawGrpcConnection> clients(kWave);
    for (int i = 0; i < kWave; ++i) {
      ASSERT_TRUE(clients[i].Start(app_->port(), "/llmserve.v1.Generation/GenerateStream",
                                   i % 10 == 0 ? wide_message : message));
    }
    // Each is reset as soon as its first token arrived (mid-stream), by a
    // thread of its own: a client whose stream waits for a batch slot must
    // not hold up the resets of those streaming meanwhile.
    std::vector<std::thread> resetters;
    for (RawGrpcConnection& c : clients) {
      resetters.emplace_back([&c, &started] {
        if (c.WaitForData()) ++started;
        c.Reset();
      });
    }
    for (std::thread& t : resetters) t.join();
  }
  EXPECT_EQ(started.load(), kClients) << "some streams never started";

  // Every reset call ends exactly once (the handlers record their outcome
  // once the engine has let go of the request): wait for all of them.
  Scrape scrape("");
  for (int i = 0; i < 6000; ++i) {
    scrape = ScrapeMetrics();
    if (CallsRecorded(scrape) - calls_before >= kClients) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const double cancelled = scrape.Value("llmserve_request_failure_total", {{"code", "CANCELLED"}});
  const double completed = successes(scrape) - successes_before;
  EXPECT_EQ(CallsRecorded(scrape) - calls_before, kClients) << scrape.text();
  EXPECT_EQ(cancelled + completed, kClients) << "an outcome other than CANCELLED or success";
  // Normally all are cancelled; on a starved machine the engine may finish a
  // few before the server has read the RST (then they are successes).
  EXPECT_GE(cancelled, kClients / 2) << "the resets came too late to test anything";
  std::printf("%d reset streams: %g cancelled, %g completed before the reset was seen\n", kClients,
              cancelled, completed);
  EXPECT_EQ(log_entries_.load(), kClients + 1);

  // Nothing is held any more: no request in the engine, no KV block, no call.
  ASSERT_TRUE(WaitForIdle()) << "requests or KV blocks leaked: running "
                             << app_->engine().GetStats().num_running << ", waiting "
                             << app_->engine().GetStats().num_waiting << ", KV blocks "
                             << app_->engine().GetStats().num_kv_blocks_used << ", calls "
                             << app_->service()->active_calls();
  const EngineStats stats = app_->engine().GetStats();
  EXPECT_EQ(stats.kv_cache_usage, 0.0);
  scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("llmserve_num_requests_running"), 0);
  EXPECT_EQ(scrape.Value("llmserve_num_requests_waiting"), 0);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_usage_ratio"), 0);

  // The server is up and serves a normal request, unchanged.
  EXPECT_TRUE(app_->serving());
  v1::GenerateResponse after;
  const grpc::Status status = llmserve::testing::CallGenerate(*stub_, normal, &after);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(std::vector<uint32_t>(after.token_ids().begin(), after.token_ids().end()),
            std::vector<uint32_t>(before.token_ids().begin(), before.token_ids().end()));
}

// One client process's connection carrying many streams, reset: 20
// connections of 50 multiplexed streams each, every stream started, then each
// connection reset. All 1,000 calls end (CANCELLED) and leave nothing behind.
TEST_F(ConnectionResetFaultTest, ResetConnectionsOfFiftyStreamsEachFreeThemAll) {
  // Room for all 1,000 in one batch: a connection is reset once all its
  // streams have started, which with fewer slots could wait on the streams of
  // other connections running to their end.
  StartServer([](EngineOptions& o) {
    o.max_num_seqs = 1024;
    o.max_num_batched_tokens = 8192;
    o.kv_cache_tokens = 65536;
  });
  v1::GenerateRequest request;
  request.set_text("Tom and his dog");
  request.mutable_sampling_params()->set_max_tokens(500);
  request.mutable_sampling_params()->set_ignore_eos(true);
  constexpr int kConnections = 20, kStreams = 50;
  std::vector<RawGrpcConnection> clients(kConnections);
  for (RawGrpcConnection& c : clients) {
    ASSERT_TRUE(c.Start(app_->port(), "/llmserve.v1.Generation/GenerateStream",
                        request.SerializeAsString(), kStreams));
  }
  std::atomic<int> started{0};
  std::vector<std::thread> resetters;
  for (RawGrpcConnection& c : clients) {
    resetters.emplace_back([&c, &started] {
      if (c.WaitForData()) ++started;
      c.Reset();
    });
  }
  for (std::thread& t : resetters) t.join();
  EXPECT_EQ(started.load(), kConnections) << "some connections' streams never all started";

  Scrape scrape("");
  for (int i = 0; i < 6000; ++i) {
    scrape = ScrapeMetrics();
    if (CallsRecorded(scrape) >= kConnections * kStreams) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(CallsRecorded(scrape), kConnections * kStreams) << scrape.text();
  EXPECT_GE(scrape.Value("llmserve_request_failure_total", {{"code", "CANCELLED"}}),
            kConnections * kStreams / 2);
  ASSERT_TRUE(WaitForIdle()) << "running " << app_->engine().GetStats().num_running << ", waiting "
                             << app_->engine().GetStats().num_waiting << ", KV blocks "
                             << app_->engine().GetStats().num_kv_blocks_used << ", calls "
                             << app_->service()->active_calls();
  EXPECT_EQ(ScrapeMetrics().Value("llmserve_kv_cache_usage_ratio"), 0);
  v1::GenerateResponse response;
  request.mutable_sampling_params()->set_max_tokens(8);
  const grpc::Status status = llmserve::testing::CallGenerate(*stub_, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.token_ids_size(), 8);
}

// The same fault before the first token: streamed and unary calls queued in
// the engine (scheduling paused, so they are all waiting when the RSTs come)
// are each recorded as CANCELLED, and leave nothing behind.
TEST_F(ConnectionResetFaultTest, ResetsOfQueuedStreamedAndUnaryCallsFreeEverything) {
  StartServer();
  v1::GenerateRequest request;
  request.set_text("Lily liked the park");
  request.mutable_sampling_params()->set_max_tokens(64);
  const std::string message = request.SerializeAsString();
  constexpr int kEach = 100;
  for (int round = 0; round < 2; ++round) {
    app_->engine().SetSchedulingPausedForTesting(true);
    std::vector<RawGrpcConnection> clients(2 * kEach);
    for (int i = 0; i < 2 * kEach; ++i) {
      ASSERT_TRUE(clients[i].Start(app_->port(),
                                   i % 2 == 0 ? "/llmserve.v1.Generation/GenerateStream"
                                              : "/llmserve.v1.Generation/Generate",
                                   message));
    }
    for (int i = 0; i < 6000 && app_->engine().GetStats().num_waiting < 2 * kEach; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(app_->engine().GetStats().num_waiting, 2 * kEach);
    for (RawGrpcConnection& c : clients) c.Reset();

    Scrape scrape("");
    for (int i = 0; i < 6000; ++i) {
      scrape = ScrapeMetrics();
      if (CallsRecorded(scrape) >= 2 * kEach * (round + 1)) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "CANCELLED"}}),
              2 * kEach * (round + 1));
    EXPECT_EQ(CallsRecorded(scrape), 2 * kEach * (round + 1));
    // Aborts are served while scheduling is paused: the queue empties.
    ASSERT_TRUE(WaitForIdle()) << "waiting " << app_->engine().GetStats().num_waiting << ", calls "
                               << app_->service()->active_calls();
    app_->engine().SetSchedulingPausedForTesting(false);
  }
  const Scrape scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("llmserve_num_requests_waiting"), 0);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_usage_ratio"), 0);
  v1::GenerateResponse response;
  const grpc::Status status = llmserve::testing::CallGenerate(*stub_, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.token_ids_size(), 0);
}

}  // namespace
}  // namespace llmserve::server
