#include "client/bench/arrival.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace llmserve::bench {

absl::StatusOr<ArrivalProcess> ArrivalProcess::Create(double rate, double burstiness,
                                                      uint64_t seed) {
  if (!(rate > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("request rate must be > 0, got ", rate));
  }
  if (!(burstiness > 0) || !std::isfinite(burstiness)) {
    return absl::InvalidArgumentError(
        absl::StrCat("burstiness must be a finite number > 0, got ", burstiness));
  }
  return ArrivalProcess(rate, burstiness, seed);
}

ArrivalProcess::ArrivalProcess(double rate, double burstiness, uint64_t seed)
    : rate_(rate),
      burstiness_(burstiness),
      rng_(seed),
      gamma_(burstiness, std::isinf(rate) ? 1.0 : 1.0 / (rate * burstiness)) {}

double ArrivalProcess::NextGapSeconds() {
  if (std::isinf(rate_)) return 0;
  return gamma_(rng_);
}

}  // namespace llmserve::bench
