// The load driver with the OpenAI-compatible HTTP backend against
// FakeOpenAIServer (Boost.Beast, server-sent events with injected delays and
// faults): token, request and status counts are exact; TTFT / ITL are
// recorded per token-carrying chunk as on the gRPC path (one ITL per token
// after the first); every server fault (HTTP 429 / 500 / 401, a malformed
// chunk, an error chunk, a connection closed mid-stream, a stream without
// [DONE], nobody listening, a silent server) ends its request as a failure
// with its status, never a hang; client cancels close the connection after
// the asked token count. No timed assertion: latencies are only checked to
// exist (>= 0) and be ordered.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "client/bench/fake_openai_server.h"
#include "client/bench/load_driver.h"
#include "client/bench/openai_backend.h"
#include "client/bench/run_stats.h"

namespace llmserve::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Kind = FakeOpenAIFault::Kind;

struct Fixture {
  explicit Fixture(FakeOpenAIServerOptions fake, OpenAIApi api = OpenAIApi::kCompletions,
                   double idle_timeout_seconds = 600) {
    auto started = FakeOpenAIServer::Start(std::move(fake));
    EXPECT_TRUE(started.ok()) << started.status();
    server = *std::move(started);
    OpenAIBackendOptions o;
    o.api = api;
    o.base_url = ParseBaseUrl(server->base_url()).value();
    o.model = "fake-model";
    o.idle_timeout_seconds = idle_timeout_seconds;
    auto backend = OpenAIBackend::Create(o);
    EXPECT_TRUE(backend.ok()) << backend.status();
    driver = std::make_unique<LoadDriver>(*std::move(backend));
  }
  std::unique_ptr<FakeOpenAIServer> server;
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
  o.sampling.set_ignore_eos(true);
  return o;
}

RunStats Stats(const RunResult& run) {
  return ComputeRunStats(run.records, run.duration_seconds, GoodputSlo());
}

TEST(OpenAIBackendTest, StreamedCompletionsRecordEveryToken) {
  FakeOpenAIServerOptions fake;
  fake.ttft_seconds = 0.01;
  fake.itl_seconds = 0.002;
  Fixture f(fake);
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(8, 5, 6), Closed(4, 8));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->records.size(), 8u);
  const RunStats s = Stats(*run);
  EXPECT_EQ(s.completed, 8);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.total_output_tokens, 8 * 6);
  EXPECT_EQ(s.total_input_tokens, 8 * 5);
  EXPECT_EQ(s.itl_ms.count, 8 * 5);
  EXPECT_LE(s.peak_concurrency, 4);
  EXPECT_LE(f.server->max_in_flight(), 4);
  for (const RequestRecord& r : run->records) {
    SCOPED_TRACE(r.index);
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.http_status, 200);
    EXPECT_EQ(r.output_tokens, 6);
    EXPECT_EQ(r.prompt_tokens, 5);
    EXPECT_EQ(r.sent_prompt_tokens, 5);
    EXPECT_EQ(r.max_output_tokens, 6);
    EXPECT_EQ(r.finish_reason, "length");
    EXPECT_EQ(r.itl_seconds.size(), 5u);
    EXPECT_GE(r.ttft_seconds, 0);
    EXPECT_LE(r.ttft_seconds, r.e2e_seconds);
  }
  // What went on the wire: OpenAI's fields, the ids as the prompt.
  const std::vector<nlohmann::json> bodies = f.server->request_bodies();
  ASSERT_EQ(bodies.size(), 8u);
  const nlohmann::json& b = bodies[0];
  EXPECT_EQ(b["model"], "fake-model");
  EXPECT_EQ(b["max_tokens"], 6);
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["ignore_eos"], true);
  EXPECT_TRUE(b["prompt"].is_array());
  EXPECT_EQ(b["prompt"].size(), 5u);
}

TEST(OpenAIBackendTest, ChatRoleChunksAreNotTokens) {
  Fixture f(FakeOpenAIServerOptions{}, OpenAIApi::kChat);
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(6, 4, 7), Closed(3, 6));
  ASSERT_TRUE(run.ok()) << run.status();
  const RunStats s = Stats(*run);
  EXPECT_EQ(s.completed, 6);
  EXPECT_EQ(s.total_output_tokens, 6 * 7);
  for (const RequestRecord& r : run->records) {
    EXPECT_EQ(r.output_tokens, 7);
    EXPECT_EQ(r.itl_seconds.size(), 6u);  // the role-only first chunk is not a token
    EXPECT_EQ(r.sent_prompt_tokens, -1);  // a text prompt
  }
  // Each prompt went as one user message (arrival order is not send order).
  std::multiset<std::string> sent, expected;
  for (const nlohmann::json& b : f.server->request_bodies()) {
    ASSERT_TRUE(b["messages"].is_array());
    EXPECT_EQ(b["messages"][0]["role"], "user");
    sent.insert(b["messages"][0]["content"].get<std::string>());
  }
  for (const BenchRequest& r : Workload(6, 4, 7)) expected.insert(ChatTextForTokenIds(r.token_ids));
  EXPECT_EQ(sent, expected);
}

