#include "client/bench/fake_openai_server.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace llmserve::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

class FakeOpenAIServer::Impl {
 private:
  // Declared first, destroyed last: the io_context's destruction destroys the
  // sessions of unrun handlers, which call Left().
  mutable absl::Mutex mu_;
  int arrivals_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<json> bodies_ ABSL_GUARDED_BY(mu_);

 public:
  explicit Impl(FakeOpenAIServerOptions o) : options(std::move(o)) {}

  /// Counts a generation request; returns its arrival index.
  int Admit(const json& body) {
    absl::MutexLock lock(&mu_);
    bodies_.push_back(body);
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    return arrivals_++;
  }
  void Left() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  int arrivals() const {
    absl::MutexLock lock(&mu_);
    return arrivals_;
  }
  int max_in_flight() const {
    absl::MutexLock lock(&mu_);
    return max_in_flight_;
  }
  std::vector<json> bodies() const {
    absl::MutexLock lock(&mu_);
    return bodies_;
  }
  void Accept();

  const FakeOpenAIServerOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  unsigned short port = 0;
  std::thread thread;
};

namespace {

int PromptTokens(const json& body) {
  if (const auto p = body.find("prompt"); p != body.end()) {
    if (p->is_array()) return static_cast<int>(p->size());
    if (p->is_string()) return static_cast<int>(p->get_ref<const std::string&>().size()) + 1;
  }
  int bytes = 0;
  if (const auto m = body.find("messages"); m != body.end() && m->is_array()) {
    for (const json& message : *m) {
      if (message.is_object() && message.contains("content") && message["content"].is_string()) {
        bytes += static_cast<int>(message["content"].get_ref<const std::string&>().size());
      }
    }
  }
  return bytes + 1;
}

int IntOr(const json& body, const char* field, int fallback) {
  const auto it = body.find(field);
  return it != body.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

/// One connection: one request, one response, then close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(FakeOpenAIServer::Impl* server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(socket_.get_executor()) {}
  ~Session() {
    if (admitted_) server_->Left();
  }

  void Run() {
    http::async_read(socket_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->OnRequest();
                     });
  }

