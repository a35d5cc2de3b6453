#include "server/request_log.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace llmserve::server {
std::string FormatRequestLogLine(const RequestLogEntry& e) {
  std::string line = absl::StrFormat(
      "%s id=%s prompt_tokens=%d completion_tokens=%d finish=%s ttft=%.4fs total=%.4fs "
      "status=%s",
      e.method, e.request_id.empty() ? "-" : absl::CEscape(e.request_id), e.prompt_tokens,
      e.completion_tokens,
      e.finish_reason == FinishReason::kNone ? "-" : FinishReasonName(e.finish_reason),
      e.time_to_first_token_seconds, e.total_seconds,
      absl::StatusCodeToString(static_cast<absl::StatusCode>(e.code)));
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
