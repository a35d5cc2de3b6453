#include "server/http/openai_error.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace llmserve::server::http {

std::string ParamFromMessage(const std::string& message) {
  size_t end = 0;
  while (end < message.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(message[end])) || message[end] == '_' ||
          message[end] == '.')) {
    ++end;
  }
  if (end == 0 || end == message.size() ||
      (message[end] != ' ' && message[end] != ':' && message[end] != '[' && message[end] != '=')) {
    return "";
  }
  std::string field = message.substr(0, end);
  if (absl::StartsWith(field, "sampling_params.")) field = field.substr(16);
  if (absl::StartsWith(field, "prompt.")) field = "prompt";
  // A single lowercase word that is part of a sentence ("the", "engine") is no field.
  if (field.find('_') == std::string::npos && field.find('.') == std::string::npos) {
    static const char* const kSingleWordFields[] = {"prompt", "messages", "model", "n",
                                                    "stop",   "seed",     "stream", "priority",
                                                    "logprobs", "temperature", "echo"};
    bool known = false;
    for (const char* f : kSingleWordFields) known |= field == f;
    if (!known) return "";
  }
  return field;
}

OpenAIError ErrorFromStatus(const absl::Status& status) {
  OpenAIError e;
  e.message = std::string(status.message());
  e.status_code = status.code();
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      e.http_status = 400;
      e.type = "invalid_request_error";
      e.param = ParamFromMessage(e.message);
      break;
    case absl::StatusCode::kUnauthenticated:
      e.http_status = 401;
      e.type = "authentication_error";
      e.code = "invalid_api_key";
      break;
    case absl::StatusCode::kPermissionDenied:
      e.http_status = 403;
      e.type = "permission_error";
      break;
    case absl::StatusCode::kNotFound:
      e.http_status = 404;
      e.type = "not_found_error";
      break;
    case absl::StatusCode::kResourceExhausted:
      e.http_status = 429;
      e.type = "rate_limit_error";
      e.code = "queue_full";
      break;
    case absl::StatusCode::kUnavailable:
      e.http_status = 503;
      e.type = "service_unavailable";
      break;
    case absl::StatusCode::kCancelled:
      e.http_status = 499;  // nginx's "client closed request": nobody reads it
      e.type = "cancelled";
      break;
    default:
      e.http_status = 500;
      e.type = "internal_error";
      break;
  }
  return e;
}

std::string ErrorBody(const OpenAIError& error) {
  nlohmann::json body = {{"error",
                          {{"message", error.message},
                           {"type", error.type},
                           {"param", nullptr},
                           {"code", nullptr}}}};
  if (!error.param.empty()) body["error"]["param"] = error.param;
  if (!error.code.empty()) body["error"]["code"] = error.code;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status ToStatus(const OpenAIError& error) {
  return absl::Status(error.status_code, error.message);
}

}  // namespace llmserve::server::http