 private:
  void OnRequest() {
    const std::string target(request_.target());
    if (request_.method() == http::verb::get && target == "/v1/models") {
      json model = {{"id", server_->options.model}, {"object", "model"}, {"owned_by", "tests"}};
      if (server_->options.vocab_size > 0) {
        model["meta"] = {{"n_vocab", server_->options.vocab_size}};
      }
      return Respond(http::status::ok,
                     json{{"object", "list"}, {"data", json::array({std::move(model)})}});
    }
    chat_ = target == "/v1/chat/completions";
    if (request_.method() != http::verb::post || (!chat_ && target != "/v1/completions")) {
      return Error(http::status::not_found, absl::StrCat("no route ", target));
    }
    if (!server_->options.auth_token.empty() &&
        request_[http::field::authorization] !=
            absl::StrCat("Bearer ", server_->options.auth_token)) {
      return Error(http::status::unauthorized, "missing or wrong bearer token");
    }
    body_ = json::parse(request_.body(), nullptr, /*allow_exceptions=*/false);
    if (body_.is_discarded() || !body_.is_object()) {
      return Error(http::status::bad_request, "the body is not a JSON object");
    }
    arrival_ = server_->Admit(body_);
    admitted_ = true;
    if (server_->options.fault_for) fault_ = server_->options.fault_for(arrival_);
    if (fault_.kind == FakeOpenAIFault::Kind::kHttpStatus) {
      return Error(static_cast<http::status>(fault_.http_status), fault_.message);
    }
    max_tokens_ = std::max(1, IntOr(body_, "max_tokens", 16));
    n_ = std::max(1, IntOr(body_, "n", 1));
    t0_ = Clock::now();
    if (!body_.value("stream", false)) {
      timer_.expires_at(Due(max_tokens_ - 1));
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Respond(http::status::ok, self->WholeResponse());
      });
      return;
    }
    header_.result(http::status::ok);
    header_.set(http::field::content_type, "text/event-stream");
    header_.keep_alive(false);
    header_.chunked(true);
    serializer_.emplace(header_);
    http::async_write_header(socket_, *serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (!ec) self->NextStep();
                             });
  }

  Clock::time_point Due(int step) const {
    const double s = server_->options.ttft_seconds + step * server_->options.itl_seconds;
    return t0_ + std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9));
  }

  json Chunk(int index, const std::string& text, const json& finish) const {
    json choice = {{"index", index}, {"finish_reason", finish}};
    if (chat_) {
      choice["delta"] = step_ < 0 ? json{{"role", "assistant"}, {"content", ""}}
                                  : (text.empty() ? json::object() : json{{"content", text}});
    } else {
      choice["text"] = text;
      choice["logprobs"] = nullptr;
    }
    return {{"id", absl::StrCat("fake-", arrival_)},
            {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
            {"created", 0},
            {"model", server_->options.model},
            {"choices", json::array({std::move(choice)})}};
  }

  json Usage() const {
    const int prompt = PromptTokens(body_);
    return {{"prompt_tokens", prompt},
            {"completion_tokens", n_ * max_tokens_},
            {"total_tokens", prompt + n_ * max_tokens_},
            {"prompt_tokens_details", {{"cached_tokens", 0}}}};
  }

  json WholeResponse() const {
    json choices = json::array();
    std::string text;
    for (int k = 0; k < max_tokens_; ++k) text += " tok";
    for (int i = 0; i < n_; ++i) {
      json c = {{"index", i}, {"finish_reason", "length"}};
      if (chat_) {
        c["message"] = {{"role", "assistant"}, {"content", text}};
      } else {
        c["text"] = text;
      }
      choices.push_back(std::move(c));
    }
    return {{"id", absl::StrCat("fake-", arrival_)},
            {"object", chat_ ? "chat.completion" : "text_completion"},
            {"model", server_->options.model},
            {"choices", std::move(choices)},
            {"usage", Usage()}};
  }

  /// Emits step `step_` (-1: chat's role chunks; max_tokens_: the end), then
  /// waits for the next step's due time.
  void NextStep() {
    std::string events;
    auto event = [&events](const json& j) { absl::StrAppend(&events, "data: ", j.dump(), "\n\n"); };
    const bool faulty = fault_.kind != FakeOpenAIFault::Kind::kNone &&
                        fault_.kind != FakeOpenAIFault::Kind::kNoDone;
    if (faulty && step_ == fault_.after_tokens) {
      switch (fault_.kind) {
        case FakeOpenAIFault::Kind::kMalformedChunk:
          events = "data: {not json\n\n";
          break;
        case FakeOpenAIFault::Kind::kErrorChunk:
          event({{"error",
                  {{"message", fault_.message},
                   {"type", "server_error"},
                   {"code", fault_.http_status > 0 ? fault_.http_status : 500}}}});
          break;
        default: {  // kCloseMidStream
          beast::error_code ignored;
          socket_.shutdown(tcp::socket::shutdown_both, ignored);
          socket_.close(ignored);
          return;
        }
      }
      return Write(std::move(events), /*last=*/true);
    }
    if (step_ < 0 && !chat_) step_ = 0;
    if (step_ < 0) {
      for (int i = 0; i < n_; ++i) event(Chunk(i, "", nullptr));
    } else if (step_ < max_tokens_) {
      for (int i = 0; i < n_; ++i) event(Chunk(i, " tok", nullptr));
    } else {
      for (int i = 0; i < n_; ++i) event(Chunk(i, "", "length"));
      const json options = body_.value("stream_options", json::object());
      if (options.is_object() && options.value("include_usage", false)) {
        json usage = Chunk(0, "", nullptr);
        usage["choices"] = json::array();
        usage["usage"] = Usage();
        event(usage);
      }
      if (fault_.kind != FakeOpenAIFault::Kind::kNoDone) events += "data: [DONE]\n\n";
      return Write(std::move(events), /*last=*/true);
    }
    Write(std::move(events), /*last=*/false);
  }

  void Write(std::string events, bool last) {
    pending_ = std::move(events);
    net::async_write(socket_, http::make_chunk(net::buffer(pending_)),
                     [self = shared_from_this(), last](beast::error_code ec, size_t) {
                       if (ec) return;  // the client closed: stop
                       if (last) return self->End();
                       ++self->step_;
                       self->timer_.expires_at(self->Due(self->step_));
                       self->timer_.async_wait([self](beast::error_code wait_ec) {
                         if (!wait_ec) self->NextStep();
                       });
                     });
  }

  void End() {
    net::async_write(socket_, http::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code, size_t) {
                       beast::error_code ignored;
                       self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                     });
  }

  void Error(http::status status, const std::string& message) {
    Respond(status, json{{"error",
                          {{"message", message},
                           {"type", "invalid_request_error"},
                           {"param", nullptr},
                           {"code", static_cast<int>(status)}}}});
  }

  void Respond(http::status status, const json& body) {
    auto response = std::make_shared<http::response<http::string_body>>(status, 11);
    response->set(http::field::content_type, "application/json");
    response->keep_alive(false);
    response->body() = body.dump();
    response->prepare_payload();
    http::async_write(socket_, *response,
                      [self = shared_from_this(), response](beast::error_code, size_t) {
                        beast::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  FakeOpenAIServer::Impl* server_;  ///< outlives the session (its io_context owns the session)
  tcp::socket socket_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  json body_;
  bool chat_ = false;
  bool admitted_ = false;
  int arrival_ = 0;
  FakeOpenAIFault fault_;
  int max_tokens_ = 0;
  int n_ = 1;
  int step_ = -1;
  Clock::time_point t0_;
  http::response<http::empty_body> header_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::string pending_;
};

}  // namespace

void FakeOpenAIServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed
    std::make_shared<Session>(this, std::move(socket))->Run();
    Accept();
  });
}

absl::StatusOr<std::unique_ptr<FakeOpenAIServer>> FakeOpenAIServer::Start(
    FakeOpenAIServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  beast::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("fake OpenAI server: ", ec.message()));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  impl->thread = std::thread([io = &impl->ioc] { io->run(); });
  return std::unique_ptr<FakeOpenAIServer>(new FakeOpenAIServer(std::move(impl)));
}

FakeOpenAIServer::FakeOpenAIServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FakeOpenAIServer::~FakeOpenAIServer() {
  // Stop on the io thread, so no handler runs concurrently; sessions die with
  // their pending handlers when the io_context is stopped and destroyed.
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->ioc.stop();
  });
  impl_->thread.join();
}

std::string FakeOpenAIServer::base_url() const {
  return absl::StrCat("http://127.0.0.1:", impl_->port);
}
int FakeOpenAIServer::arrivals() const { return impl_->arrivals(); }
int FakeOpenAIServer::max_in_flight() const { return impl_->max_in_flight(); }
std::vector<json> FakeOpenAIServer::request_bodies() const { return impl_->bodies(); }

}  // namespace llmserve::bench
