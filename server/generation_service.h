#ifndef LLMSERVE_SERVER_GENERATION_SERVICE_H_
#define LLMSERVE_SERVER_GENERATION_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/metrics.h"
#include "server/request_log.h"
#include "server/response_executor.h"

namespace llmserve::server {

/// Behaviour of the Generation service.
struct GenerationServiceOptions {
  /// Receives one entry per Generate / GenerateStream call, just before the
  /// call's status is sent, on a gRPC or response thread: it must be quick.
  /// Default: stderr.
  RequestLogger logger = StderrRequestLogger();
  /// Longest accepted prompt, in tokens (--max-prompt-tokens); 0 = the
  /// engine's maximum context.
  int max_prompt_tokens = 0;
  /// When not empty, every call needs the metadata
  /// `authorization: Bearer <auth_token>` (else UNAUTHENTICATED).
  std::string auth_token;
  /// Threads that turn engine outputs into response messages (the
  /// ResponseExecutor; the engine thread only queues outputs for them).
  int response_threads = 1;
};

/// llmserve.v1.Generation over an LLMEngine, on gRPC's callback API: no
/// thread per call and no polling. Generate is a ServerUnaryReactor and
/// GenerateStream a ServerWriteReactor (server/generate_reactors.h) fed by
/// the engine's OutputCallback; their OnCancel aborts the engine request at
/// once (client cancel, deadline, closed stream). The engine thread never
/// blocks on a client and builds no message: it queues the output and, when
/// no write is in flight, posts the work to the response threads
/// (GenerationServiceOptions::response_threads), which build the messages
/// and start the write or the finish.
///
/// Status mapping: validation failures → INVALID_ARGUMENT naming the field
/// (the engine's ValidateRequest, with the server's max_prompt_tokens);
/// AddRequest errors keep their code (INVALID_ARGUMENT, RESOURCE_EXHAUSTED,
/// UNAVAILABLE); finish reason ERROR → INTERNAL with the engine's message;
/// CANCELLED not caused by the client (drain, shutdown) → UNAVAILABLE; client
/// cancel / deadline → CANCELLED / DEADLINE_EXCEEDED (after the request was
/// aborted in the engine); missing or wrong bearer token (when
/// options.auth_token is set) → UNAUTHENTICATED. (Draining refuses nothing
/// here: ServerApp shuts the gRPC server down first, so every call that still
/// reaches the service was accepted before the drain and is served.)
///
/// Every Generate / GenerateStream call ends with exactly one
/// Metrics::RecordOutcome and one request-log entry.
class GenerationService final : public v1::Generation::CallbackService {
 public:
  /// `engine` (and `metrics`, which may be null) must outlive the service.
  explicit GenerationService(LLMEngine* engine, GenerationServiceOptions options = {},
                             Metrics* metrics = nullptr);

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

  /// Waits up to `timeout` until no call is running; true if none is.
  bool WaitForNoCalls(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  /// Calls currently running (admitted past auth).
  int active_calls() const ABSL_LOCKS_EXCLUDED(mu_);

  // ---- For the reactors (server/generate_reactors.cc) ----

  /// Auth; OK means the call is registered as active and must be released
  /// with ReleaseCall.
  grpc::Status AdmitCall(const grpc::ServerContextBase& context) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseCall() ABSL_LOCKS_EXCLUDED(mu_);
  /// Converts and validates `request` and submits it with `on_output`.
  /// Fills log->request_id / prompt_tokens; `*request_id` is the id in the
  /// engine, `*prompt_token_ids` (if not null) the tokenized prompt. On
  /// failure nothing was submitted.
  grpc::Status SubmitRequest(const v1::GenerateRequest& request, OutputCallback on_output,
                             std::string* request_id, RequestLogEntry* log,
                             std::vector<int32_t>* prompt_token_ids = nullptr);
  /// Completes `log` (from the final output, if any), emits it and records
  /// the outcome in the metrics.
  void RecordCall(const RequestOutput* final_output, const grpc::Status& status,
                  absl::Time start, RequestLogEntry* log) const;
  LLMEngine* engine() const { return engine_; }
  /// Runs `task` on the service's response threads (never the caller's).
  void PostResponseWork(std::function<void()> task) { executor_.Post(std::move(task)); }

 private:
  /// A fresh server-assigned request id.
  std::string NextRequestId();

  LLMEngine* engine_;
  GenerationServiceOptions options_;
  Metrics* metrics_;
  std::atomic<uint64_t> next_id_{1};
  /// Builds response messages off the engine thread; destroyed (after running
  /// what is queued) with the service, after the gRPC server has shut down.
  ResponseExecutor executor_;

  mutable absl::Mutex mu_;
  int active_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_GENERATION_SERVICE_H_
