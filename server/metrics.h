#ifndef LLMSERVE_SERVER_METRICS_H_
#define LLMSERVE_SERVER_METRICS_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine_observer.h"
#include "engine/llm_engine.h"
#include "engine/request.h"

namespace llmserve::server {

/// The front a request came through: the `api` label of the request outcome
/// counters (one set of series for both fronts).
enum class Api { kGrpc, kHttp };
/// "grpc" or "http".
const char* ApiName(Api api);

/// The Prometheus metrics of one llmserve process, named as vLLM's with the
/// prefix `llmserve_`, every series labelled with `model` (see
/// docs/deployment.md for the list).
///
/// Three sources feed it:
///  - the engine, through the EngineObserver hooks (engine thread): per-step
///    histograms (iteration_tokens, batch_size), per-request histograms
///    (queue time at first scheduling; TTFT, e2e, prefill, decode, prompt and
///    generation tokens when the engine finishes a request), token counters;
///  - the Generation service: one RecordOutcome per Generate/GenerateStream
///    call (request_success_total{finish_reason} or
///    request_failure_total{code}), also for calls refused before they reached
///    the engine (auth, validation, queue full, draining);
///  - LLMEngine::GetStats(), read at every scrape (Collect): the gauges, and
///    the preemption / prefix-cache counters, advanced by the deltas of the
///    engine's own totals so they always agree with EngineStats.
///
/// Lifecycle: construct, pass as the observer to LLMEngine::Create, then
/// AttachEngine once the engine is warmed up (the metric families are built
/// then, labelled with the engine's model; observer calls before — the
/// warm-up request — are ignored, so the metrics only count served traffic).
/// DetachEngine before the engine is destroyed. Everything is thread-safe;
/// hold it in a std::shared_ptr so an exporter scraping it keeps it alive.
class Metrics final : public EngineObserver, public prometheus::Collectable {
 public:
  Metrics();
  ~Metrics() override;

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// Builds the metric families for `engine`'s model and configuration and
  /// starts recording. `engine` must stay valid until DetachEngine. Call once.
  void AttachEngine(const LLMEngine* engine) ABSL_LOCKS_EXCLUDED(mu_);
  /// Takes a last snapshot of the engine's stats (its gauges keep those values)
  /// and stops reading it. Call before the engine is destroyed. Idempotent.
  void DetachEngine() ABSL_LOCKS_EXCLUDED(mu_);
  /// True between AttachEngine and destruction.
  bool recording() const { return recording_.load(std::memory_order_acquire); }

  /// The number of gRPC calls the Generation service is running (admitted,
  /// not yet released): request_map_entries{map="server_calls"}. Called by the
  /// service whenever it changes; ignored before AttachEngine.
  /// With Api::kHttp: request_map_entries{map="http_calls"}, the HTTP
  /// generation requests in flight.
  void SetActiveCalls(int calls, Api api = Api::kGrpc);

  /// The outcome of one Generate / GenerateStream call: OK counts
  /// request_success_total{finish_reason=FinishReasonName(reason)}, any other
  /// status request_failure_total{code=<status code name>}. Exactly once per call.
  /// `api` labels both counters (api="grpc" or "http"). The code is the
  /// canonical status name (absl and gRPC share it); an HTTP error status is
  /// counted under the code it was mapped from (server/http/openai_error.h).
  void RecordOutcome(const absl::Status& status, FinishReason reason, Api api = Api::kGrpc);

  // EngineObserver (engine thread).
  void OnStep(const StepStats& step) override;
  void OnRequestScheduled(double queue_seconds) override;
  void OnInterTokenLatency(double seconds) override;
  void OnExtraCompletionFirstToken() override;
  void OnRequestFinished(const RequestOutput& final_output) override;

  /// prometheus::Collectable: refreshes the engine-sampled metrics, then
  /// returns every family. Register with prometheus::Exposer.
  std::vector<prometheus::MetricFamily> Collect() const override;
  /// Collect() in the Prometheus text format (what /metrics serves).
  std::string SerializeText() const;

  /// Histogram boundaries in seconds: ~1 ms to 10 min, roughly exponential (1-2.5-5).
  static std::vector<double> LatencyBuckets();
  /// 1, 2, 5, 10, 20, 50, ... up to the first value >= max (at least {1}).
  static std::vector<double> OneTwoFiveBuckets(double max);

 private:
  /// Reads the engine's stats (if attached) into the gauges and stat counters.
  void Refresh() const ABSL_LOCKS_EXCLUDED(mu_);
  void ApplyStatsLocked(const EngineStats& stats) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<bool> recording_{false};

  // Built once by AttachEngine (before recording_ is set), then only used.
  prometheus::Gauge* num_requests_running_ = nullptr;
  prometheus::Gauge* num_requests_waiting_ = nullptr;
  prometheus::Gauge* kv_cache_usage_ratio_ = nullptr;
  prometheus::Gauge* kv_cache_blocks_total_ = nullptr;
  /// request_map_entries{map}: entries of the per-request maps (EngineStats
  /// num_request_ids .. num_output_request_ids, and the service's calls).
  prometheus::Gauge* map_request_ids_ = nullptr;
  prometheus::Gauge* map_scheduler_sequences_ = nullptr;
  prometheus::Gauge* map_kv_sequences_ = nullptr;
  prometheus::Gauge* map_runner_sequences_ = nullptr;
  prometheus::Gauge* map_output_sequences_ = nullptr;
  prometheus::Gauge* map_output_request_ids_ = nullptr;
  prometheus::Gauge* map_server_calls_ = nullptr;
  prometheus::Gauge* map_http_calls_ = nullptr;
  prometheus::Counter* prompt_tokens_total_ = nullptr;
  prometheus::Counter* generation_tokens_total_ = nullptr;
  prometheus::Family<prometheus::Counter>* request_success_family_ = nullptr;
  prometheus::Family<prometheus::Counter>* request_failure_family_ = nullptr;
  prometheus::Counter* num_preemptions_total_ = nullptr;
  prometheus::Counter* prefix_cache_queries_total_ = nullptr;
  prometheus::Counter* prefix_cache_hits_total_ = nullptr;
  prometheus::Histogram* time_to_first_token_ = nullptr;
  prometheus::Histogram* inter_token_latency_ = nullptr;
  prometheus::Histogram* e2e_request_latency_ = nullptr;
  prometheus::Histogram* request_queue_time_ = nullptr;
  prometheus::Histogram* request_prefill_time_ = nullptr;
  prometheus::Histogram* request_decode_time_ = nullptr;
  prometheus::Histogram* request_prompt_tokens_ = nullptr;
  prometheus::Histogram* request_generation_tokens_ = nullptr;
  prometheus::Histogram* iteration_tokens_ = nullptr;
  prometheus::Histogram* batch_size_ = nullptr;

  // Engine sampling (Collect is const; scrapes may run concurrently).
  mutable absl::Mutex mu_;
  const LLMEngine* engine_ ABSL_GUARDED_BY(mu_) = nullptr;
  /// The engine totals already added to the stat counters.
  mutable int64_t seen_preemptions_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int64_t seen_prefix_queries_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int64_t seen_prefix_hits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_METRICS_H_
