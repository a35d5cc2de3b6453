#ifndef LLMSERVE_CLIENT_BENCH_LOAD_DRIVER_H_
#define LLMSERVE_CLIENT_BENCH_LOAD_DRIVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/bench/generation_backend.h"
#include "client/bench/load_options.h"
#include "client/bench/request_record.h"
#include "client/bench/workload.h"

namespace llmserve::bench {

/// The client-side outcome of one run point.
struct RunResult {
  /// One record per request sent, in send order.
  std::vector<RequestRecord> records;
  /// First send → last call finished, in seconds.
  double duration_seconds = 0;
};

/// Schedules a run point's requests (closed loop at a concurrency, or open
/// loop at arrival times) and collects one RequestRecord per request. The
/// requests go out through a GenerationBackend (gRPC or OpenAI-compatible
/// HTTP), which completes them asynchronously on its own threads: the sending
/// thread never blocks on a response and one process keeps thousands of
/// calls open.
class LoadDriver final : private CallObserver {
 public:
  explicit LoadDriver(std::unique_ptr<GenerationBackend> backend);
  ~LoadDriver() override;

  GenerationBackend& backend() { return *backend_; }

  /// Sends the requests of `options` drawn from `workload` and waits for
  /// every call to finish (each ends by itself: response, error or deadline).
  /// Errors: INVALID_ARGUMENT for bad options (RequestMix::Validate's too) or
  /// an empty workload.
  absl::StatusOr<RunResult> Run(const std::vector<BenchRequest>& workload,
                                const LoadOptions& options) ABSL_LOCKS_EXCLUDED(mu_);

  /// Live progress of the current run (thread-safe).
  int sent() const { return sent_.load(std::memory_order_relaxed); }
  int finished() const { return finished_.load(std::memory_order_relaxed); }
  int64_t output_tokens() const { return output_tokens_.load(std::memory_order_relaxed); }
  /// Seconds since the current run started.
  double elapsed_seconds() const;

 private:
  using Clock = std::chrono::steady_clock;

  /// Sends request `index` of the run.
  void Launch(int index, const std::vector<BenchRequest>& workload, const LoadOptions& options)
      ABSL_LOCKS_EXCLUDED(mu_);
  // CallObserver, called by the backend's calls (any of its threads).
  double SecondsSinceStart(Clock::time_point t) const override;
  void OnTokens(int count) override;
  void OnDone(RequestRecord record) override ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<GenerationBackend> backend_;
  Clock::time_point start_;
  std::atomic<int64_t> start_ns_{0};
  std::atomic<int> sent_{0};
  std::atomic<int> finished_{0};
  std::atomic<int64_t> output_tokens_{0};

  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<RequestRecord> records_ ABSL_GUARDED_BY(mu_);
  Clock::time_point last_finish_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_LOAD_DRIVER_H_
