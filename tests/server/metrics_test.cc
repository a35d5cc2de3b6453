// Prometheus metrics end to end: stories260K behind the gRPC server, the
// exporter on 127.0.0.1 (ephemeral port), /metrics scraped over real HTTP
// after known workloads; the counters and histogram counts must equal what
// was served. Also: deadline and client cancellation free the KV cache.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/metrics.h"
#include "server/server_app.h"
#include "tests/server/metrics_scrape.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::HttpGet;
using ::llmserve::testing::HttpResponse;
using ::llmserve::testing::Scrape;
using ::llmserve::testing::StreamResult;
using ::testing::HasSubstr;

constexpr char kModel[] = "stories260K";

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 2;
    options.max_queued_requests = 256;
    metrics_ = std::make_shared<Metrics>();
    auto engine = LLMEngine::Create(options, metrics_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.metrics_address = "127.0.0.1:0";
    server_options.service.logger = nullptr;
    auto app = ServerApp::Start(*std::move(engine), server_options, metrics_);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    ASSERT_GT(app_->metrics_port(), 0);
    start_stats_ = app_->engine().GetStats();
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }

  void TearDown() override { app_.reset(); }

  Scrape ScrapeMetrics() {
    const HttpResponse response = HttpGet(app_->metrics_port(), "/metrics");
    EXPECT_EQ(response.status, 200) << response.headers;
    return Scrape(response.body);
  }

  static std::map<std::string, std::string> M() { return {{"model", kModel}}; }

  /// Waits (bounded) until the engine holds no request.
  bool WaitForEngineIdle() {
    for (int i = 0; i < 4000; ++i) {
      const EngineStats stats = app_->engine().GetStats();
      if (stats.num_running == 0 && stats.num_waiting == 0) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  /// The per-request map gauges, waiting (bounded) until every one is 0: a
  /// call is released just after the client sees its status. Fails the test
  /// naming the maps still holding entries.
  void ExpectRequestMapsEmpty() {
    const std::vector<std::string> maps = {
        "engine_request_ids", "scheduler_sequences", "kv_block_tables", "runner_sequences",
        "output_sequences",   "output_request_ids",  "server_calls"};
    std::string held;
    for (int attempt = 0; attempt < 400; ++attempt) {
      const Scrape scrape = ScrapeMetrics();
      held.clear();
      for (const std::string& map : maps) {
        const std::optional<double> v =
            scrape.Get("llmserve_request_map_entries", {{"model", kModel}, {"map", map}});
        if (!v.has_value() || *v != 0) {
          absl::StrAppend(&held, " ", map, "=", v.has_value() ? absl::StrCat(*v) : "missing");
        }
      }
      if (held.empty()) return;
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "request maps not empty:" << held;
  }

  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<ServerApp> app_;
  EngineStats start_stats_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

TEST_F(MetricsTest, EveryMetricIsExportedWithHelpTypeAndModelLabel) {
  const Scrape scrape = ScrapeMetrics();
  const std::vector<std::pair<std::string, std::string>> families = {
      {"num_requests_running", "gauge"},
      {"num_requests_waiting", "gauge"},
      {"kv_cache_usage_ratio", "gauge"},
      {"kv_cache_blocks_total", "gauge"},
      {"request_map_entries", "gauge"},
      {"model_info", "gauge"},
      {"prompt_tokens_total", "counter"},
      {"generation_tokens_total", "counter"},
      {"request_success_total", "counter"},
      {"request_failure_total", "counter"},
      {"num_preemptions_total", "counter"},
      {"prefix_cache_queries_total", "counter"},
      {"prefix_cache_hits_total", "counter"},
      {"time_to_first_token_seconds", "histogram"},
      {"inter_token_latency_seconds", "histogram"},
      {"e2e_request_latency_seconds", "histogram"},
      {"request_queue_time_seconds", "histogram"},
      {"request_prefill_time_seconds", "histogram"},
      {"request_decode_time_seconds", "histogram"},
      {"request_prompt_tokens", "histogram"},
      {"request_generation_tokens", "histogram"},
      {"iteration_tokens", "histogram"},
      {"batch_size", "histogram"},
  };
  for (const auto& [family, type] : families) {
    const std::string name = absl::StrCat("llmserve_", family);
    SCOPED_TRACE(name);
    EXPECT_THAT(scrape.text(), HasSubstr(absl::StrCat("# HELP ", name, " ")));
    EXPECT_THAT(scrape.text(), HasSubstr(absl::StrCat("# TYPE ", name, " ", type, "\n")));
    const std::string sample = type == "histogram" ? name + "_count" : name;
    EXPECT_TRUE(scrape.Get(sample, M()).has_value());
  }
  for (const testing::Sample& s : scrape.samples()) {
    if (s.name.rfind("llmserve_", 0) != 0) continue;
    EXPECT_EQ(s.labels.count("model"), 1u) << s.name;
  }
  // Nothing served yet: the warm-up request is not counted.
  EXPECT_EQ(scrape.Value("llmserve_prompt_tokens_total", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_generation_tokens_total", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_e2e_request_latency_seconds_count", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_iteration_tokens_count", M()), 0);
  const EngineOptions& options = app_->engine().options();
  EXPECT_EQ(scrape.Value("llmserve_model_info", {{"model", kModel},
                                                 {"dtype", "f32"},
                                                 {"block_size", absl::StrCat(options.block_size)},
                                                 {"threads", absl::StrCat(EffectiveNumThreads(2).value())}}),
            1);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_blocks_total", M()),
            app_->engine().GetStats().num_kv_blocks_total);
  // The histogram buckets are cumulative up to +Inf.
  EXPECT_TRUE(
      scrape.Get("llmserve_time_to_first_token_seconds_bucket", {{"le", "0.001"}}).has_value());
  EXPECT_TRUE(
      scrape.Get("llmserve_time_to_first_token_seconds_bucket", {{"le", "600"}}).has_value());
  EXPECT_TRUE(
      scrape.Get("llmserve_time_to_first_token_seconds_bucket", {{"le", "+Inf"}}).has_value());
}

TEST_F(MetricsTest, CountersAndHistogramsEqualTheWorkload) {
  constexpr int kRequests = 8;
  std::vector<std::thread> threads;
  std::vector<grpc::Status> statuses(kRequests);
  std::vector<int> prompt_tokens(kRequests), completion_tokens(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      v1::GenerateRequest request;
      request.set_text(i % 3 == 0 ? "Once upon a time" : std::string("Tom had a dog") +
                                                              std::string(i, '!'));
      request.mutable_sampling_params()->set_max_tokens(4 + 3 * i);
      request.mutable_sampling_params()->set_temperature(0.0f);
      request.mutable_sampling_params()->set_ignore_eos(true);
      const v1::Usage* usage = nullptr;
      v1::GenerateResponse response;
      StreamResult stream;
      if (i % 2 == 0) {
        statuses[i] = llmserve::testing::CallGenerate(*stub_, request, &response);
        usage = &response.usage();
      } else {
        stream = llmserve::testing::CallStream(*stub_, request);
        statuses[i] = stream.status;
        if (!stream.messages.empty()) usage = &stream.messages.back().usage();
      }
      if (usage != nullptr) {
        prompt_tokens[i] = static_cast<int>(usage->prompt_tokens());
        completion_tokens[i] = static_cast<int>(usage->completion_tokens());
      }
    });
  }
  for (auto& t : threads) t.join();
  int sum_prompt = 0, sum_completion = 0, sum_inter_token = 0;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    ASSERT_EQ(completion_tokens[i], 4 + 3 * i);
    sum_prompt += prompt_tokens[i];
    sum_completion += completion_tokens[i];
    sum_inter_token += completion_tokens[i] - 1;
  }

  const Scrape scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("llmserve_prompt_tokens_total", M()), sum_prompt);
  EXPECT_EQ(scrape.Value("llmserve_generation_tokens_total", M()), sum_completion);
  EXPECT_EQ(scrape.Value("llmserve_request_success_total",
                         {{"model", kModel}, {"finish_reason", "length"}}),
            kRequests);
  EXPECT_EQ(scrape.Value("llmserve_request_success_total",
                         {{"model", kModel}, {"finish_reason", "eos"}}),
            0);
  for (const testing::Sample& s : scrape.samples()) {
    if (s.name == "llmserve_request_failure_total") {
      EXPECT_EQ(s.value, 0) << s.labels.at("code");
    }
  }
  for (const char* h : {"time_to_first_token_seconds", "e2e_request_latency_seconds",
                        "request_queue_time_seconds", "request_prefill_time_seconds",
                        "request_decode_time_seconds", "request_prompt_tokens",
                        "request_generation_tokens"}) {
    SCOPED_TRACE(h);
    EXPECT_EQ(scrape.Value(absl::StrCat("llmserve_", h, "_count"), M()), kRequests);
    EXPECT_EQ(scrape.Value(absl::StrCat("llmserve_", h, "_bucket"),
                           {{"model", kModel}, {"le", "+Inf"}}),
              kRequests);
  }
  EXPECT_EQ(scrape.Value("llmserve_request_prompt_tokens_sum", M()), sum_prompt);
  EXPECT_EQ(scrape.Value("llmserve_request_generation_tokens_sum", M()), sum_completion);
  EXPECT_EQ(scrape.Value("llmserve_inter_token_latency_seconds_count", M()), sum_inter_token);
  EXPECT_GT(scrape.Value("llmserve_e2e_request_latency_seconds_sum", M()), 0);
  // Engine steps: at least one per generated token of the longest request,
  // every step has >= 1 sequence and its tokens.
  const double steps = scrape.Value("llmserve_iteration_tokens_count", M());
  EXPECT_GE(steps, 4 + 3 * (kRequests - 1));
  EXPECT_EQ(scrape.Value("llmserve_batch_size_count", M()), steps);
  EXPECT_GE(scrape.Value("llmserve_batch_size_sum", M()), steps);
  EXPECT_GE(scrape.Value("llmserve_iteration_tokens_sum", M()), sum_completion);
  // Idle again: the gauges are back to 0.
  EXPECT_EQ(scrape.Value("llmserve_num_requests_running", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_num_requests_waiting", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_usage_ratio", M()), 0);
  ExpectRequestMapsEmpty();
  // The stat counters follow the engine's own totals.
  const EngineStats stats = app_->engine().GetStats();
  EXPECT_EQ(scrape.Value("llmserve_prefix_cache_queries_total", M()),
            stats.prefix_cache_queries - start_stats_.prefix_cache_queries);
  EXPECT_GT(scrape.Value("llmserve_prefix_cache_queries_total", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_prefix_cache_hits_total", M()),
            stats.prefix_cache_hits - start_stats_.prefix_cache_hits);
  EXPECT_EQ(scrape.Value("llmserve_num_preemptions_total", M()),
            stats.num_preemptions - start_stats_.num_preemptions);
  // A repeated prompt hits the prefix cache (its full blocks are cached).
  v1::GenerateRequest again;
  again.set_text("Once upon a time there was a little girl who liked to play outside in the sun");
  again.mutable_sampling_params()->set_max_tokens(2);
  v1::GenerateResponse response;
  ASSERT_TRUE(llmserve::testing::CallGenerate(*stub_, again, &response).ok());
  ASSERT_TRUE(llmserve::testing::CallGenerate(*stub_, again, &response).ok());
  EXPECT_GT(response.usage().cached_prompt_tokens(), 0u);
  EXPECT_GE(ScrapeMetrics().Value("llmserve_prefix_cache_hits_total", M()),
            response.usage().cached_prompt_tokens());
}

TEST_F(MetricsTest, FailuresAreCountedByCodeAndFreeTheKvCache) {
  // Validation failures never reach the engine.
  v1::GenerateRequest invalid;
  invalid.set_text("hi");
  invalid.mutable_sampling_params()->set_max_tokens(0);
  v1::GenerateResponse response;
  EXPECT_EQ(llmserve::testing::CallGenerate(*stub_, invalid, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(llmserve::testing::CallStream(*stub_, invalid).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Client cancellation mid-stream.
  v1::GenerateRequest long_request;
  long_request.set_text("Once upon a time");
  long_request.mutable_sampling_params()->set_max_tokens(480);
  long_request.mutable_sampling_params()->set_ignore_eos(true);
  {
    grpc::ClientContext context;
    auto reader = stub_->GenerateStream(&context, long_request);
    v1::GenerateStreamResponse message;
    ASSERT_TRUE(reader->Read(&message));
    context.TryCancel();
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Deadlines that expire with the request in the engine, made certain rather
  // than timed: scheduling is paused, so the request cannot finish whatever
  // the host's load. Unary: it waits in the queue; streamed: it has its
  // first token (prefill done, KV blocks held) when the pause begins.
  {
    app_->engine().SetSchedulingPausedForTesting(true);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    EXPECT_EQ(llmserve::testing::CallGenerate(*stub_, long_request, &response, &context).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
    app_->engine().SetSchedulingPausedForTesting(false);
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto reader = stub_->GenerateStream(&context, long_request);
    v1::GenerateStreamResponse message;
    ASSERT_TRUE(reader->Read(&message));
    app_->engine().SetSchedulingPausedForTesting(true);
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    app_->engine().SetSchedulingPausedForTesting(false);
  }

  // The handlers record their outcome just before returning, which may be
  // after the client saw the status (its own cancel or deadline): wait
  // (bounded) for all five. A handler returns only once its request has
  // finished in the engine.
  Scrape scrape("");
  auto failures = [&scrape](const char* code) {
    return scrape.Value("llmserve_request_failure_total", {{"model", kModel}, {"code", code}});
  };
  for (int i = 0; i < 2000; ++i) {
    scrape = ScrapeMetrics();
    if (failures("INVALID_ARGUMENT") + failures("CANCELLED") + failures("DEADLINE_EXCEEDED") >=
        5) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(failures("INVALID_ARGUMENT"), 2);
  EXPECT_EQ(failures("CANCELLED"), 1);
  EXPECT_EQ(failures("DEADLINE_EXCEEDED"), 2);
  EXPECT_EQ(failures("INTERNAL"), 0);
  // Every request left the engine and returned its KV blocks.
  ASSERT_TRUE(WaitForEngineIdle());
  const EngineStats stats = app_->engine().GetStats();
  EXPECT_EQ(stats.num_kv_blocks_used, 0);
  EXPECT_EQ(stats.kv_cache_usage, 0.0);
  // The gauges are read from the engine at scrape time: scrape again now
  // that it is idle (the scrape above may predate the last request's exit
  // from the engine: a failed CI run read 1 request running there).
  scrape = ScrapeMetrics();

  // No request succeeded.
  for (const testing::Sample& s : scrape.samples()) {
    if (s.name == "llmserve_request_success_total") EXPECT_EQ(s.value, 0) << s.name;
  }
  EXPECT_EQ(scrape.Value("llmserve_num_requests_running", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_usage_ratio", M()), 0);
  // Cancelled and expired requests leave nothing behind in any request map.
  ExpectRequestMapsEmpty();
}

TEST_F(MetricsTest, MetricsStayScrapeableThroughShutdown) {
  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.mutable_sampling_params()->set_max_tokens(3);
  v1::GenerateResponse response;
  ASSERT_TRUE(llmserve::testing::CallGenerate(*stub_, request, &response).ok());
  app_->Shutdown();
  EXPECT_FALSE(app_->serving());
  // The exporter still answers, with the final values.
  const Scrape scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("llmserve_request_success_total",
                         {{"model", kModel}, {"finish_reason", "length"}}),
            1);
  EXPECT_EQ(scrape.Value("llmserve_num_requests_running", M()), 0);
  EXPECT_EQ(scrape.Value("llmserve_generation_tokens_total", M()), 3);
}

TEST(MetricsBucketsTest, Boundaries) {
  const std::vector<double> latency = Metrics::LatencyBuckets();
  ASSERT_FALSE(latency.empty());
  EXPECT_EQ(latency.front(), 0.001);
  EXPECT_EQ(latency.back(), 600.0);
  for (size_t i = 1; i < latency.size(); ++i) EXPECT_GT(latency[i], latency[i - 1]);
  EXPECT_EQ(Metrics::OneTwoFiveBuckets(1), std::vector<double>({1}));
  EXPECT_EQ(Metrics::OneTwoFiveBuckets(512),
            std::vector<double>({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}));
  EXPECT_EQ(Metrics::OneTwoFiveBuckets(64), std::vector<double>({1, 2, 5, 10, 20, 50, 100}));
}

}  // namespace
}  // namespace llmserve::server
