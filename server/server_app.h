#ifndef LLMSERVE_SERVER_SERVER_APP_H_
#define LLMSERVE_SERVER_SERVER_APP_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"
#include "server/generation_service.h"

namespace llmserve::server {

/// How the gRPC server is set up around an engine.
struct ServerOptions {
  /// host:port to listen on (insecure credentials). Port 0 picks a free port
  /// (see ServerApp::port()).
  std::string listen_address = "localhost:50051";
  /// Largest request message accepted, in bytes (gRPC's default is 4 MiB).
  int max_receive_message_bytes = 4 * 1024 * 1024;
  /// Run LLMEngine::WarmUp before serving.
  bool warm_up = true;
  /// Register the gRPC server reflection service (for grpcurl & co.).
  bool enable_reflection = true;
  /// The Generation service's behaviour (polling, request log).
  GenerationServiceOptions service;
};

/// The llmserve process minus flag parsing: an engine, the Generation service
/// over it, gRPC's built-in health service (grpc.health.v1, service "")
/// and the gRPC server hosting them.
///
/// Lifecycle: Start (warm-up → listen → health SERVING) … Shutdown (health
/// NOT_SERVING → stop the gRPC server, giving in-flight calls a grace period
/// before they are cancelled → shut the engine down). Hooks for a drain
/// timeout and metrics belong here.
class ServerApp {
 public:
  /// Takes a loaded engine, warms it up (options.warm_up), starts serving on
  /// options.listen_address and marks health SERVING.
  /// Errors: the warm-up's, UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServerApp>> Start(std::unique_ptr<LLMEngine> engine,
                                                          ServerOptions options);
  /// Shuts down (without grace) if still running.
  ~ServerApp();

  ServerApp(const ServerApp&) = delete;
  ServerApp& operator=(const ServerApp&) = delete;

  /// The bound port (resolved when listen_address asked for port 0).
  int port() const { return port_; }
  /// The listen address with the bound port, e.g. "127.0.0.1:40123".
  const std::string& address() const { return address_; }
  LLMEngine& engine() { return *engine_; }

  /// Blocks until Shutdown (from another thread) has completed.
  void Wait() ABSL_LOCKS_EXCLUDED(shutdown_mu_);

  /// Stops serving: health NOT_SERVING, new calls refused, in-flight calls get
  /// up to `grace` to finish and are then cancelled (their requests are
  /// aborted in the engine), then the engine shuts down. Idempotent and
  /// thread-safe (callable from a signal-watching thread).
  void Shutdown(absl::Duration grace = absl::Seconds(5)) ABSL_LOCKS_EXCLUDED(shutdown_mu_);

 private:
  ServerApp() = default;

  std::unique_ptr<LLMEngine> engine_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;  ///< Shutdown has begun
  bool done_ ABSL_GUARDED_BY(shutdown_mu_) = false;       ///< Shutdown has completed
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_SERVER_APP_H_
