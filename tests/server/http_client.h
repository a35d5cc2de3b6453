#ifndef LLMSERVE_TESTS_SERVER_HTTP_CLIENT_H_
#define LLMSERVE_TESTS_SERVER_HTTP_CLIENT_H_

// A small synchronous HTTP/1.1 test client on Boost.Beast (the server's own
// library, but none of the server's code): one request per call on a fresh
// or a kept connection, and the SSE `data:` payloads of a response body.
// Header-only.

#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace llmserve::testing {

/// A response as the test sees it.
struct HttpReply {
  int status = 0;
  std::string body;
  boost::beast::http::fields headers;
  std::string error;  ///< transport error (empty when a response arrived)
};

/// One keep-alive connection to 127.0.0.1:port.
class HttpConnection {
 public:
  explicit HttpConnection(int port) : socket_(io_) {
    boost::beast::error_code ec;
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                    ec);
  }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  /// Sends `method target` with `body` (JSON) and reads the whole response.
  HttpReply Request(const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty() || method == "POST") {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
      request.prepare_payload();
    }
    HttpReply reply;
    boost::beast::error_code ec;
    http::write(socket_, request, ec);
    if (ec) {
      reply.error = ec.message();
      return reply;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket_, buffer_, parser, ec);
    if (ec) {
      reply.error = ec.message();
      return reply;
    }
    reply.status = parser.get().result_int();
    reply.body = parser.get().body();
    reply.headers = parser.get().base();
    return reply;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

/// One request on a fresh connection.
inline HttpReply HttpRequest(int port, const std::string& method, const std::string& target,
                             const std::string& body = "",
                             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  HttpConnection connection(port);
  return connection.Request(method, target, body, headers);
}

/// The payloads of the `data: ...` lines of an SSE body, in order.
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (absl::ConsumePrefix(&line, "data: ")) out.emplace_back(line);
  }
  return out;
}

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_HTTP_CLIENT_H_
