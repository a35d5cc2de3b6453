#ifndef LLMSERVE_SERVER_AUTH_H_
#define LLMSERVE_SERVER_AUTH_H_

#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llmserve::server {

/// Reads a bearer token from `path` (--auth-token-file): the whole file with
/// trailing whitespace (newline) and leading whitespace removed.
/// Errors: NOT_FOUND if unreadable, INVALID_ARGUMENT if the token is empty or
/// contains whitespace or control characters.
absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path);

/// Byte-wise equality in time that depends only on `expected`'s length (not
/// on where the first difference is).
bool ConstantTimeEquals(absl::string_view provided, absl::string_view expected);

/// Checks that the call carries the metadata `authorization: Bearer <token>`
/// (scheme case-insensitive) with `token`. OK, or UNAUTHENTICATED saying what
/// is missing or wrong (never echoing the token).
///
/// Why the Generation handlers call this instead of a
/// grpc::AuthMetadataProcessor or a server interceptor: gRPC 1.51 only runs
/// auth metadata processors on TLS credentials (setting one on insecure
/// credentials aborts), and its C++ server interceptors cannot end a call with
/// a status. Health and reflection are exempt by not calling it.
grpc::Status CheckBearerToken(const grpc::ServerContextBase& context, absl::string_view token);

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_AUTH_H_
