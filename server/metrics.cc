#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include <prometheus/text_serializer.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace llmserve::server {
namespace {

constexpr char kPrefix[] = "llmserve_";

/// Status code name as in the failure label ("INVALID_ARGUMENT", ...); gRPC
/// and absl share the canonical numbering.
std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

/// Outcomes with a series from the start (at 0), so that rate() and
/// dashboards see them before the first occurrence.
constexpr FinishReason kSuccessReasons[] = {FinishReason::kLength, FinishReason::kStop,
                                            FinishReason::kEos};
constexpr absl::StatusCode kCommonFailures[] = {
    absl::StatusCode::kInvalidArgument,  absl::StatusCode::kResourceExhausted,
    absl::StatusCode::kCancelled,        absl::StatusCode::kDeadlineExceeded,
    absl::StatusCode::kUnavailable,      absl::StatusCode::kInternal,
    absl::StatusCode::kUnauthenticated,
};

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}

Metrics::~Metrics() = default;

std::vector<double> Metrics::LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
          2.5,   5.0,    10.0,  25.0, 50.0,  100.0, 250.0, 600.0};
}

std::vector<double> Metrics::OneTwoFiveBuckets(double max) {
  std::vector<double> buckets;
  for (double decade = 1;; decade *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      buckets.push_back(m * decade);
      if (m * decade >= max) return buckets;
    }
  }
}

