#ifndef LLMSERVE_SERVER_SERVER_APP_H_
#define LLMSERVE_SERVER_SERVER_APP_H_

#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"
#include "server/generation_service.h"
#include "server/http/http_server.h"
#include "server/tcp_listener.h"
#include "server/metrics.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace llmserve::server {

/// How the gRPC server is set up around an engine.
struct ServerOptions {
  /// host:port to listen on. Port 0 picks a free port (see ServerApp::port()).
  std::string listen_address = "localhost:50051";
  /// Largest request message accepted, in bytes (gRPC's default is 4 MiB).
  int max_receive_message_bytes = 4 * 1024 * 1024;
  /// Run LLMEngine::WarmUp before serving.
  bool warm_up = true;
  /// Register the gRPC server reflection service (for grpcurl & co.).
  bool enable_reflection = true;

  /// host:port of the Prometheus exporter (plain HTTP, path /metrics, no
  /// auth); empty = none. Port 0 picks a free port (ServerApp::metrics_port()).
  std::string metrics_address;

  /// Shutdown: how long calls already running may go on finishing (new ones
  /// are refused); the rest are then cancelled with UNAVAILABLE.
  absl::Duration drain_timeout = absl::Seconds(30);
  /// Shutdown: after the engine has cancelled what was left, how long the
  /// handlers get to send their final status before gRPC cancels the calls.
  absl::Duration shutdown_grace = absl::Seconds(5);
  /// Health turns NOT_SERVING while the engine has had work pending without
  /// progress for this long (LLMEngine::SecondsSinceProgress), and SERVING
  /// again when it progresses. Zero or negative: no watchdog.
  absl::Duration watchdog_timeout = absl::Seconds(60);

  /// When set, every RPC but health and reflection needs the metadata
  /// `authorization: Bearer <token>` with the token in this file (read once
  /// at Start, surrounding whitespace removed).
  std::string auth_token_file;
  /// PEM certificate chain and private key: serve TLS instead of plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// PEM CA bundle: also require client certificates signed by it (mTLS).
  std::string tls_client_ca_file;

  /// The Generation service's behaviour (request log, limits, auth).
  /// service.auth_token is filled from auth_token_file.
  GenerationServiceOptions service;

  /// The OpenAI-compatible HTTP front (--http-listen); none when
  /// http.listen_address is empty. Its auth token, prompt limit and request
  /// logger are taken from `service` at Start (one policy for both fronts).
  http::HttpOptions http;
};

/// The llmserve process minus flag parsing: an engine, the Generation service
/// over it, gRPC's built-in health service (grpc.health.v1, service ""), the
/// gRPC server hosting them, the OpenAI-compatible HTTP front over the same
/// engine (server/http, when options.http.listen_address is set), the
/// Prometheus exporter and the engine watchdog.
///
/// Draining covers both fronts: the HTTP front answers new generation
/// requests and GET /health with 503 from the start of the drain, lets
/// running ones finish within the same drain_timeout, and stops after the
/// engine has cancelled what was left.
///
/// Lifecycle:
///  - Start: read the auth token / TLS files → warm-up → metrics attached →
///    exporter listening → gRPC listening → health SERVING → watchdog running.
///  - Health: SERVING while not draining and the watchdog sees the engine
///    progressing; NOT_SERVING otherwise.
///  - Shutdown (drain): health NOT_SERVING and the listener closes at once
///    (TcpListener: new connections are refused); after a short settle time
///    (kListenerSettle) the gRPC server shuts down: GOAWAY to every
///    connection, so balancers
///    and clients send new calls elsewhere (gRPC serves nothing that arrives
///    after it; every call accepted before is served, none is refused);
///    running calls keep their streams and get up to drain_timeout to finish; then the engine is shut down, cancelling
///    what is left (those calls end with UNAVAILABLE); gRPC's own deadline is
///    drain_timeout + shutdown_grace. The exporter keeps serving /metrics
///    until the ServerApp is destroyed.
class ServerApp {
 public:
  /// Takes a loaded engine, warms it up (options.warm_up), starts serving and
  /// marks health SERVING. `metrics` is the observer the engine was created
  /// with (LLMEngine::Create(options, metrics.get())); null: the app makes
  /// its own (then only the service-side and stats-sampled metrics move).
  /// Errors: the warm-up's; NOT_FOUND / INVALID_ARGUMENT for unreadable or
  /// bad auth token / TLS files; UNAVAILABLE if an address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServerApp>> Start(
      std::unique_ptr<LLMEngine> engine, ServerOptions options,
      std::shared_ptr<Metrics> metrics = nullptr);
  /// Shuts down without draining if still running.
  ~ServerApp();

  ServerApp(const ServerApp&) = delete;
  ServerApp& operator=(const ServerApp&) = delete;

  /// The bound port (resolved when listen_address asked for port 0).
  int port() const { return port_; }
  /// The listen address with the bound port, e.g. "127.0.0.1:40123".
  const std::string& address() const { return address_; }
  /// The HTTP front's bound port; 0 without one.
  int http_port() const { return http_server_ != nullptr ? http_server_->port() : 0; }
  /// The HTTP front's address with the bound port; empty without one.
  std::string http_address() const {
    return http_server_ != nullptr ? http_server_->address() : std::string();
  }
  /// The HTTP front (null without one).
  http::HttpServer* http_server() { return http_server_.get(); }
  /// The exporter's bound port; 0 without exporter.
  int metrics_port() const { return metrics_port_; }
  /// metrics_address with the bound port; empty without exporter.
  const std::string& metrics_address() const { return metrics_address_; }
  LLMEngine& engine() { return *engine_; }
  Metrics& metrics() { return *metrics_; }
  /// The Generation service (active calls).
  GenerationService* service() { return service_.get(); }

  /// What health reports: SERVING (true) or NOT_SERVING.
  bool serving() const ABSL_LOCKS_EXCLUDED(mu_);

  /// Blocks until Shutdown (from another thread) has completed.
  void Wait() ABSL_LOCKS_EXCLUDED(mu_);

  /// Drains and stops (see the class comment) with options.drain_timeout.
  /// Idempotent and thread-safe (callable from a signal-watching thread); a
  /// concurrent or later call waits until the first has completed.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  /// The same with an explicit drain timeout (zero: cancel at once).
  void Shutdown(absl::Duration drain_timeout) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit ServerApp(ServerOptions options);

  void UpdateHealthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchdogLoop() ABSL_LOCKS_EXCLUDED(mu_);

  ServerOptions options_;
  // Declared first: destroyed last, so /metrics answers until the very end.
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<Metrics> metrics_;
  // Before the engine: destroyed after it (Shutdown has stopped its threads).
  std::unique_ptr<http::HttpServer> http_server_;
  std::unique_ptr<LLMEngine> engine_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<grpc::Server> server_;
  /// The plaintext listener (null with TLS or a unix: address: then gRPC
  /// listens itself). Closed first when draining.
  std::unique_ptr<TcpListener> listener_;
  std::thread watchdog_;
  int port_ = 0;
  std::string address_;
  int metrics_port_ = 0;
  std::string metrics_address_;

  mutable absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;      ///< Shutdown has begun
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;       ///< the watchdog fired
  bool serving_ ABSL_GUARDED_BY(mu_) = false;       ///< what health reports
  bool stop_watchdog_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;          ///< Shutdown has completed
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_SERVER_APP_H_
