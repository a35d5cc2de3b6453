#ifndef LLMSERVE_CLIENT_BENCH_GRPC_BACKEND_H_
#define LLMSERVE_CLIENT_BENCH_GRPC_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "client/bench/generation_backend.h"
#include "llmserve/v1/generation.grpc.pb.h"

namespace llmserve::bench {

/// Drives the llmserve.v1.Generation API with gRPC's callback API: every call
/// is a reactor completed on gRPC's own threads, so the sending thread never
/// blocks on a response and one process keeps thousands of calls open. Calls
/// are spread round-robin over `channels` (one HTTP/2 connection each).
/// LoadOptions::stream picks GenerateStream or Generate; a deadline is the
/// call's deadline, a client cancel ClientContext::TryCancel.
class GrpcBackend final : public GenerationBackend {
 public:
  explicit GrpcBackend(std::vector<std::shared_ptr<grpc::Channel>> channels);

  void Start(const CallSpec& spec, CallObserver* observer) override;
  std::string name() const override { return "llmserve-grpc"; }
  std::string endpoint(bool stream) const override {
    return stream ? "GenerateStream" : "Generate";
  }

 private:
  class StreamCall;
  class UnaryCall;

  std::vector<std::unique_ptr<llmserve::v1::Generation::Stub>> stubs_;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_GRPC_BACKEND_H_
