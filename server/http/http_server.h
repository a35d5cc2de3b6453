#ifndef LLMSERVE_SERVER_HTTP_HTTP_SERVER_H_
#define LLMSERVE_SERVER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"
#include "server/http/http_frontend.h"
#include "server/metrics.h"

namespace llmserve::server::http {

/// The OpenAI-compatible HTTP/1.1 front (docs/http-api.md): an acceptor and
/// HttpSessions on one io_context run by options.num_threads threads — no
/// thread per connection or per stream.
///
/// Lifecycle: Start (chat template compiled, listening) → BeginDrain (new
/// generation requests and GET /health answer 503; running ones go on) →
/// WaitForNoCalls → (the engine cancels what is left) → Stop (stops
/// accepting, waits up to `grace` for the last responses, stops the threads).
class HttpServer {
 public:
  /// Compiles the chat template (options.chat_template_source, else the
  /// model's; a model without one serves chat requests with a 400 naming the
  /// cause) and starts listening on options.listen_address. `serving` tells
  /// GET /health whether the server is healthy (besides draining).
  /// Errors: INVALID_ARGUMENT for a malformed address or a --chat-template
  /// that does not compile; UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(LLMEngine* engine, Metrics* metrics,
                                                           HttpOptions options,
                                                           std::function<bool()> serving);
  /// Stops (without grace) if still running.
  ~HttpServer();

  /// The bound port (resolved when the address asked for port 0).
  int port() const { return port_; }
  /// The listen address with the bound port.
  const std::string& address() const { return address_; }
  /// Generation requests in flight.
  int active_calls() const { return frontend_->active_calls(); }

  void BeginDrain() { frontend_->BeginDrain(); }
  bool WaitForNoCalls(absl::Duration timeout) { return frontend_->WaitForNoCalls(timeout); }
  /// Closes the acceptor, waits up to `grace` for the calls in flight to be
  /// answered, then stops the io_context and joins its threads. Idempotent.
  void Stop(absl::Duration grace);

 private:
  HttpServer() = default;
  void DoAccept();

  std::unique_ptr<HttpFrontend> frontend_;
  boost::asio::io_context io_context_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::string address_;
  bool stopped_ = false;
};

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_HTTP_SERVER_H_
