#ifndef LLMSERVE_SERVER_GENERATION_SERVICE_H_
#define LLMSERVE_SERVER_GENERATION_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include <grpcpp/grpcpp.h>

#include "engine/llm_engine.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/engine_call.h"
#include "server/metrics.h"
#include "server/request_log.h"

namespace llmserve::server {

/// Behaviour of the Generation service.
struct GenerationServiceOptions {
  /// Waiting for engine output and reacting to client cancellation.
  EngineCallOptions call;
  /// Receives one entry per Generate / GenerateStream call. Default: stderr.
  RequestLogger logger = StderrRequestLogger();
  /// Longest accepted prompt, in tokens (--max-prompt-tokens); 0 = the
  /// engine's maximum context.
  int max_prompt_tokens = 0;
  /// When not empty, every call needs the metadata
  /// `authorization: Bearer <auth_token>` (else UNAUTHENTICATED).
  std::string auth_token;
};

/// llmserve.v1.Generation over an LLMEngine, on gRPC's synchronous API: each
/// call runs on a gRPC handler thread that validates the request, submits it
/// to the engine and waits on an EngineCall, so the engine thread never blocks
/// on a client.
///
/// Status mapping: validation failures → INVALID_ARGUMENT naming the field;
/// AddRequest errors keep their code (INVALID_ARGUMENT, RESOURCE_EXHAUSTED,
/// UNAVAILABLE); finish reason ERROR → INTERNAL with the engine's message;
/// CANCELLED not caused by the client (drain, shutdown) → UNAVAILABLE; client
/// cancel / deadline → CANCELLED / DEADLINE_EXCEEDED (after the request was
/// aborted in the engine); missing or wrong bearer token (when
/// options.auth_token is set) → UNAUTHENTICATED; any call while draining →
/// UNAVAILABLE.
///
/// Every Generate / GenerateStream call ends with exactly one
/// Metrics::RecordOutcome and one request-log entry.
class GenerationService final : public v1::Generation::Service {
 public:
  /// `engine` (and `metrics`, which may be null) must outlive the service.
  explicit GenerationService(LLMEngine* engine, GenerationServiceOptions options = {},
                             Metrics* metrics = nullptr);

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        v1::GenerateResponse* response) override;
  grpc::Status GenerateStream(grpc::ServerContext* context, const v1::GenerateRequest* request,
                              grpc::ServerWriter<v1::GenerateStreamResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context, const v1::GetModelInfoRequest* request,
                            v1::ModelInfo* response) override;

  /// From now on every new call is refused with UNAVAILABLE ("server
  /// draining"); calls already running go on. Irreversible.
  void StartDraining() ABSL_LOCKS_EXCLUDED(mu_);
  /// Waits up to `timeout` until no call is running; true if none is.
  bool WaitForNoCalls(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  /// Calls currently running (admitted past auth and the draining check).
  int active_calls() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  /// Admission of one call: registers it as active unless the server drains.
  class CallScope;

  /// Auth, then the draining check; OK means `scope` holds an active call.
  grpc::Status Admit(const grpc::ServerContext& context, CallScope& scope);
  /// Validates `request` and starts it in the engine. On failure returns the
  /// gRPC status (and `call` is not admitted). Fills log->request_id/prompt_tokens.
  grpc::Status StartCall(const v1::GenerateRequest& request, EngineCall& call,
                         RequestLogEntry* log);
  /// The status of a call whose outputs ended (finished or client-cancelled).
  grpc::Status EndStatus(grpc::ServerContext* context, const EngineCall& call) const;
  /// Completes `log` from the call's end, emits it and records the outcome
  /// in the metrics.
  void Finish(const EngineCall& call, const grpc::Status& status, absl::Time start,
              RequestLogEntry* log) const;
  /// A fresh server-assigned request id.
  std::string NextRequestId();

  LLMEngine* engine_;
  GenerationServiceOptions options_;
  Metrics* metrics_;
  std::atomic<uint64_t> next_id_{1};

  mutable absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int active_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_GENERATION_SERVICE_H_