TEST(OpenAIBackendTest, UnaryAndNGreaterThanOneCountEveryCompletion) {
  Fixture f(FakeOpenAIServerOptions{});
  LoadOptions o = Closed(2, 4);
  o.sampling.set_n(3);
  absl::StatusOr<RunResult> stream = f.driver->Run(Workload(4, 3, 5), o);
  o.stream = false;
  absl::StatusOr<RunResult> unary = f.driver->Run(Workload(4, 3, 5), o);
  ASSERT_TRUE(stream.ok() && unary.ok());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(stream->records[i].output_tokens, 15);
    EXPECT_EQ(stream->records[i].itl_seconds.size(), 14u);  // every completion's tokens
    EXPECT_EQ(stream->records[i].max_output_tokens, 15);
    EXPECT_EQ(unary->records[i].output_tokens, 15);  // usage.completion_tokens
    EXPECT_TRUE(unary->records[i].unary);
    EXPECT_TRUE(unary->records[i].itl_seconds.empty());
    EXPECT_EQ(unary->records[i].ttft_seconds, unary->records[i].e2e_seconds);
    EXPECT_EQ(unary->records[i].prompt_tokens, 3);
  }
  EXPECT_EQ(f.server->request_bodies().at(0)["n"], 3);
  EXPECT_FALSE(f.server->request_bodies().at(4).contains("stream_options"));
}

TEST(OpenAIBackendTest, ServerFaultsAreFailuresWithTheirStatus) {
  FakeOpenAIServerOptions fake;
  fake.itl_seconds = 0.001;
  fake.fault_for = [](int arrival) {
    FakeOpenAIFault fault;
    switch (arrival % 7) {
      case 1:
        fault = {Kind::kHttpStatus, 429, "queue full", 0};
        break;
      case 2:
        fault = {Kind::kHttpStatus, 500, "boom", 0};
        break;
      case 3:
        fault = {Kind::kMalformedChunk, 0, "", 2};
        break;
      case 4:
        fault = {Kind::kErrorChunk, 503, "engine draining", 1};
        break;
      case 5:
        fault = {Kind::kCloseMidStream, 0, "", 3};
        break;
      case 6:
        fault = {Kind::kNoDone, 0, "", 0};
        break;
      default:
        break;
    }
    return fault;
  };
  Fixture f(fake);
  // One at a time: arrival order = send order.
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(21, 3, 4), Closed(1, 21));
  ASSERT_TRUE(run.ok()) << run.status();
  const RunStats s = Stats(*run);
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.failed, 18);
  EXPECT_EQ(s.total_output_tokens, 3 * 4);
  EXPECT_EQ(s.failures_by_code.at("RESOURCE_EXHAUSTED"), 3);
  EXPECT_EQ(s.failures_by_code.at("INTERNAL"), 9);     // 500, malformed, no [DONE]
  EXPECT_EQ(s.failures_by_code.at("UNAVAILABLE"), 6);  // error chunk 503, closed
  EXPECT_EQ(s.failures_by_code.size(), 3u);
  const std::vector<RequestRecord>& r = run->records;
  EXPECT_EQ(r[1].http_status, 429);
  EXPECT_EQ(r[1].error, "HTTP 429: queue full");
  EXPECT_EQ(r[1].output_tokens, 0);
  EXPECT_EQ(r[2].status, grpc::StatusCode::INTERNAL);
  EXPECT_EQ(r[2].error, "HTTP 500: boom");
  EXPECT_EQ(r[3].status, grpc::StatusCode::INTERNAL);
  EXPECT_THAT(r[3].error, StartsWith("malformed stream chunk"));
  EXPECT_EQ(r[3].output_tokens, 2);
  EXPECT_EQ(r[4].status, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r[4].error, "engine draining");
  EXPECT_EQ(r[4].output_tokens, 1);
  EXPECT_EQ(r[5].status, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r[5].output_tokens, 3);
  EXPECT_EQ(r[6].status, grpc::StatusCode::INTERNAL);
  EXPECT_THAT(r[6].error, HasSubstr("without data: [DONE]"));
  for (int i : {0, 7, 14}) EXPECT_TRUE(r[static_cast<size_t>(i)].ok()) << r[i].error;
}

