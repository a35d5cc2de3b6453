#include "client/bench/openai_models.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace llmserve::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

absl::StatusOr<OpenAIModelInfo> ParseModelList(absl::string_view body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("/v1/models: not a model list: \"", body.substr(0, 200), "\""));
  }
  const json& data = j["data"];
  if (data.empty() || !data[0].is_object() || !data[0].contains("id") ||
      !data[0]["id"].is_string()) {
    return absl::InvalidArgumentError("/v1/models lists no model with an id");
  }
  const json& model = data[0];
  OpenAIModelInfo info;
  info.id = model["id"].get<std::string>();
  auto integer = [](const json& object, const char* field) {
    const auto it = object.find(field);
    return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
  };
  info.max_context = integer(model, "max_model_len");
  if (const auto meta = model.find("meta"); meta != model.end() && meta->is_object()) {
    info.vocab_size = integer(*meta, "n_vocab");
    if (info.max_context == 0) info.max_context = integer(*meta, "n_ctx_train");
  }
  return info;
}

absl::StatusOr<OpenAIModelInfo> FetchOpenAIModel(const BaseUrl& base_url,
                                                 const std::string& auth_token,
                                                 double timeout_seconds) {
  const std::string target = absl::StrCat(base_url.path_prefix, "/v1/models");
  const std::string where = absl::StrCat("GET http://", base_url.host, ":", base_url.port, target);
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(base_url.host, base_url.port, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(where, ": ", ec.message()));
  // Synchronous operations do not observe tcp_stream's timeout: run the
  // asynchronous ones on this thread's io_context instead.
  stream.expires_after(std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1e3)));
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, absl::StrCat(base_url.host, ":", base_url.port));
  request.set(http::field::user_agent, "llmserve-bench");
  if (!auth_token.empty()) request.set(http::field::authorization, "Bearer " + auth_token);
  request.keep_alive(false);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if ((ec = e)) return;
    http::async_write(stream, request, [&](beast::error_code e2, size_t) {
      if ((ec = e2)) return;
      http::async_read(stream, buffer, response, [&](beast::error_code e3, size_t) { ec = e3; });
    });
  });
  ioc.run();
  if (ec) return absl::UnavailableError(absl::StrCat(where, ": ", ec.message()));
  if (response.result_int() != 200) {
    return absl::UnavailableError(absl::StrCat(where, ": HTTP ", response.result_int(), ": ",
                                               ErrorMessageFromBody(response.body())));
  }
  return ParseModelList(response.body());
}

}  // namespace llmserve::bench
