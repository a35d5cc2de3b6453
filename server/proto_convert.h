#ifndef LLMSERVE_SERVER_PROTO_CONVERT_H_
#define LLMSERVE_SERVER_PROTO_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "engine/llm_engine.h"
#include "engine/request.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::server {

/// The gRPC status with the same code and message (absl and gRPC share the
/// canonical code numbering).
grpc::Status ToGrpcStatus(const absl::Status& status);

/// Engine finish reason → API enum (kNone → FINISH_REASON_UNSPECIFIED).
v1::FinishReason ToProto(FinishReason reason);

/// Fills usage (token counts) from a request's final output.
void FillUsage(const RequestOutput& final_output, v1::Usage* usage);

/// Fills timing (seconds) from a request's final output.
void FillTiming(const RequestTiming& timing, v1::Timing* out);

/// Describes the engine's model and configuration in effect.
void FillModelInfo(const LLMEngine& engine, v1::ModelInfo* info);

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_PROTO_CONVERT_H_
