#ifndef LLMSERVE_CLIENT_BENCH_CHANNEL_H_
#define LLMSERVE_CLIENT_BENCH_CHANNEL_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace llmserve::bench {

/// Where and how to connect, as llmserve-client's flags.
struct ChannelOptions {
  std::string address;
  bool tls = false;             ///< TLS with the system roots (implied by the files below)
  std::string tls_ca;           ///< PEM CA bundle file
  std::string tls_cert;         ///< PEM client certificate chain file (mutual TLS)
  std::string tls_key;          ///< PEM private key file of tls_cert
  std::string tls_server_name;  ///< name to verify instead of the address's host
};

/// `count` channels to the server, each its own HTTP/2 connection (a local
/// subchannel pool), so load can be spread over several connections.
/// Errors: INVALID_ARGUMENT (cert without key), NOT_FOUND (unreadable file).
absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels(
    const ChannelOptions& options, int count);

/// The bearer token: `token`, or the contents of `token_file` (surrounding
/// whitespace removed). Errors: INVALID_ARGUMENT (both given, empty file),
/// NOT_FOUND (unreadable file).
absl::StatusOr<std::string> LoadAuthToken(const std::string& token, const std::string& token_file);

/// A whole file. Errors: NOT_FOUND naming it.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_CHANNEL_H_
