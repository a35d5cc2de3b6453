#include "server/http/http_server.h"

#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/http/http_session.h"

namespace llmserve::server::http {
namespace {

namespace net = boost::asio;
using net::ip::tcp;

/// A token's text for the chat template (bos_token / eos_token); "" for no id.
std::string TokenText(const Tokenizer& tokenizer, int32_t id) {
  if (id < 0 || id >= tokenizer.vocab_size()) return "";
  return tokenizer.TokenBytes(-1, id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(LLMEngine* engine, Metrics* metrics,
                                                              HttpOptions options,
                                                              std::function<bool()> serving) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  const std::string listen = options.listen_address;
  const int num_threads = std::max(1, options.num_threads);
  server->frontend_ =
      std::make_unique<HttpFrontend>(engine, metrics, std::move(options), std::move(serving));
  HttpFrontend& f = *server->frontend_;

  PromptContext& context = f.mutable_prompt_context();
  context.tokenizer = &engine->tokenizer();
  context.max_context = engine->options().max_context;
  context.bos_token = TokenText(engine->tokenizer(), engine->tokenizer().bos_id());
  context.eos_token = TokenText(engine->tokenizer(), engine->tokenizer().eos_id());
  const bool from_flag = !f.options().chat_template_source.empty();
  const std::string& source =
      from_flag ? f.options().chat_template_source : engine->model_config().chat_template;
  if (source.empty()) {
    context.chat_template_error =
        "the model has no chat template: start the server with --chat-template=FILE, or use "
        "/v1/completions";
  } else {
    absl::StatusOr<std::unique_ptr<ChatTemplate>> compiled = ChatTemplate::Compile(source);
    if (compiled.ok()) {
      f.set_chat_template(*std::move(compiled));
    } else if (from_flag) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chat-template does not compile: ", compiled.status().message()));
    } else {
      context.chat_template_error = absl::StrCat("the model's chat template cannot be used: ",
                                                 compiled.status().message());
    }
  }

  // host:port; [v6]:port.
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen must be HOST:PORT, got \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  host = std::string(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  boost::system::error_code ec;
  tcp::resolver resolver(server->io_context_);
  auto results = resolver.resolve(host.empty() ? "0.0.0.0" : host, absl::StrCat(port),
                                  tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: cannot resolve \"", host, "\": ", ec.message()));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  auto acceptor = std::make_unique<tcp::acceptor>(net::make_strand(server->io_context_));
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", ec.message()));
  }
  server->port_ = acceptor->local_endpoint().port();
  server->address_ = absl::StrCat(listen.substr(0, colon), ":", server->port_);
  server->acceptor_ = std::move(acceptor);
  server->DoAccept();
  for (int i = 0; i < num_threads; ++i) {
    server->threads_.emplace_back([s = server.get()] { s->io_context_.run(); });
  }
  return server;
}

void HttpServer::DoAccept() {
  acceptor_->async_accept(net::make_strand(io_context_),
                          [this](boost::system::error_code ec, tcp::socket socket) {
                            if (ec == net::error::operation_aborted || !acceptor_->is_open()) {
                              return;
                            }
                            if (!ec) {
                              std::make_shared<HttpSession>(std::move(socket), frontend_.get())
                                  ->Start();
                            }
                            DoAccept();
                          });
}

void HttpServer::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (frontend_ != nullptr) frontend_->BeginDrain();
  if (acceptor_ != nullptr) {
    net::post(acceptor_->get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor_->close(ignored);
    });
  }
  if (frontend_ != nullptr) frontend_->WaitForNoCalls(grace);
  io_context_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

HttpServer::~HttpServer() { Stop(absl::ZeroDuration()); }

}  // namespace llmserve::server::http
