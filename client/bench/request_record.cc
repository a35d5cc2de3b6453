#include "client/bench/request_record.h"

#include "absl/status/status.h"

namespace llmserve::bench {

std::string StatusCodeName(grpc::StatusCode code) {
  // gRPC and absl share the canonical code numbering and names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace llmserve::bench
