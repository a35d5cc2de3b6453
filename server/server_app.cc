#include "server/server_app.h"

#include <chrono>
#include <utility>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"

namespace llmserve::server {
namespace {

/// `address` with its port replaced by `port` ("host:0" → "host:40123").
std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(colon == std::string::npos ? address : address.substr(0, colon), ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerApp>> ServerApp::Start(std::unique_ptr<LLMEngine> engine,
                                                            ServerOptions options) {
  if (engine == nullptr) return absl::InvalidArgumentError("ServerApp::Start: null engine");
  if (options.warm_up) {
    if (absl::Status s = engine->WarmUp(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("engine warm-up failed: ", s.message()));
    }
  }
  std::unique_ptr<ServerApp> app(new ServerApp());
  app->engine_ = std::move(engine);
  app->service_ = std::make_unique<GenerationService>(app->engine_.get(), options.service);

  grpc::EnableDefaultHealthCheckService(true);
  if (options.enable_reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(),
                           &app->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterService(app->service_.get());
  app->server_ = builder.BuildAndStart();
  if (app->server_ == nullptr || app->port_ == 0) {
    app->engine_->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  app->address_ = WithPort(options.listen_address, app->port_);
  // The engine is loaded and warmed up: report ready.
  app->server_->GetHealthCheckService()->SetServingStatus(true);
  return app;
}

ServerApp::~ServerApp() { Shutdown(absl::ZeroDuration()); }

void ServerApp::Wait() {
  absl::MutexLock lock(&shutdown_mu_);
  shutdown_mu_.Await(absl::Condition(&done_));
}

void ServerApp::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    // Calls still running at the deadline are cancelled; their handlers then
    // abort and drain their requests, so the engine must still be running here.
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
  }
  if (engine_ != nullptr) engine_->Shutdown();
  done_ = true;
}

}  // namespace llmserve::server
