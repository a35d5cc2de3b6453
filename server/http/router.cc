#include "server/http/router.h"

#include <nlohmann/json.hpp>

#include "absl/strings/strip.h"

namespace llmserve::server::http {

Route Classify(absl::string_view method, absl::string_view target) {
  absl::string_view path = target.substr(0, target.find('?'));
  if (path.size() > 1) path = absl::StripSuffix(path, "/");
  auto pick = [&](absl::string_view want, Route route) {
    return method == want ? route : Route::kMethodNotAllowed;
  };
  if (path == "/health") return pick("GET", Route::kHealth);
  if (path == "/v1/models") return pick("GET", Route::kModels);
  if (path == "/v1/completions") return pick("POST", Route::kCompletions);
  if (path == "/v1/chat/completions") return pick("POST", Route::kChatCompletions);
  return Route::kNotFound;
}

std::string ModelsBody(const std::string& model_name, long long created) {
  nlohmann::json body = {
      {"object", "list"},
      {"data", nlohmann::json::array({{{"id", model_name},
                                       {"object", "model"},
                                       {"created", created},
                                       {"owned_by", "llmserve"}}})}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace llmserve::server::http