TEST(OpenAIBackendTest, AuthTokenIsSentAsBearer) {
  FakeOpenAIServerOptions fake;
  fake.auth_token = "s3cret";
  Fixture f(fake);
  LoadOptions o = Closed(2, 4);
  o.auth_token = "s3cret";
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(4, 3, 2), o);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Stats(*run).completed, 4);
  o.auth_token = "wrong";
  run = f.driver->Run(Workload(4, 3, 2), o);
  ASSERT_TRUE(run.ok());
  const RunStats s = Stats(*run);
  EXPECT_EQ(s.failures_by_code.at("UNAUTHENTICATED"), 4);
  EXPECT_EQ(run->records[0].http_status, 401);
}

TEST(OpenAIBackendTest, ClientCancelClosesTheConnectionAfterTheTokens) {
  FakeOpenAIServerOptions fake;
  fake.itl_seconds = 0.002;
  Fixture f(fake);
  LoadOptions o = Closed(4, 8);
  o.mix.cancel_fraction = 1;
  o.mix.cancel_after_tokens = 3;
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(8, 3, 50), o);
  ASSERT_TRUE(run.ok()) << run.status();
  const RunStats s = Stats(*run);
  EXPECT_EQ(s.failures_by_code.at("CANCELLED"), 8);
  for (const RequestRecord& r : run->records) {
    EXPECT_TRUE(r.client_cancelled);
    EXPECT_EQ(r.output_tokens, 3);
  }
}

TEST(OpenAIBackendTest, DeadlineAndSilenceEndCallsAndRefusedConnectionsFail) {
  FakeOpenAIServerOptions slow;
  slow.ttft_seconds = 30;
  {
    Fixture f(slow);
    LoadOptions o = Closed(4, 4);
    o.timeout_seconds = 0.1;
    absl::StatusOr<RunResult> run = f.driver->Run(Workload(4, 3, 3), o);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(Stats(*run).failures_by_code.at("DEADLINE_EXCEEDED"), 4);
  }
  {
    Fixture f(slow, OpenAIApi::kCompletions, /*idle_timeout_seconds=*/0.1);
    LoadOptions o = Closed(2, 2);
    o.timeout_seconds = 0;
    absl::StatusOr<RunResult> run = f.driver->Run(Workload(2, 3, 3), o);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(Stats(*run).failures_by_code.at("UNAVAILABLE"), 2);
    EXPECT_THAT(run->records[0].error, HasSubstr("no data from the server"));
  }
  // Nobody listens on a port whose server is gone.
  std::string url;
  {
    auto gone = FakeOpenAIServer::Start(FakeOpenAIServerOptions{});
    ASSERT_TRUE(gone.ok());
    url = (*gone)->base_url();
  }
  OpenAIBackendOptions o;
  o.base_url = ParseBaseUrl(url).value();
  o.model = "m";
  LoadDriver driver(OpenAIBackend::Create(o).value());
  absl::StatusOr<RunResult> run = driver.Run(Workload(3, 3, 3), Closed(3, 3));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Stats(*run).failures_by_code.at("UNAVAILABLE"), 3);
  EXPECT_THAT(run->records[0].error, StartsWith("connect: "));
}

/// Threads of this process now (/proc/self/status).
int ProcessThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(OpenAIBackendTest, OpenStreamsHoldNoThread) {
  // 150 streams open at once (each waits 300 ms for its first token): the
  // process (test + fake server + backend) never gains a thread per stream.
  FakeOpenAIServerOptions fake;
  fake.ttft_seconds = 0.3;
  Fixture f(fake);
  const int before = ProcessThreads();
  ASSERT_GT(before, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> most{0};
  std::thread sampler([&] {
    while (!stop.load()) {
      most.store(std::max(most.load(), ProcessThreads()));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(150, 3, 2), Closed(150, 150));
  stop.store(true);
  sampler.join();
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Stats(*run).completed, 150);
  EXPECT_LE(most.load(), before + 1);  // + the sampler
}

TEST(OpenAIBackendTest, CreateRejectsBadOptions) {
  OpenAIBackendOptions o;
  o.base_url = ParseBaseUrl("http://127.0.0.1:1").value();
  EXPECT_EQ(OpenAIBackend::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.model = "m";
  o.threads = 0;
  EXPECT_EQ(OpenAIBackend::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmserve::bench
