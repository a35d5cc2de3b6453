#ifndef LLMSERVE_SERVER_HTTP_HTTP_SESSION_H_
#define LLMSERVE_SERVER_HTTP_HTTP_SESSION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/request.h"
#include "server/http/http_frontend.h"
#include "server/http/openai_error.h"
#include "server/http/openai_response.h"
#include "server/request_log.h"

namespace llmserve::server::http {

/// One HTTP/1.1 connection (Boost.Beast over Asio; TLS through
/// boost::asio::ssl when the front has a TLS context), keep-alive, every
/// handler on the connection's strand: reads a request (bounded by
/// max_request_bytes and request_timeout, so a huge body is a 413 and a slow
/// client is closed), routes it (server/http/router.h), answers.
///
/// A generation request is added to the engine with an OutputCallback that
/// only posts the output to the strand; the response (one JSON object, or
/// SSE events written as HTTP chunks, one write in flight, events that arrive
/// meanwhile coalesced into the next chunk) is built there. While a request
/// runs the socket is watched for the client closing it: the request is then
/// aborted in the engine (LLMEngine::AbortRequest), freeing its KV blocks at
/// the next step; so does a failed write.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, HttpFrontend* frontend);
  ~HttpSession();

  /// Starts reading the first request.
  void Start();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  /// One generation request in flight on this connection.
  struct Call {
    std::string request_id;
    OpenAIRequest request;
    std::unique_ptr<OpenAIResponseBuilder> builder;
    absl::Time start;
    RequestLogEntry log;
    std::string pending;        ///< SSE events not yet written
    std::string writing;        ///< the chunk being written
    bool write_in_flight = false;
    bool finished = false;      ///< the engine's final output arrived
    bool last_chunk_sent = false;
    bool client_gone = false;
    absl::Status status;        ///< the request's outcome
    FinishReason finish_reason = FinishReason::kNone;
  };

  void DoRead();
  void OnRead(boost::beast::error_code ec);
  void Handle(Request request);
  void HandleGeneration(const Request& request, Endpoint endpoint);
  /// Writes a complete response; then reads the next request or closes.
  void Send(boost::beast::http::response<boost::beast::http::string_body> response);
  void SendError(const OpenAIError& error, bool close = false);
  void SendJson(int status, std::string body);

  void OnOutput(RequestOutput output);
  void StreamWriteNext();
  void WatchForClose();
  void ClientGone();
  /// Records the call's outcome (log, metrics) and releases it.
  void EndCall();
  void Close();
  /// Closes after the response: stops sending, drains the client's input
  /// (bounded by request_timeout), then closes.
  void LingeringClose();
  void DiscardInput();

  /// The TCP socket (moved into tls_ when the front serves TLS).
  boost::asio::ip::tcp::socket& Lowest() { return tls_ ? tls_->next_layer() : socket_; }
  /// Calls f(stream) with the stream requests and responses go through: the
  /// TLS stream or the plain socket.
  template <class F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(socket_);
    }
  }

  boost::asio::ip::tcp::socket socket_;
  /// The connection's strand.
  boost::asio::any_io_executor executor_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  HttpFrontend* frontend_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool keep_alive_ = true;
  bool read_timed_out_ = false;
  /// Identifies the current close watch (WatchForClose); bumped when a call ends.
  uint64_t watch_id_ = 0;
  std::unique_ptr<Call> call_;
  /// The streaming response's header and its serializer (kept during the stream).
  std::optional<boost::beast::http::response<boost::beast::http::empty_body>> stream_header_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::empty_body>>
      stream_serializer_;
};

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_HTTP_SESSION_H_
