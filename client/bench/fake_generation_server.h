#ifndef LLMSERVE_CLIENT_BENCH_FAKE_GENERATION_SERVER_H_
#define LLMSERVE_CLIENT_BENCH_FAKE_GENERATION_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace llmserve::bench {

/// How the fake answers. Times in seconds.
struct FakeServerOptions {
  /// Arrival of a call → its first token.
  double ttft_seconds = 0;
  /// Between consecutive tokens. Token k (0-based) of a call is due at
  /// t0 + ttft + k * itl, t0 being the call's arrival (or its release, see
  /// hold_first_calls): a schedule, so late deliveries do not accumulate.
  double itl_seconds = 0;
  /// When set: the TTFT of the call that arrived n-th (0-based), instead of ttft_seconds.
  std::function<double(int arrival)> ttft_for;
  /// When set and not OK for the call that arrived n-th: that call ends at
  /// once with this status, before any token.
  std::function<grpc::Status(int arrival)> fail_for;
  /// The first this-many calls are held (no token) until this many calls have
  /// arrived; then all start together. 0: no hold.
  int hold_first_calls = 0;
  /// ModelInfo.vocab_size; generated ids are < this.
  int vocab_size = 512;
  /// ModelInfo.max_context.
  int max_context = 1 << 20;
};

/// A `llmserve.v1.Generation` server that generates nothing: it answers every
/// call with max_tokens tokens on a schedule of injected delays (or at once),
/// on gRPC's callback API (one timer thread; thousands of open streams).
/// Usage equals the request (prompt_tokens = prompt ids, or bytes + 1 for
/// text); Timing.total_seconds is the call's start → its last token;
/// Tokenize maps each byte to one id. Used to test llmserve-bench
/// against known delays and to measure its own ceiling.
class FakeGenerationServer {
 public:
  /// Listens on `address` (port 0: a free port).
  /// Errors: UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<FakeGenerationServer>> Start(
      FakeServerOptions options, const std::string& address = "127.0.0.1:0");
  ~FakeGenerationServer();

  /// host:port with the bound port.
  const std::string& address() const;
  /// Calls received so far (Generate + GenerateStream).
  int arrivals() const;
  /// Most calls open at once so far.
  int max_in_flight() const;
  /// Calls open now.
  int in_flight() const;

  class Impl;

 private:
  explicit FakeGenerationServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_FAKE_GENERATION_SERVER_H_
