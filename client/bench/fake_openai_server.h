#ifndef LLMSERVE_CLIENT_BENCH_FAKE_OPENAI_SERVER_H_
#define LLMSERVE_CLIENT_BENCH_FAKE_OPENAI_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace llmserve::bench {

/// A fault the fake injects into one request.
struct FakeOpenAIFault {
  enum class Kind {
    kNone,
    kHttpStatus,      ///< answer `http_status` with OpenAI's error JSON carrying `message`
    kMalformedChunk,  ///< after `after_tokens` tokens: `data: {not json`
    kErrorChunk,      ///< after `after_tokens` tokens: `data: {"error": {message, code}}`,
                      ///< code `http_status` (500 if 0)
    kCloseMidStream,  ///< after `after_tokens` tokens: close the connection (no last chunk)
    kNoDone,          ///< the whole stream, usage included, but no `data: [DONE]`
  };
  Kind kind = Kind::kNone;
  int http_status = 0;
  std::string message;
  int after_tokens = 0;
};

/// How the fake answers. Times in seconds.
struct FakeOpenAIServerOptions {
  /// Request arrival → first token; between tokens. Token k (0-based step) of
  /// a request is due at t0 + ttft + k * itl (a schedule, as
  /// FakeGenerationServer's), all n choices of a step together.
  double ttft_seconds = 0;
  double itl_seconds = 0;
  /// The fault of the generation request that arrived n-th (0-based).
  std::function<FakeOpenAIFault(int arrival)> fault_for;
  /// GET /v1/models lists this one model, with meta.n_vocab = vocab_size
  /// (as llama-server does) when > 0.
  std::string model = "fake-model";
  int vocab_size = 0;
  /// When set, a request without "Authorization: Bearer <auth_token>" gets 401.
  std::string auth_token;
};

/// An OpenAI-compatible HTTP server that generates nothing (Boost.Beast over
/// Asio, one io_context thread, no thread per connection): POST
/// /v1/completions and /v1/chat/completions answer max_tokens tokens per
/// choice (n choices), streamed as server-sent events with OpenAI's chunk
/// shapes (chat: a role-only first chunk per choice), the finish_reason
/// "length" chunk, a usage chunk when stream_options.include_usage (prompt
/// tokens = the prompt's ids, or its bytes + 1 for text, or the messages'
/// content bytes + 1), then `data: [DONE]`; or, with "stream": false, one
/// JSON response after the last token's due time. GET /v1/models lists the
/// model; other paths 404, bad JSON 400. Every response closes its
/// connection. For tests of the HTTP backend.
class FakeOpenAIServer {
 public:
  /// Listens on 127.0.0.1, a free port. Errors: UNAVAILABLE if it cannot listen.
  static absl::StatusOr<std::unique_ptr<FakeOpenAIServer>> Start(FakeOpenAIServerOptions options);
  ~FakeOpenAIServer();

  /// "http://127.0.0.1:PORT".
  std::string base_url() const;
  /// Generation requests received so far.
  int arrivals() const;
  /// Most generation requests open at once so far.
  int max_in_flight() const;
  /// The bodies of the generation requests, in arrival order.
  std::vector<nlohmann::json> request_bodies() const;

  class Impl;

 private:
  explicit FakeOpenAIServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_FAKE_OPENAI_SERVER_H_
