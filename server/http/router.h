#ifndef LLMSERVE_SERVER_HTTP_ROUTER_H_
#define LLMSERVE_SERVER_HTTP_ROUTER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace llmserve::server::http {

/// The endpoints of the HTTP front.
enum class Route {
  kHealth,            ///< GET /health
  kModels,            ///< GET /v1/models
  kCompletions,       ///< POST /v1/completions
  kChatCompletions,   ///< POST /v1/chat/completions
  kMethodNotAllowed,  ///< a known path with another method (405)
  kNotFound,          ///< any other path (404)
};

/// The route of `method` (e.g. "POST") and request target (the query string,
/// if any, is ignored).
Route Classify(absl::string_view method, absl::string_view target);

/// GET /v1/models' body: OpenAI's list object with the one served model
/// ({"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}).
std::string ModelsBody(const std::string& model_name, long long created);

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_ROUTER_H_
