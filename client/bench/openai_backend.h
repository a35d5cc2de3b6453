#ifndef LLMSERVE_CLIENT_BENCH_OPENAI_BACKEND_H_
#define LLMSERVE_CLIENT_BENCH_OPENAI_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/bench/generation_backend.h"
#include "client/bench/openai_protocol.h"

namespace llmserve::bench {

/// Where and how the HTTP backend sends.
struct OpenAIBackendOptions {
  OpenAIApi api = OpenAIApi::kCompletions;
  BaseUrl base_url;
  /// The request's "model".
  std::string model;
  /// Threads of the backend's io_context (>= 1): every call is asynchronous
  /// on them, none holds a thread.
  int threads = 2;
  /// A call that receives no byte for this long ends UNAVAILABLE (> 0), so
  /// a silent server cannot hang a run that has no --timeout.
  double idle_timeout_seconds = 600;
};

/// Drives an OpenAI-compatible HTTP server (llmserve's HTTP front, llama.cpp's
/// llama-server, vLLM): one HTTP/1.1 connection per request (Boost.Beast over
/// Asio, asynchronous on a small io_context thread pool), POST
/// /v1/completions or /v1/chat/completions with the body of
/// BuildOpenAIRequest. Streamed calls parse the server-sent events
/// (SseParser): a chunk carrying tokens (OpenAIChunk::tokens > 0) is a
/// token-carrying message for TTFT and ITL, as a GenerateStream message is
/// on the gRPC path; the final `usage` chunk gives prompt, completion and
/// cached tokens (output_tokens = usage.completion_tokens when present, else
/// the tokens counted); the call succeeds at `data: [DONE]` (its e2e latency
/// ends there; the rest of the response is still read before the close).
/// Failures, each with its canonical code and a message: a non-2xx response
/// (CodeForHttpStatus, http_status set, "HTTP 429: <error.message>"); an
/// error chunk ({"error": ...} mid-stream: its code, else INTERNAL); a
/// malformed chunk or an event stream ending without [DONE] (INTERNAL);
/// connect / connection / idle failures (UNAVAILABLE); the run's deadline
/// (DEADLINE_EXCEEDED) and a client cancel (CANCELLED; both close the
/// connection, which is how an HTTP client aborts a request).
class OpenAIBackend final : public GenerationBackend {
 public:
  /// Resolves the host and starts the threads.
  /// Errors: INVALID_ARGUMENT (threads < 1, empty model, idle timeout <= 0),
  /// UNAVAILABLE (the host does not resolve).
  static absl::StatusOr<std::unique_ptr<OpenAIBackend>> Create(OpenAIBackendOptions options);
  /// Waits for the threads; every call must have ended (LoadDriver::Run
  /// returns only then).
  ~OpenAIBackend() override;

  void Start(const CallSpec& spec, CallObserver* observer) override;
  std::string name() const override;
  std::string endpoint(bool stream) const override;

  class Impl;

 private:
  explicit OpenAIBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The path of `api` on a server: prefix + "/v1/completions" or "/v1/chat/completions".
std::string OpenAIPath(OpenAIApi api, const BaseUrl& base_url);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_OPENAI_BACKEND_H_
