#ifndef LLMSERVE_SERVER_REQUEST_LOG_H_
#define LLMSERVE_SERVER_REQUEST_LOG_H_

#include <functional>
#include <string>

#include <grpcpp/support/status.h>

#include "engine/request.h"

namespace llmserve::server {

/// The outcome of one Generate / GenerateStream call, logged when it ends.
struct RequestLogEntry {
  std::string method;          ///< "Generate" or "GenerateStream"
  std::string request_id;      ///< empty if the request was rejected before one was assigned
  int prompt_tokens = 0;       ///< 0 if rejected before tokenization
  int completion_tokens = 0;
  FinishReason finish_reason = FinishReason::kNone;  ///< kNone if never admitted
  double time_to_first_token_seconds = 0;  ///< engine-measured; 0 if no token
  double total_seconds = 0;    ///< handler wall time, call start → end
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;         ///< status message (empty when OK)
};

/// Receives one entry per finished call, on the handler thread. Must be thread-safe.
using RequestLogger = std::function<void(const RequestLogEntry&)>;

/// Formats an entry as one line (no trailing newline), e.g.
/// `Generate id=req-1 prompt_tokens=5 completion_tokens=16 finish=length ttft=0.0040s
/// total=0.0310s status=OK` (finish=- when the request never finished in the engine;
/// ` message="..."` (C-escaped) appended for errors).
std::string FormatRequestLogLine(const RequestLogEntry& entry);

/// A logger that writes FormatRequestLogLine + '\n' to stderr in one write.
RequestLogger StderrRequestLogger();

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_REQUEST_LOG_H_
