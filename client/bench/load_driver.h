#ifndef LLMSERVE_CLIENT_BENCH_LOAD_DRIVER_H_
#define LLMSERVE_CLIENT_BENCH_LOAD_DRIVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/bench/request_mix.h"
#include "client/bench/request_record.h"
#include "client/bench/workload.h"
#include "llmserve/v1/generation.grpc.pb.h"

namespace llmserve::bench {

/// How one run point loads the server.
struct LoadOptions {
  /// GenerateStream (true) or Generate.
  bool stream = true;
  /// Per-request deadline in seconds; 0 = none. Requests whose
  /// RequestMix variant has timeout == false get none.
  double timeout_seconds = 0;
  /// Per-request choices of a mixed load (client cancels, which requests get
  /// the deadline and n / logprobs); the default mixes nothing.
  RequestMix mix;
  /// Sent as "authorization: Bearer TOKEN" when not empty.
  std::string auth_token;
  /// Sampling parameters of every request; max_tokens is set per request
  /// from the workload; n, logprobs and prompt_logprobs are cleared for
  /// requests whose RequestMix variant has n_logprobs == false.
  llmserve::v1::SamplingParams sampling;
  /// GenerateRequest.priority of every request (lower is served first).
  int priority = 0;
  /// Closed loop when > 0: this many requests in flight, a new one sent as
  /// soon as one finishes. 0: open loop at `request_rate`.
  int concurrency = 0;
  /// Open loop: requests per second (+inf: all at once); arrivals follow
  /// ArrivalProcess(request_rate, burstiness, seed) and never wait for
  /// responses.
  double request_rate = 0;
  double burstiness = 1;
  uint64_t seed = 0;
  /// Requests to send (> 0); with duration_seconds > 0 sending also stops
  /// when that time has passed since the start.
  int num_requests = 0;
  double duration_seconds = 0;
  /// Request ids are request_id_prefix + index (unique per run point).
  std::string request_id_prefix = "bench-";
  /// Index of the workload request sent first (the workload is cycled).
  int first_workload_index = 0;
};

/// The client-side outcome of one run point.
struct RunResult {
  /// One record per request sent, in send order.
  std::vector<RequestRecord> records;
  /// First send → last call finished, in seconds.
  double duration_seconds = 0;
};

/// Drives the Generation API with gRPC's callback API: every call is a
/// reactor completed on gRPC's own threads, so the sending thread never
/// blocks on a response and one process keeps thousands of calls open.
/// Calls are spread round-robin over `channels` (one HTTP/2 connection each).
class LoadDriver {
 public:
  explicit LoadDriver(std::vector<std::shared_ptr<grpc::Channel>> channels);
  ~LoadDriver();

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
  class StreamCall;
  class UnaryCall;
  using Clock = std::chrono::steady_clock;

  /// Sends request `index` of the run.
  void Launch(int index, const std::vector<BenchRequest>& workload, const LoadOptions& options)
      ABSL_LOCKS_EXCLUDED(mu_);
  /// Called by a finished call (any gRPC thread).
  void Complete(RequestRecord record) ABSL_LOCKS_EXCLUDED(mu_);
  double SecondsSinceStart(Clock::time_point t) const;

  std::vector<std::unique_ptr<llmserve::v1::Generation::Stub>> stubs_;
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
