#ifndef LLMSERVE_SERVER_TCP_LISTENER_H_
#define LLMSERVE_SERVER_TCP_LISTENER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve::server {

/// The plaintext gRPC listener, owned by llmserve rather than by gRPC, so that
/// a drain can stop accepting connections *before* grpc::Server::Shutdown.
///
/// Why: gRPC (1.51) fails every call that reaches a server after Shutdown has
/// begun (CANCELLED, C-core's "zombie" calls), including calls a balancer sent
/// on a connection accepted just before. With this listener the drain closes
/// the listening sockets first (new connections are refused, which nginx and
/// Envoy retry on another replica), lets connections already accepted deliver
/// their calls, and only then shuts gRPC down. Accepted sockets are handed to
/// gRPC with grpc::AddInsecureChannelFromFd (plaintext only: gRPC 1.51 has no
/// TLS variant, so TLS servers listen through gRPC itself).
class TcpListener {
 public:
  /// Binds and listens on `address`: "host:port", "[ipv6]:port" or ":port";
  /// "localhost" binds every address it resolves to (skipping a family the
  /// host lacks, e.g. ::1 without IPv6); port 0 picks a free port
  /// (the same on every address). Errors: INVALID_ARGUMENT if the address is
  /// not host:port; UNAVAILABLE naming the address and errno text if it cannot
  /// be resolved, bound or listened on.
  static absl::StatusOr<std::unique_ptr<TcpListener>> Bind(const std::string& address);
  /// Close()s.
  ~TcpListener();

  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  /// The bound TCP port.
  int port() const { return port_; }
  /// Starts a thread that accepts connections and passes each connected,
  /// non-blocking socket to `on_connection`, which takes ownership. Once.
  void Start(std::function<void(int fd)> on_connection);
  /// Stops accepting and closes the listening sockets: connections the kernel
  /// has queued are still accepted and handed out, then the sockets close —
  /// from the return on, a connect() is refused (only a connection completed
  /// in the instant between the last accept and the close is reset).
  /// Connections already handed out are untouched.
  /// Idempotent; joins the accept thread.
  void Close();

 private:
  TcpListener() = default;
  void AcceptLoop(std::function<void(int fd)> on_connection);

  std::vector<int> fds_;    ///< listening sockets
  int wake_fds_[2] = {-1, -1};  ///< pipe: Close() wakes the accept thread
  int port_ = 0;
  std::thread thread_;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_TCP_LISTENER_H_
