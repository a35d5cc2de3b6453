#ifndef LLMSERVE_CLIENT_BENCH_LOAD_OPTIONS_H_
#define LLMSERVE_CLIENT_BENCH_LOAD_OPTIONS_H_

#include <cstdint>
#include <string>

#include "client/bench/request_mix.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::bench {

/// How one run point loads the server (whatever the backend: the gRPC API or
/// an OpenAI-compatible HTTP server, client/bench/generation_backend.h).
struct LoadOptions {
  /// Streamed calls (GenerateStream; HTTP "stream": true) or whole responses.
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
  /// requests whose RequestMix variant has n_logprobs == false. The HTTP
  /// backends map them onto OpenAI's fields (client/bench/openai_protocol.h).
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

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_LOAD_OPTIONS_H_
