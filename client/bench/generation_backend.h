#ifndef LLMSERVE_CLIENT_BENCH_GENERATION_BACKEND_H_
#define LLMSERVE_CLIENT_BENCH_GENERATION_BACKEND_H_

#include <chrono>
#include <string>

#include "client/bench/load_options.h"
#include "client/bench/request_mix.h"
#include "client/bench/request_record.h"
#include "client/bench/workload.h"

namespace llmserve::bench {

/// One request the load driver asks a backend to send. The pointed-to values
/// outlive the call (LoadDriver::Run returns only after every call's OnDone).
struct CallSpec {
  const BenchRequest* source = nullptr;  ///< the workload entry
  const LoadOptions* options = nullptr;  ///< the run's options
  RequestVariant variant;                ///< this request's share of the mix
  int index = 0;                         ///< index in the run (send order)
};

/// What a call reports back to the load driver; thread-safe, called from
/// the backend's threads.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  /// Seconds from the run's start to `t` (RequestRecord::start_seconds).
  virtual double SecondsSinceStart(std::chrono::steady_clock::time_point t) const = 0;
  /// `count` completion tokens arrived (live progress only).
  virtual void OnTokens(int count) = 0;
  /// The call ended; exactly once per call, its last use of the observer.
  virtual void OnDone(RequestRecord record) = 0;
};

/// A way of sending generation requests: the llmserve.v1 gRPC API
/// (grpc_backend.h) or an OpenAI-compatible HTTP server (openai_backend.h).
/// The load driver owns the scheduling (closed / open loop, mix) and the
/// records; a backend turns one CallSpec into one RequestRecord, filled the
/// same way whatever the transport: TTFT = send → first token-carrying
/// message, ITL = gaps between token-carrying messages, output_tokens = the
/// completion tokens of every completion, status = the canonical code.
class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;
  /// Sends the request asynchronously (never waits for the response) and
  /// reports its end to `observer`->OnDone exactly once, from any thread.
  virtual void Start(const CallSpec& spec, CallObserver* observer) = 0;
  /// The "backend" field of the result JSON, e.g. "llmserve-grpc", "openai-chat".
  virtual std::string name() const = 0;
  /// The "endpoint" field: "GenerateStream", "/v1/completions", ...
  virtual std::string endpoint(bool stream) const = 0;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_GENERATION_BACKEND_H_
