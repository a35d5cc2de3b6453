#ifndef LLMSERVE_CLIENT_BENCH_RUN_STATS_H_
#define LLMSERVE_CLIENT_BENCH_RUN_STATS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/bench/request_record.h"

namespace llmserve::bench {

/// Summary statistics of a sample (all in the sample's unit). Percentiles are
/// linearly interpolated between closest ranks (numpy.percentile's default,
/// which `vllm bench serve` uses); std is the population standard deviation
/// (numpy.std). All 0 for an empty sample.
struct Distribution {
  int count = 0;
  double mean = 0;
  double median = 0;
  double std = 0;
  double min = 0;
  double max = 0;
  /// percentile (e.g. 99) → value
  std::map<double, double> percentiles;
};

/// The percentiles reported for every metric: 90, 95, 99.
const std::vector<double>& ReportedPercentiles();

/// Distribution of `values` with the given percentiles (each in [0, 100]).
Distribution Summarize(std::vector<double> values, const std::vector<double>& percentiles);

/// Service-level objectives for goodput, in milliseconds; a request is good
/// when it succeeded and meets every objective that is set.
struct GoodputSlo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
};

/// Parses "ttft:500,tpot:50,e2el:5000" (any subset, milliseconds, > 0).
/// Errors: INVALID_ARGUMENT naming the bad item (unknown key, bad number, repeat).
absl::StatusOr<GoodputSlo> ParseGoodput(const std::string& spec);

/// Checks that `slo` can be judged for the calls the run makes: a TPOT
/// objective needs streamed calls (`stream`), since a unary call has no
/// per-token timing (its TPOT is undefined and MeetsSlo would count every
/// request as meeting it). TTFT and e2e latency are defined for both (a unary
/// call's TTFT is its e2e latency). Errors: INVALID_ARGUMENT naming the flags.
absl::Status ValidateGoodputForCalls(const GoodputSlo& slo, bool stream);

/// True if `r` succeeded and meets every objective of `slo`. A request without
/// a TPOT (one output token; unary calls, which ValidateGoodputForCalls keeps
/// away from a TPOT objective) meets any TPOT objective.
bool MeetsSlo(const RequestRecord& r, const GoodputSlo& slo);

/// The figures of one run point, from its measured requests.
struct RunStats {
  int num_requests = 0;   ///< requests sent (measured, warm-up excluded)
  int completed = 0;      ///< status OK
  int failed = 0;         ///< any other status
  std::map<std::string, int> failures_by_code;  ///< status code name → count
  double duration_seconds = 0;  ///< first send → last call finished
  int64_t total_input_tokens = 0;    ///< prompt tokens of completed requests
  int64_t total_output_tokens = 0;   ///< completion tokens of completed requests
  int64_t total_cached_tokens = 0;   ///< cached prompt tokens of completed requests
  /// Failed requests, for the token cross-check (server_view.h): the prompt
  /// tokens of those that received a token (so their prefill ran), of those
  /// that received none (it may have run), both -1 when a failed request's
  /// prompt length is unknown (a text prompt); the tokens they received, and
  /// the most they could have been generated (max_tokens × n each).
  int64_t failed_prompt_tokens_prefilled = 0;
  int64_t failed_prompt_tokens_maybe = 0;
  int64_t failed_output_tokens_received = 0;
  int64_t failed_output_tokens_max = 0;
  /// DEADLINE_EXCEEDED failures that received a token (so they surely
  /// reached the server's handler; one whose deadline expired before may not).
  int deadline_failures_with_tokens = 0;
  /// Requests the client cancelled (RequestMix) that ended CANCELLED: the
  /// server may have finished one before the cancel reached it and counted
  /// it as a success.
  int client_cancels_ended_cancelled = 0;
  double request_throughput = 0;     ///< completed / duration (requests/s)
  double output_throughput = 0;      ///< output tokens / duration
  double total_token_throughput = 0; ///< (input + output tokens) / duration
  /// Most output tokens received in any whole second of the run.
  double max_output_tokens_per_s = 0;
  int good_requests = 0;             ///< completed and meeting the SLO (= completed without SLO)
  double request_goodput = 0;        ///< good requests / duration
  /// Mean requests in flight over the run (Little's law: sum of e2e / duration).
  double achieved_concurrency = 0;
  /// Most requests in flight at once.
  int peak_concurrency = 0;
  /// In milliseconds.
  Distribution ttft_ms, tpot_ms, itl_ms, e2el_ms;
  /// The engine's own TTFT and e2e latency of the same (completed) requests,
  /// from their Timing, in ms; the client's minus these is what the network,
  /// gRPC and the service add (requests without server timing are left out).
  Distribution server_ttft_ms, server_e2el_ms;
};

/// Computes the run's figures. `duration_seconds` is the measured span (> 0).
RunStats ComputeRunStats(const std::vector<RequestRecord>& records, double duration_seconds,
                         const GoodputSlo& slo);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_RUN_STATS_H_
