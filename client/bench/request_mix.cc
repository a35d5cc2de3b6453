#include "client/bench/request_mix.h"

#include "absl/strings/str_cat.h"

namespace llmserve::bench {

namespace {

/// SplitMix64's finalizer: a well-mixed 64-bit hash of `x`.
uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A uniform draw in [0, 1) for (seed, index, salt); independent per salt.
double Draw(uint64_t seed, int64_t index, uint64_t salt) {
  const uint64_t h = Mix64(Mix64(seed ^ (salt * 0xd1b54a32d192ed03ULL)) ^ static_cast<uint64_t>(index));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

absl::Status CheckFraction(const char* name, double f) {
  if (!(f >= 0 && f <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be in [0, 1], got ", f));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RequestMix::Validate(bool stream) const {
  if (absl::Status s = CheckFraction("cancel fraction", cancel_fraction); !s.ok()) return s;
  if (absl::Status s = CheckFraction("timeout fraction", timeout_fraction); !s.ok()) return s;
  if (absl::Status s = CheckFraction("n/logprobs fraction", n_logprobs_fraction); !s.ok()) return s;
  if (cancel_after_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cancel after tokens must be >= 1, got ", cancel_after_tokens));
  }
  if (cancel_fraction > 0 && !stream) {
    return absl::InvalidArgumentError(
        "a cancel fraction needs streamed calls (a unary call has no tokens to count)");
  }
  return absl::OkStatus();
}

RequestVariant RequestMix::Choose(int64_t index) const {
  RequestVariant v;
  v.cancel = Draw(seed, index, 1) < cancel_fraction;
  // A cancelled request gets no deadline: with both, its expected end would
  // be ambiguous (the server reports a cancel that arrives within 50 ms of
  // the deadline as DEADLINE_EXCEEDED, server/generate_reactors.cc).
  v.timeout = !v.cancel && Draw(seed, index, 2) < timeout_fraction;
  v.n_logprobs = Draw(seed, index, 3) < n_logprobs_fraction;
  return v;
}

}  // namespace llmserve::bench
