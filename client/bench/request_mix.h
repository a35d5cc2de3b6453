#ifndef LLMSERVE_CLIENT_BENCH_REQUEST_MIX_H_
#define LLMSERVE_CLIENT_BENCH_REQUEST_MIX_H_

#include <cstdint>

#include "absl/status/status.h"

namespace llmserve::bench {

/// Which options one request of a mixed load gets (see RequestMix).
struct RequestVariant {
  /// The client cancels the call once RequestMix::cancel_after_tokens tokens arrived.
  bool cancel = false;
  /// The call gets the run's deadline (LoadOptions::timeout_seconds).
  bool timeout = true;
  /// The call gets the run's n, logprobs and prompt_logprobs; otherwise n = 1
  /// and no logprobs.
  bool n_logprobs = true;
};

/// A mixed load in one run: every request independently draws, from its
/// index and the seed (a hash, so a run is reproducible and the choice does
/// not depend on timing), whether it is cancelled by the client, whether it
/// gets the deadline (never both), and whether it gets n > 1 / logprobs. Each fraction is
/// in [0, 1]; the defaults (no cancel, every request with the run's deadline
/// and sampling options) are a plain, unmixed load.
struct RequestMix {
  /// Share of requests the client cancels mid-stream (streamed calls only).
  double cancel_fraction = 0;
  /// A cancelled request is cancelled when this many completion tokens (of
  /// all its completions) have arrived (>= 1). A request that finishes before
  /// is not cancelled.
  int cancel_after_tokens = 4;
  /// Share of the requests not chosen for a cancel that are sent with the
  /// run's deadline (when it has one). A cancelled request never gets one:
  /// the server reports a cancel within 50 ms of the deadline as
  /// DEADLINE_EXCEEDED, so with both its expected status would be ambiguous.
  double timeout_fraction = 1;
  /// Share of requests sent with the run's n / logprobs / prompt_logprobs.
  double n_logprobs_fraction = 1;
  uint64_t seed = 0;

  /// Errors: INVALID_ARGUMENT naming the field (a fraction outside [0, 1],
  /// cancel_after_tokens < 1, or cancel_fraction > 0 for unary calls, which
  /// cannot be cancelled after a token count: `stream` false).
  absl::Status Validate(bool stream) const;

  /// The options of request `index` (>= 0).
  RequestVariant Choose(int64_t index) const;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_REQUEST_MIX_H_
