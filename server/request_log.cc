#include "server/request_log.h"

#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "server/proto_convert.h"

namespace llmserve::server {
namespace {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: break;
  }
  return "UNKNOWN";
}

}  // namespace

std::string FormatRequestLogLine(const RequestLogEntry& e) {
  std::string line = absl::StrFormat(
      "%s id=%s prompt_tokens=%d completion_tokens=%d finish=%s ttft=%.4fs total=%.4fs "
      "status=%s",
      e.method, e.request_id.empty() ? "-" : absl::CEscape(e.request_id), e.prompt_tokens,
      e.completion_tokens, FinishReasonString(e.finish_reason),
      e.time_to_first_token_seconds, e.total_seconds, StatusCodeName(e.code));
  if (!e.message.empty()) absl::StrAppendFormat(&line, " message=\"%s\"", absl::CEscape(e.message));
  return line;
}

RequestLogger StderrRequestLogger() {
  return [](const RequestLogEntry& entry) {
    std::string line = FormatRequestLogLine(entry);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

}  // namespace llmserve::server