void Metrics::AttachEngine(const LLMEngine* engine) {
  const ModelConfig& model = engine->model_config();
  const EngineOptions& options = engine->options();
  const prometheus::Labels model_label = {{"model", model.name}};
  prometheus::Registry& r = *registry_;
  auto gauge = [&](const std::string& name, const std::string& help) {
    return &prometheus::BuildGauge()
                .Name(kPrefix + name)
                .Help(help)
                .Labels(model_label)
                .Register(r)
                .Add({});
  };
  auto counter_family = [&](const std::string& name, const std::string& help) {
    return &prometheus::BuildCounter()
                .Name(kPrefix + name)
                .Help(help)
                .Labels(model_label)
                .Register(r);
  };
  auto histogram = [&](const std::string& name, const std::string& help,
                       std::vector<double> buckets) {
    return &prometheus::BuildHistogram()
                .Name(kPrefix + name)
                .Help(help)
                .Labels(model_label)
                .Register(r)
                .Add({}, std::move(buckets));
  };

  // Gauges.
  num_requests_running_ =
      gauge("num_requests_running", "Requests being processed (sequences holding KV-cache blocks).");
  num_requests_waiting_ =
      gauge("num_requests_waiting", "Requests admitted and waiting to be scheduled.");
  kv_cache_usage_ratio_ =
      gauge("kv_cache_usage_ratio", "Fraction of KV-cache blocks in use by running requests (0-1).");
  kv_cache_blocks_total_ = gauge("kv_cache_blocks_total", "KV-cache blocks in the cache.");
  {
    prometheus::Family<prometheus::Gauge>& maps =
        prometheus::BuildGauge()
            .Name(absl::StrCat(kPrefix, "request_map_entries"))
            .Help("Entries of the per-request maps, by map; all 0 when idle (else state leaks).")
            .Labels(model_label)
            .Register(r);
    map_request_ids_ = &maps.Add({{"map", "engine_request_ids"}});
    map_scheduler_sequences_ = &maps.Add({{"map", "scheduler_sequences"}});
    map_kv_sequences_ = &maps.Add({{"map", "kv_block_tables"}});
    map_runner_sequences_ = &maps.Add({{"map", "runner_sequences"}});
    map_output_sequences_ = &maps.Add({{"map", "output_sequences"}});
    map_output_request_ids_ = &maps.Add({{"map", "output_request_ids"}});
    map_server_calls_ = &maps.Add({{"map", "server_calls"}});
    map_http_calls_ = &maps.Add({{"map", "http_calls"}});
  }
  prometheus::BuildGauge()
      .Name(absl::StrCat(kPrefix, "model_info"))
      .Help("The served model and configuration, as labels (value 1).")
      .Register(r)
      .Add({{"model", model.name},
            {"block_size", absl::StrCat(options.block_size)},
            {"dtype", options.dtype},
            {"threads", absl::StrCat(options.num_threads)}})
      .Set(1);

  // Counters.
  prompt_tokens_total_ = &counter_family("prompt_tokens_total",
                                         "Prompt tokens of requests whose prefill completed.")
                              ->Add({});
  generation_tokens_total_ =
      &counter_family("generation_tokens_total", "Tokens generated.")->Add({});
  request_success_family_ = counter_family(
      "request_success_total",
      "Generation requests (gRPC Generate/GenerateStream, HTTP completions and chat "
      "completions) that completed, by API and finish reason (length, stop, eos).");
  request_failure_family_ = counter_family(
      "request_failure_total",
      "Generation requests that failed, by API and status code (gRPC's canonical names).");
  for (const char* api : {ApiName(Api::kGrpc), ApiName(Api::kHttp)}) {
    for (FinishReason reason : kSuccessReasons) {
      request_success_family_->Add({{"api", api}, {"finish_reason", FinishReasonName(reason)}});
    }
    for (absl::StatusCode code : kCommonFailures) {
      request_failure_family_->Add({{"api", api}, {"code", CodeName(code)}});
    }
  }
  num_preemptions_total_ = &counter_family("num_preemptions_total",
                                           "Sequences preempted to free KV-cache blocks.")
                                ->Add({});
  prefix_cache_queries_total_ =
      &counter_family("prefix_cache_queries_total",
                      "Prompt tokens looked up in the prefix cache.")
           ->Add({});
  prefix_cache_hits_total_ = &counter_family("prefix_cache_hits_total",
                                             "Prompt tokens found in the prefix cache.")
                                  ->Add({});

  // Histograms.
  time_to_first_token_ = histogram("time_to_first_token_seconds",
                                   "Request arrival to its first generated token, in seconds.",
                                   LatencyBuckets());
  inter_token_latency_ = histogram("inter_token_latency_seconds",
                                   "Time between consecutive generated tokens of a request, in "
                                   "seconds (one sample per token after the first).",
                                   LatencyBuckets());
  e2e_request_latency_ =
      histogram("e2e_request_latency_seconds",
                "Request arrival to its final output in the engine, in seconds.", LatencyBuckets());
  request_queue_time_ = histogram("request_queue_time_seconds",
                                  "Request arrival to its first scheduling, in seconds.",
                                  LatencyBuckets());
  request_prefill_time_ =
      histogram("request_prefill_time_seconds",
                "First scheduling to the first generated token, in seconds.", LatencyBuckets());
  request_decode_time_ = histogram("request_decode_time_seconds",
                                   "First generated token to the request's end, in seconds.",
                                   LatencyBuckets());
  const double max_context = std::max(1, options.max_context);
  request_prompt_tokens_ = histogram("request_prompt_tokens", "Prompt length per request, in tokens.",
                                     OneTwoFiveBuckets(max_context));
  request_generation_tokens_ =
      histogram("request_generation_tokens", "Tokens generated per request.",
                OneTwoFiveBuckets(max_context));
  iteration_tokens_ = histogram("iteration_tokens",
                                "Tokens in one engine step's forward pass (prefill + decode).",
                                OneTwoFiveBuckets(std::max(1, options.max_num_batched_tokens)));
  batch_size_ = histogram("batch_size", "Sequences in one engine step.",
                          OneTwoFiveBuckets(std::max(1, options.max_num_seqs)));

  {
    absl::MutexLock lock(&mu_);
    engine_ = engine;
    // Start the stat counters at the engine's current totals: only what
    // happens from now on (served traffic, not the warm-up) is counted.
    const EngineStats stats = engine->GetStats();
    seen_preemptions_ = stats.num_preemptions;
    seen_prefix_queries_ = stats.prefix_cache_queries;
    seen_prefix_hits_ = stats.prefix_cache_hits;
    ApplyStatsLocked(stats);
  }
  recording_.store(true, std::memory_order_release);
}

void Metrics::DetachEngine() {
  absl::MutexLock lock(&mu_);
  if (engine_ == nullptr) return;
  ApplyStatsLocked(engine_->GetStats());
  engine_ = nullptr;
}

