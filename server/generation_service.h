#ifndef LLMSERVE_SERVER_GENERATION_SERVICE_H_
#define LLMSERVE_SERVER_GENERATION_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include <grpcpp/grpcpp.h>

#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/engine_call.h"
#include "server/request_log.h"

namespace llmserve::server {

/// Behaviour of the Generation service.
struct GenerationServiceOptions {
  /// Waiting for engine output and reacting to client cancellation.
  EngineCallOptions call;
  /// Receives one entry per Generate / GenerateStream call. Default: stderr.
  RequestLogger logger = StderrRequestLogger();
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
/// aborted in the engine).
class GenerationService final : public v1::Generation::Service {
 public:
  /// `engine` must outlive the service.
  explicit GenerationService(LLMEngine* engine, GenerationServiceOptions options = {});

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        v1::GenerateResponse* response) override;
  grpc::Status GenerateStream(grpc::ServerContext* context, const v1::GenerateRequest* request,
                              grpc::ServerWriter<v1::GenerateStreamResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context, const v1::GetModelInfoRequest* request,
                            v1::ModelInfo* response) override;

 private:
  /// Validates `request` and starts it in the engine. On failure returns the
  /// gRPC status (and `call` is not admitted). Fills log->request_id/prompt_tokens.
  grpc::Status StartCall(const v1::GenerateRequest& request, EngineCall& call,
                         RequestLogEntry* log);
  /// The status of a call whose outputs ended (finished or client-cancelled).
  grpc::Status EndStatus(grpc::ServerContext* context, const EngineCall& call) const;
  /// Completes `log` from the call's end and emits it.
  void Log(const EngineCall& call, const grpc::Status& status, absl::Time start,
           RequestLogEntry* log) const;
  /// A fresh server-assigned request id.
  std::string NextRequestId();

  LLMEngine* engine_;
  GenerationServiceOptions options_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_GENERATION_SERVICE_H_
