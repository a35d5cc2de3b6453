#ifndef LLMSERVE_SERVER_HTTP_OPENAI_ERROR_H_
#define LLMSERVE_SERVER_HTTP_OPENAI_ERROR_H_

#include <string>

#include "absl/status/status.h"

namespace llmserve::server::http {

/// An error answered in OpenAI's JSON error shape
/// (https://platform.openai.com/docs/guides/error-codes):
/// `{"error": {"message", "type", "param", "code"}}`.
struct OpenAIError {
  int http_status = 500;   ///< 400, 401, 404, 413, 429, 500, 503, ...
  std::string message;     ///< human-readable, names the field when one is wrong
  std::string type;        ///< invalid_request_error, authentication_error, ...
  std::string param;       ///< the request field at fault; empty → JSON null
  std::string code;        ///< machine-readable; empty → JSON null
  /// The canonical status this error counts as in the metrics / request log.
  absl::StatusCode status_code = absl::StatusCode::kInternal;
};

/// Maps an absl::Status of the shared request path (conversion, the engine's
/// ValidateRequest, AddRequest, a final output's status) to its HTTP error:
/// INVALID_ARGUMENT → 400 invalid_request_error (param: the field the message
/// starts with, `sampling_params.top_p ...` → "top_p"), UNAUTHENTICATED → 401
/// authentication_error, NOT_FOUND → 404 not_found_error, RESOURCE_EXHAUSTED
/// → 429 rate_limit_error (queue full), UNAVAILABLE → 503 service_unavailable
/// (draining / shut down), CANCELLED → 499 (client closed), anything else →
/// 500 internal_error. The message is the status message unchanged.
OpenAIError ErrorFromStatus(const absl::Status& status);

/// The request field a validation message names: its first word up to a
/// space, ':', '[' or '=', without the proto prefix `sampling_params.` and
/// `prompt.`'s sub-field ("prompt.text ..." → "prompt"); "" when the message
/// does not start with an identifier.
std::string ParamFromMessage(const std::string& message);

/// The error's JSON body (one line, no trailing newline).
std::string ErrorBody(const OpenAIError& error);

/// The same status as an absl::Status (for metrics and the request log).
absl::Status ToStatus(const OpenAIError& error);

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_OPENAI_ERROR_H_
