#ifndef LLMSERVE_TESTS_SERVER_STUB_CALLS_H_
#define LLMSERVE_TESTS_SERVER_STUB_CALLS_H_

// Blocking Generate / GenerateStream calls through the generated stub, for
// tests. Header-only.

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "llmserve/v1/generation.grpc.pb.h"

namespace llmserve::testing {

/// Everything a GenerateStream call delivered.
struct StreamResult {
  grpc::Status status;
  std::vector<v1::GenerateStreamResponse> messages;
  std::string text;                 ///< concatenated deltas
  std::vector<uint32_t> token_ids;  ///< concatenated deltas
};

/// Generate with `context`, or a fresh context when null.
inline grpc::Status CallGenerate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                                 v1::GenerateResponse* response,
                                 grpc::ClientContext* context = nullptr) {
  grpc::ClientContext local;
  return stub.Generate(context != nullptr ? context : &local, request, response);
}

/// GenerateStream read to the end, with `context` or a fresh one when null.
inline StreamResult CallStream(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                               grpc::ClientContext* context = nullptr) {
  grpc::ClientContext local;
  auto reader = stub.GenerateStream(context != nullptr ? context : &local, request);
  StreamResult result;
  v1::GenerateStreamResponse message;
  while (reader->Read(&message)) {
    result.text += message.text();
    result.token_ids.insert(result.token_ids.end(), message.token_ids().begin(),
                            message.token_ids().end());
    result.messages.push_back(message);
  }
  result.status = reader->Finish();
  return result;
}

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_STUB_CALLS_H_
