#ifndef LLMSERVE_SERVER_HTTP_HTTP_FRONTEND_H_
#define LLMSERVE_SERVER_HTTP_HTTP_FRONTEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/chat_template/chat_template.h"
#include "engine/llm_engine.h"
#include "server/http/openai_request.h"
#include "server/metrics.h"
#include "server/request_log.h"

namespace llmserve::server::http {

/// How the OpenAI-compatible HTTP front behaves (flags of the same names).
struct HttpOptions {
  /// host:port (--http-listen); port 0 picks a free port. Empty: no HTTP front.
  std::string listen_address;
  /// Threads running the io_context (all connections share them; no thread
  /// per connection).
  int num_threads = 2;
  /// Largest request (headers + body), in bytes (--max-request-bytes): 413 beyond.
  int64_t max_request_bytes = 4 * 1024 * 1024;
  /// A request must arrive completely within this time after its first byte
  /// is awaited (also the keep-alive idle time): a slow client is closed.
  absl::Duration request_timeout = absl::Seconds(30);
  /// Bearer token every endpoint but GET /health needs (401 otherwise); empty: none.
  std::string auth_token;
  /// Longest accepted prompt in tokens (--max-prompt-tokens); 0 = the context.
  int max_prompt_tokens = 0;
  /// The chat template source (--chat-template file's contents); empty: the
  /// model's own (ModelConfig::chat_template).
  std::string chat_template_source;
  /// Serve TLS with this context (certificate, key, client verification:
  /// ServerApp builds it from the same --tls-* flags as gRPC); null: plaintext.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  /// Receives one entry per generation request. Default: stderr.
  RequestLogger logger = StderrRequestLogger();
};

/// What every HTTP session of one server shares: the engine, the metrics,
/// the compiled chat template, the drain flag, and the count of generation
/// requests in flight. Thread-safe.
class HttpFrontend {
 public:
  HttpFrontend(LLMEngine* engine, Metrics* metrics, HttpOptions options,
               std::function<bool()> serving)
      : engine_(engine), metrics_(metrics), options_(std::move(options)),
        serving_(std::move(serving)) {}

  LLMEngine& engine() const { return *engine_; }
  Metrics* metrics() const { return metrics_; }
  const HttpOptions& options() const { return options_; }
  /// The TLS context, or null for plaintext.
  boost::asio::ssl::context* tls_context() const { return options_.tls_context.get(); }
  /// The served model's name (what /v1/models lists and `model` must be).
  const std::string& model_name() const { return engine_->model_config().name; }
  /// What request conversion needs (tokenizer, chat template, context).
  const PromptContext& prompt_context() const { return prompt_context_; }
  PromptContext& mutable_prompt_context() { return prompt_context_; }
  void set_chat_template(std::unique_ptr<ChatTemplate> t) {
    chat_template_ = std::move(t);
    prompt_context_.chat_template = chat_template_.get();
  }

  /// GET /health: the server's health (live, not draining, not stalled).
  bool serving() const { return !draining() && (!serving_ || serving_()); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  void BeginDrain() { draining_.store(true, std::memory_order_release); }

  /// A fresh id: `prefix` + counter + 64 random bits (not guessable).
  std::string NextRequestId(const char* prefix) {
    thread_local absl::BitGen bits;
    return absl::StrCat(prefix, next_id_.fetch_add(1, std::memory_order_relaxed), "-",
                        absl::Hex(absl::Uniform<uint64_t>(bits), absl::kZeroPad16));
  }

  /// A generation request was admitted / has ended (metrics: http_calls).
  void AddCall() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++active_calls_;
    if (metrics_ != nullptr) metrics_->SetActiveCalls(active_calls_, Api::kHttp);
  }
  void ReleaseCall() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --active_calls_;
    if (metrics_ != nullptr) metrics_->SetActiveCalls(active_calls_, Api::kHttp);
  }
  int active_calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return active_calls_;
  }
  /// Waits up to `timeout` until no generation request is in flight.
  bool WaitForNoCalls(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return active_calls_ == 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
  }

 private:
  LLMEngine* engine_;
  Metrics* metrics_;
  HttpOptions options_;
  std::function<bool()> serving_;
  std::unique_ptr<ChatTemplate> chat_template_;
  PromptContext prompt_context_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_id_{1};
  mutable absl::Mutex mu_;
  int active_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_HTTP_FRONTEND_H_
