#ifndef LLMSERVE_CLIENT_BENCH_OPENAI_MODELS_H_
#define LLMSERVE_CLIENT_BENCH_OPENAI_MODELS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/bench/openai_protocol.h"

namespace llmserve::bench {

/// The first model an OpenAI-compatible server lists at GET /v1/models.
struct OpenAIModelInfo {
  std::string id;      ///< data[0].id: what requests send as "model"
  int vocab_size = 0;  ///< llama-server's data[0].meta.n_vocab; 0 when not told
  int max_context =
      0;  ///< vLLM's max_model_len or llama-server's meta.n_ctx_train; 0 when not told
};

/// Parses a /v1/models body ({"object": "list", "data": [{"id": ...}, ...]}).
/// Errors: INVALID_ARGUMENT when it is not that shape or lists no model.
absl::StatusOr<OpenAIModelInfo> ParseModelList(absl::string_view body);

/// GET base_url/v1/models (Boost.Beast, synchronous, with the bearer token
/// when not empty), giving up after `timeout_seconds`.
/// Errors: UNAVAILABLE (connection, timeout, HTTP status other than 200, with
/// the server's error message), ParseModelList's.
absl::StatusOr<OpenAIModelInfo> FetchOpenAIModel(const BaseUrl& base_url,
                                                 const std::string& auth_token,
                                                 double timeout_seconds = 30);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_OPENAI_MODELS_H_
