#include "server/server_app.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_posix.h>
#include <prometheus/exposer.h>
#include <boost/asio/ssl/context.hpp>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/auth.h"
#include "server/proto_convert.h"

namespace llmserve::server {
namespace {

/// Between closing the listener and gRPC's GOAWAY when draining: calls on
/// connections accepted just before the close arrive (and are served).
constexpr absl::Duration kListenerSettle = absl::Milliseconds(200);

/// `address` with its port replaced by `port` ("host:0" → "host:40123").
std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(colon == std::string::npos ? address : address.substr(0, colon), ":", port);
}

void LogLine(const std::string& line) {
  const std::string text = absl::StrCat("llmserve: ", line, "\n");
  std::fwrite(text.data(), 1, text.size(), stderr);
}

/// A PEM file's contents. `flag` names the option in errors.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  std::string pem = contents.str();
  if (!absl::StrContains(pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return pem;
}

/// Plaintext, TLS (--tls-cert/--tls-key) or mutual TLS (+ --tls-client-ca).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
  const bool has_cert = !options.tls_cert_file.empty();
  const bool has_key = !options.tls_key_file.empty();
  const bool has_ca = !options.tls_client_ca_file.empty();
  if (!has_cert && !has_key) {
    if (has_ca) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (!has_cert || !has_key) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  absl::StatusOr<std::string> cert = ReadPemFile(options.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(options.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(
      has_ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (has_ca) {
    absl::StatusOr<std::string> ca = ReadPemFile(options.tls_client_ca_file, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

/// The HTTP front's TLS context from the same files as gRPC's credentials
/// (MakeCredentials has checked the flag combinations): TLS 1.2+, the
/// certificate chain and key, and with --tls-client-ca required client
/// certificates signed by it.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeHttpTlsContext(
    const ServerOptions& options) {
  auto context = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(boost::asio::ssl::context::default_workarounds |
                           boost::asio::ssl::context::no_sslv2 |
                           boost::asio::ssl::context::no_sslv3 |
                           boost::asio::ssl::context::no_tlsv1 |
                           boost::asio::ssl::context::no_tlsv1_1,
                       ec);
  context->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert: ", options.tls_cert_file, ": ", ec.message()));
  }
  context->use_private_key_file(options.tls_key_file, boost::asio::ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", options.tls_key_file, ": ", ec.message()));
  }
  if (!options.tls_client_ca_file.empty()) {
    context->load_verify_file(options.tls_client_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-client-ca: ", options.tls_client_ca_file, ": ", ec.message()));
    }
    context->set_verify_mode(boost::asio::ssl::verify_peer |
                             boost::asio::ssl::verify_fail_if_no_peer_cert);
  }
  return context;
}

/// civetweb takes numeric addresses only: "localhost:P" → "127.0.0.1:P".
std::string CivetListenAddress(const std::string& address) {
  if (absl::StartsWith(address, "localhost:")) {
    return absl::StrCat("127.0.0.1", address.substr(std::string("localhost").size()));
  }
  return address;
}

}  // namespace

ServerApp::ServerApp(ServerOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ServerApp>> ServerApp::Start(std::unique_ptr<LLMEngine> engine,
                                                            ServerOptions options,
                                                            std::shared_ptr<Metrics> metrics) {
  if (engine == nullptr) return absl::InvalidArgumentError("ServerApp::Start: null engine");
  // From here on, an early return destroys `app`, which shuts the engine down.
  std::unique_ptr<ServerApp> app(new ServerApp(std::move(options)));
  app->metrics_ = metrics != nullptr ? std::move(metrics) : std::make_shared<Metrics>();
  app->engine_ = std::move(engine);
  ServerOptions& o = app->options_;

  // Files first: a typo fails before the (possibly long) warm-up.
  if (!o.auth_token_file.empty()) {
    absl::StatusOr<std::string> token = ReadAuthTokenFile(o.auth_token_file);
    if (!token.ok()) return token.status();
    o.service.auth_token = *std::move(token);
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeCredentials(o);
  if (!credentials.ok()) return credentials.status();

  if (o.warm_up) {
    if (absl::Status s = app->engine_->WarmUp(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("engine warm-up failed: ", s.message()));
    }
  }
  app->metrics_->AttachEngine(app->engine_.get());

  if (!o.metrics_address.empty()) {
    try {
      app->exposer_ =
          std::make_unique<prometheus::Exposer>(CivetListenAddress(o.metrics_address));
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", o.metrics_address, ": ", e.what()));
    }
    const std::vector<int> ports = app->exposer_->GetListeningPorts();
    if (ports.empty()) {
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", o.metrics_address));
    }
    app->metrics_port_ = ports.front();
    app->metrics_address_ = WithPort(o.metrics_address, app->metrics_port_);
    app->exposer_->RegisterCollectable(app->metrics_);
  }

  app->service_ =
      std::make_unique<GenerationService>(app->engine_.get(), o.service, app->metrics_.get());
  grpc::EnableDefaultHealthCheckService(true);
  if (o.enable_reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Plaintext TCP: llmserve's own listener (see TcpListener: a drain then
  // stops accepting before gRPC shuts down); TLS or unix: gRPC listens.
  const bool own_listener =
      o.tls_cert_file.empty() && !absl::StartsWith(o.listen_address, "unix:");
  if (own_listener) {
    absl::StatusOr<std::unique_ptr<TcpListener>> listener = TcpListener::Bind(o.listen_address);
    if (!listener.ok()) return listener.status();
    app->listener_ = *std::move(listener);
    app->port_ = app->listener_->port();
  } else {
    builder.AddListeningPort(o.listen_address, *credentials, &app->port_);
  }
  builder.SetMaxReceiveMessageSize(o.max_receive_message_bytes);
  builder.RegisterService(app->service_.get());
  app->server_ = builder.BuildAndStart();
  if (app->server_ == nullptr || app->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", o.listen_address));
  }
  if (own_listener) {
    app->listener_->Start(
        [server = app->server_.get()](int fd) { grpc::AddInsecureChannelFromFd(server, fd); });
  }
  app->address_ = WithPort(o.listen_address, app->port_);

  if (!o.http.listen_address.empty()) {
    if (!o.tls_cert_file.empty()) {
      absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> tls = MakeHttpTlsContext(o);
      if (!tls.ok()) return tls.status();
      o.http.tls_context = *std::move(tls);
    }
    o.http.auth_token = o.service.auth_token;
    o.http.max_prompt_tokens = o.service.max_prompt_tokens;
    o.http.logger = o.service.logger;
    absl::StatusOr<std::unique_ptr<http::HttpServer>> http_server = http::HttpServer::Start(
        app->engine_.get(), app->metrics_.get(), o.http,
        [app = app.get()] { return app->serving(); });
    if (!http_server.ok()) return http_server.status();
    app->http_server_ = *std::move(http_server);
  }

  {
    // The engine is loaded and warmed up: report ready.
    absl::MutexLock lock(&app->mu_);
    app->UpdateHealthLocked();
  }
  if (o.watchdog_timeout > absl::ZeroDuration()) {
    app->watchdog_ = std::thread([app = app.get()] { app->WatchdogLoop(); });
  }
  return app;
}

ServerApp::~ServerApp() { Shutdown(absl::ZeroDuration()); }

bool ServerApp::serving() const {
  absl::MutexLock lock(&mu_);
  return serving_;
}

void ServerApp::UpdateHealthLocked() {
  if (server_ == nullptr) return;
  const bool serving = !draining_ && !stalled_;
  if (serving == serving_) return;
  serving_ = serving;
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

void ServerApp::WatchdogLoop() {
  const absl::Duration timeout = options_.watchdog_timeout;
  const absl::Duration interval =
      std::clamp(timeout / 4, absl::Milliseconds(10), absl::Seconds(1));
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_watchdog_), interval)) {
    const double stuck_seconds = engine_->SecondsSinceProgress();
    const bool stalled = stuck_seconds >= absl::ToDoubleSeconds(timeout);
    if (stalled == stalled_) continue;
    stalled_ = stalled;
    LogLine(stalled ? absl::StrFormat("watchdog: the engine has made no progress for %.1f s "
                                      "with work pending; health NOT_SERVING",
                                      stuck_seconds)
                    : "watchdog: the engine is progressing again");
    UpdateHealthLocked();
  }
}

void ServerApp::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
}

void ServerApp::Shutdown() { Shutdown(options_.drain_timeout); }

void ServerApp::Shutdown(absl::Duration drain_timeout) {
  {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      mu_.Await(absl::Condition(&done_));
      return;
    }
    draining_ = true;
    UpdateHealthLocked();  // NOT_SERVING at once
  }
  const absl::Time drain_deadline = absl::Now() + std::max(drain_timeout, absl::ZeroDuration());
  // HTTP: new generation requests get 503 from now on; running ones go on.
  if (http_server_ != nullptr) http_server_->BeginDrain();
  // Stop listening before anything else: every balancer (nginx, Envoy, gRPC
  // clients' round-robin) sends new calls to another replica at once — a
  // refused connection is retried elsewhere, while an answer from a draining
  // replica, even UNAVAILABLE, is not (nginx cannot retry on a gRPC status).
  // Nothing refuses calls: every call that reaches the service is served.
  // Connections accepted just before still deliver their calls during the
  // settle time; then GOAWAY (grpc::Server::Shutdown), after which gRPC
  // fails any new call on its own (CANCELLED) — hence the settle time, which
  // deploy_test.py's drain test showed is needed behind nginx.
  if (listener_ != nullptr) {
    listener_->Close();
    if (server_ != nullptr) {
      absl::SleepFor(std::clamp(drain_timeout, absl::ZeroDuration(), kListenerSettle));
    }
  }
  // grpc::Server::Shutdown returns once every call has finished, so it runs
  // beside the drain; its deadline (after the drain and the grace) only
  // matters if a call outlives the engine's cancellation below.
  std::thread server_shutdown;
  absl::Notification calls_done;
  if (server_ != nullptr) {
    const auto deadline =
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(absl::ToInt64Milliseconds(
            std::max(drain_timeout, absl::ZeroDuration()) +
            std::max(options_.shutdown_grace, absl::ZeroDuration())));
    server_shutdown = std::thread([this, deadline, &calls_done] {
      server_->Shutdown(deadline);
      calls_done.Notify();
    });
  } else {
    calls_done.Notify();
  }
  {
    absl::MutexLock lock(&mu_);
    stop_watchdog_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
  if (service_ != nullptr) {
    if (const int active = service_->active_calls(); active > 0) {
      LogLine(absl::StrFormat("draining: %d call(s) in flight, up to %s", active,
                              absl::FormatDuration(drain_timeout)));
    }
  }
  // Waits for gRPC's own count of calls (it includes calls accepted but not
  // yet admitted by the service, which the service's count misses).
  if (!calls_done.WaitForNotificationWithTimeout(std::max(drain_timeout, absl::ZeroDuration()))) {
    LogLine(absl::StrFormat("drain timeout: cancelling %d call(s)",
                            service_ != nullptr ? service_->active_calls() : 0));
  }
  if (http_server_ != nullptr) {
    if (const int active = http_server_->active_calls(); active > 0) {
      LogLine(absl::StrFormat("draining: %d HTTP request(s) in flight", active));
    }
    if (!http_server_->WaitForNoCalls(std::max(drain_deadline - absl::Now(), absl::ZeroDuration()))) {
      LogLine(absl::StrFormat("drain timeout: cancelling %d HTTP request(s)",
                              http_server_->active_calls()));
    }
  }
  // Cancels whatever is left: those calls end with UNAVAILABLE.
  if (engine_ != nullptr) engine_->Shutdown(absl::UnavailableError("server draining"));
  if (http_server_ != nullptr) {
    http_server_->Stop(std::max(options_.shutdown_grace, absl::Seconds(1)));
  }
  if (server_shutdown.joinable()) server_shutdown.join();
  // Every call's OnDone has released it before the service may be destroyed:
  // waiting on the service's own count (under its mutex) orders the last
  // ReleaseCall before ~GenerationService in our code, not only inside gRPC
  // (ThreadSanitizer saw the mutex destroyed right after a reactor's
  // OnDone unlocked it on a gRPC thread).
  if (service_ != nullptr &&
      !service_->WaitForNoCalls(std::max(options_.shutdown_grace, absl::Seconds(1)))) {
    LogLine(absl::StrFormat("shutdown: %d call(s) still not released", service_->active_calls()));
  }
  if (metrics_ != nullptr) metrics_->DetachEngine();
  absl::MutexLock lock(&mu_);
  done_ = true;
}

}  // namespace llmserve::server