void Metrics::SetActiveCalls(int calls, Api api) {
  if (!recording()) return;
  (api == Api::kHttp ? map_http_calls_ : map_server_calls_)->Set(calls);
}

const char* ApiName(Api api) { return api == Api::kHttp ? "http" : "grpc"; }

void Metrics::RecordOutcome(const absl::Status& status, FinishReason reason, Api api) {
  if (!recording()) return;
  if (status.ok()) {
    request_success_family_->Add({{"api", ApiName(api)}, {"finish_reason", FinishReasonName(reason)}})
        .Increment();
  } else {
    request_failure_family_->Add({{"api", ApiName(api)}, {"code", CodeName(status.code())}})
        .Increment();
  }
}

void Metrics::OnStep(const StepStats& step) {
  if (!recording()) return;
  iteration_tokens_->Observe(step.num_tokens);
  batch_size_->Observe(step.num_seqs);
}

void Metrics::OnRequestScheduled(double queue_seconds) {
  if (!recording()) return;
  request_queue_time_->Observe(queue_seconds);
}

void Metrics::OnInterTokenLatency(double seconds) {
  if (!recording()) return;
  inter_token_latency_->Observe(seconds);
  // Every token after a request's first is announced here as it is sampled;
  // the first is counted when the request finishes (OnRequestFinished), so
  // the counter runs live and sums to the completion tokens of every request.
  generation_tokens_total_->Increment();
}

void Metrics::OnExtraCompletionFirstToken() {
  if (!recording()) return;
  // The first token of completion i > 0 (n > 1): neither an inter-token gap
  // nor the request's first token, which OnRequestFinished counts.
  generation_tokens_total_->Increment();
}

void Metrics::OnRequestFinished(const RequestOutput& out) {
  if (!recording()) return;
  const RequestTiming& t = out.timing;
  e2e_request_latency_->Observe(t.total_seconds);
  request_prompt_tokens_->Observe(out.prompt_tokens);
  request_generation_tokens_->Observe(out.completion_tokens);
  if (out.completion_tokens > 0) {
    // The prefill completed (the first token exists).
    prompt_tokens_total_->Increment(out.prompt_tokens);
    generation_tokens_total_->Increment();  // the first token; see OnInterTokenLatency
    time_to_first_token_->Observe(t.time_to_first_token_seconds);
    request_prefill_time_->Observe(t.prefill_seconds);
    request_decode_time_->Observe(t.decode_seconds);
  }
}

void Metrics::ApplyStatsLocked(const EngineStats& stats) const {
  num_requests_running_->Set(stats.num_running);
  num_requests_waiting_->Set(stats.num_waiting);
  kv_cache_usage_ratio_->Set(std::clamp(stats.kv_cache_usage, 0.0, 1.0));
  kv_cache_blocks_total_->Set(stats.num_kv_blocks_total);
  map_request_ids_->Set(stats.num_request_ids);
  map_scheduler_sequences_->Set(stats.num_scheduler_sequences);
  map_kv_sequences_->Set(stats.num_kv_sequences);
  map_runner_sequences_->Set(stats.num_runner_sequences);
  map_output_sequences_->Set(stats.num_output_sequences);
  map_output_request_ids_->Set(stats.num_output_request_ids);
  auto advance = [](prometheus::Counter* counter, int64_t total, int64_t* seen) {
    if (total > *seen) {
      counter->Increment(static_cast<double>(total - *seen));
      *seen = total;
    }
  };
  advance(num_preemptions_total_, stats.num_preemptions, &seen_preemptions_);
  advance(prefix_cache_queries_total_, stats.prefix_cache_queries, &seen_prefix_queries_);
  advance(prefix_cache_hits_total_, stats.prefix_cache_hits, &seen_prefix_hits_);
}

void Metrics::Refresh() const {
  absl::MutexLock lock(&mu_);
  if (engine_ != nullptr) ApplyStatsLocked(engine_->GetStats());
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  Refresh();
  return registry_->Collect();
}

std::string Metrics::SerializeText() const {
  return prometheus::TextSerializer().Serialize(Collect());
}

}  // namespace llmserve::server
