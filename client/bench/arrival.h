#ifndef LLMSERVE_CLIENT_BENCH_ARRIVAL_H_
#define LLMSERVE_CLIENT_BENCH_ARRIVAL_H_

#include <cstdint>
#include <limits>
#include <random>

#include "absl/status/statusor.h"

namespace llmserve::bench {

/// Inter-arrival gaps of an open-loop load, as `vllm bench serve` draws them:
/// gamma-distributed with shape = burstiness and scale = 1 / (rate * burstiness),
/// so the mean gap is 1 / rate seconds whatever the burstiness. Burstiness 1 is
/// a Poisson process (exponential gaps); below 1 arrivals are burstier, above 1
/// more regular (coefficient of variation 1 / sqrt(burstiness)). A rate of
/// +infinity gives gaps of 0 (every request at once). Deterministic for a seed
/// (with the same standard library).
class ArrivalProcess {
 public:
  /// Errors: INVALID_ARGUMENT if rate <= 0 or NaN, or burstiness <= 0 or not finite.
  static absl::StatusOr<ArrivalProcess> Create(double rate, double burstiness, uint64_t seed);

  /// The gap before the next arrival, in seconds (>= 0).
  double NextGapSeconds();

  /// Requests per second.
  double rate() const { return rate_; }
  double burstiness() const { return burstiness_; }

 private:
  ArrivalProcess(double rate, double burstiness, uint64_t seed);

  double rate_;
  double burstiness_;
  std::mt19937_64 rng_;
  std::gamma_distribution<double> gamma_;
};

/// Requests per second meaning "all at once" (`--request-rate inf`).
inline constexpr double kInfiniteRate = std::numeric_limits<double>::infinity();

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_ARRIVAL_H_
