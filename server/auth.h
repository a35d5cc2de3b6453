#ifndef LLMSERVE_SERVER_AUTH_H_
#define LLMSERVE_SERVER_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace llmserve::server {

/// Reads a bearer token from `path` (--auth-token-file): the whole file with
/// trailing whitespace (newline) and leading whitespace removed.
/// Errors: NOT_FOUND if unreadable, INVALID_ARGUMENT if the token is empty or
/// contains whitespace or control characters.
absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path);

/// Byte-wise equality in time that depends only on `expected`'s length (not
/// on where the first difference is).
bool ConstantTimeEquals(absl::string_view provided, absl::string_view expected);

/// The one bearer-token check of both fronts (transport-neutral): OK when one
/// of `authorization_values` (every `authorization` gRPC metadata value or
/// HTTP header value of the request) is `Bearer <token>` (RFC 6750 §2.1,
/// scheme case-insensitive); UNAUTHENTICATED saying what is missing or wrong
/// otherwise (never echoing the token).
///
/// Why the gRPC handlers call this instead of a grpc::AuthMetadataProcessor
/// or a server interceptor: gRPC 1.51 only runs auth metadata processors on
/// TLS credentials (setting one on insecure credentials aborts), and its C++
/// server interceptors cannot end a call with a status. Health and reflection
/// (gRPC) and GET /health (HTTP) are exempt by not calling it.
absl::Status CheckBearerToken(absl::Span<const absl::string_view> authorization_values,
                              absl::string_view token);

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_AUTH_H_
