#include "client/bench/openai_backend.h"

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <limits>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bench/sse_parser.h"

namespace llmserve::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string OpenAIPath(OpenAIApi api, const BaseUrl& base_url) {
  return absl::StrCat(base_url.path_prefix,
                      api == OpenAIApi::kChat ? "/v1/chat/completions" : "/v1/completions");
}

class OpenAIBackend::Impl {
 public:
  explicit Impl(OpenAIBackendOptions o) : options(std::move(o)) {}

  OpenAIBackendOptions options;
  std::string target;  ///< the request path
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  tcp::resolver::results_type endpoints;
  std::vector<std::thread> threads;
};

namespace {

/// Most bytes kept of an error response's body, and of a whole
/// (non-streamed) response.
constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxWholeBody = 64 << 20;

std::chrono::nanoseconds Seconds(double s) {
  return std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9));
}

/// One request: connect, send, read the response, report. Every handler runs
/// on the call's strand, so the call's state needs no lock; the strand's
/// queue orders the hand-overs between the io_context's threads.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(OpenAIBackend::Impl& impl, const CallSpec& spec, CallObserver* observer)
      : impl_(impl),
        observer_(observer),
        stream_(net::make_strand(impl.ioc)),
        deadline_(stream_.get_executor()),
        stream_mode_(spec.options->stream) {
    const LoadOptions& options = *spec.options;
    const nlohmann::json body = BuildOpenAIRequest(impl.options.api, *spec.source, options,
                                                   spec.variant, impl.options.model);
    request_ = http::request<http::string_body>(http::verb::post, impl.target, 11);
    request_.set(http::field::host,
                 absl::StrCat(impl.options.base_url.host, ":", impl.options.base_url.port));
    request_.set(http::field::user_agent, "llmserve-bench");
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, stream_mode_ ? "text/event-stream" : "application/json");
    request_.set("X-Request-Id", absl::StrCat(options.request_id_prefix, spec.index));
    if (!options.auth_token.empty()) {
      request_.set(http::field::authorization, absl::StrCat("Bearer ", options.auth_token));
    }
    request_.keep_alive(false);
    request_.body() = body.dump();
    request_.prepare_payload();
    record_.index = spec.index;
    record_.unary = !stream_mode_;
    record_.had_deadline = spec.variant.timeout && options.timeout_seconds > 0;
    timeout_seconds_ = record_.had_deadline ? options.timeout_seconds : 0;
    const bool chat = impl.options.api == OpenAIApi::kChat;
    record_.sent_prompt_tokens = !chat && !spec.source->token_ids.empty()
                                     ? static_cast<int>(spec.source->token_ids.size())
                                     : -1;
    const int n = spec.variant.n_logprobs && options.sampling.has_n()
                      ? static_cast<int>(options.sampling.n())
                      : 1;
    record_.max_output_tokens = spec.source->max_tokens * std::max(1, n);
    cancel_after_tokens_ =
        spec.variant.cancel && stream_mode_ ? options.mix.cancel_after_tokens : 0;
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  void Start() {
    start_ = Clock::now();
    last_ = start_;
    record_.start_seconds = observer_->SecondsSinceStart(start_);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Connect(); });
  }

 private:
  void Connect() {
    if (timeout_seconds_ > 0) {
      deadline_.expires_after(Seconds(timeout_seconds_));
      deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && self->done_at_.has_value()) {
          self->Finish(grpc::StatusCode::OK, "");  // [DONE] came in time
        } else if (!ec) {
          self->Finish(grpc::StatusCode::DEADLINE_EXCEEDED,
                       absl::StrCat("deadline of ", self->timeout_seconds_, " s exceeded"));
        }
      });
    }
    stream_.expires_after(Seconds(impl_.options.idle_timeout_seconds));
    stream_.async_connect(impl_.endpoints,
                          [self = shared_from_this()](beast::error_code ec, const auto&) {
                            if (ec) return self->Fail("connect", ec);
                            self->Send();
                          });
  }

  void Send() {
    stream_.expires_after(Seconds(impl_.options.idle_timeout_seconds));
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail("send", ec);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    stream_.expires_after(Seconds(impl_.options.idle_timeout_seconds));
    http::async_read_header(stream_, buffer_, parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Fail("response", ec);
                              self->record_.http_status = self->parser_.get().result_int();
                              self->ReadBody();
                            });
  }

  void ReadBody() {
    if (finished_) return;
    if (parser_.is_done()) return BodyEnd();
    parser_.get().body().data = chunk_.data();
    parser_.get().body().size = chunk_.size();
    stream_.expires_after(Seconds(impl_.options.idle_timeout_seconds));
    http::async_read_some(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (finished_) return;  // the deadline or a cancel closed the connection
    if (ec == http::error::need_buffer) ec = {};
    if (ec && done_at_.has_value()) return Finish(grpc::StatusCode::OK, "");
    if (ec) return Fail("response body", ec);
    const size_t n = chunk_.size() - parser_.get().body().size;
    const std::string_view bytes(chunk_.data(), n);
    if (!Ok()) {
      error_body_.append(
          bytes.substr(0, kMaxErrorBody - std::min(kMaxErrorBody, error_body_.size())));
    } else if (stream_mode_) {
      if (!done_at_.has_value()) OnStreamBytes(bytes);  // after [DONE]: ignored
    } else if (whole_body_.size() + n > kMaxWholeBody) {
      return Finish(grpc::StatusCode::RESOURCE_EXHAUSTED,
                    absl::StrCat("response body over ", kMaxWholeBody, " bytes"));
    } else {
      whole_body_.append(bytes);
    }
    ReadBody();
  }

  bool Ok() const { return record_.http_status >= 200 && record_.http_status < 300; }

  void OnStreamBytes(std::string_view bytes) {
    events_.clear();
    if (absl::Status s = sse_.Feed(bytes, &events_); !s.ok()) {
      return Finish(grpc::StatusCode::INTERNAL, std::string(s.message()));
    }
    for (const SseEvent& event : events_) {
      if (finished_) return;
      if (event.data == "[DONE]") {
        // The call's end; the response's end (chunked terminator, close) is
        // still read, so the server's last writes are not refused.
        done_at_ = Clock::now();
        return;
      }
      absl::StatusOr<OpenAIChunk> chunk = ParseOpenAIChunk(event.data);
      if (!chunk.ok()) {
        return Finish(grpc::StatusCode::INTERNAL,
                      absl::StrCat("malformed stream chunk: ", chunk.status().message()));
      }
      if (chunk->is_error) return Finish(chunk->error_code, chunk->error_message);
      OnChunk(*chunk);
      if (cancel_after_tokens_ > 0 && !record_.client_cancelled &&
          received_tokens_ >= cancel_after_tokens_) {
        record_.client_cancelled = true;
        return Finish(grpc::StatusCode::CANCELLED,
                      absl::StrCat("cancelled by the client after ", received_tokens_, " tokens"));
      }
    }
  }

  /// The record's timing, as the gRPC path's StreamCall: TTFT at the first
  /// token-carrying chunk, one ITL per later one.
  void OnChunk(const OpenAIChunk& chunk) {
    if (chunk.tokens > 0) {
      const Clock::time_point now = Clock::now();
      const double since_last = std::chrono::duration<double>(now - last_).count();
      if (record_.ttft_seconds < 0) {
        record_.ttft_seconds = since_last;
      } else {
        record_.itl_seconds.push_back(since_last);
      }
      last_ = now;
      received_tokens_ += chunk.tokens;
      observer_->OnTokens(chunk.tokens);
    }
    if (!chunk.finish_reason.empty()) record_.finish_reason = chunk.finish_reason;
    if (chunk.has_usage) {
      has_usage_ = true;
      record_.prompt_tokens = chunk.prompt_tokens;
      record_.cached_prompt_tokens = chunk.cached_tokens;
      usage_completion_tokens_ = chunk.completion_tokens;
    }
  }

  void BodyEnd() {
    if (!Ok()) {
      return Finish(
          CodeForHttpStatus(record_.http_status),
          absl::StrCat("HTTP ", record_.http_status, ": ", ErrorMessageFromBody(error_body_)));
    }
    if (stream_mode_ && done_at_.has_value()) return Finish(grpc::StatusCode::OK, "");
    if (stream_mode_) {
      return Finish(grpc::StatusCode::INTERNAL, "the event stream ended without data: [DONE]");
    }
    absl::StatusOr<OpenAIChunk> response = ParseOpenAIChunk(whole_body_);
    if (!response.ok()) {
      return Finish(grpc::StatusCode::INTERNAL,
                    absl::StrCat("malformed response: ", response.status().message()));
    }
    if (response->is_error) return Finish(response->error_code, response->error_message);
    OnChunk(*response);  // Finish sets a unary call's TTFT to its e2e latency
    Finish(grpc::StatusCode::OK, "");
  }

  void Fail(const char* what, beast::error_code ec) {
    if (finished_) return;
    if (ec == beast::error::timeout) {
      return Finish(grpc::StatusCode::UNAVAILABLE,
                    absl::StrCat(what, ": no data from the server for ",
                                 impl_.options.idle_timeout_seconds, " s"));
    }
    Finish(grpc::StatusCode::UNAVAILABLE, absl::StrCat(what, ": ", ec.message()));
  }

  void Finish(grpc::StatusCode code, std::string message) {
    if (finished_) return;
    finished_ = true;
    record_.e2e_seconds =
        std::chrono::duration<double>(done_at_.value_or(Clock::now()) - start_).count();
    record_.status = code;
    record_.error = std::move(message);
    record_.output_tokens = received_tokens_;
    if (code == grpc::StatusCode::OK && has_usage_) {
      record_.output_tokens = usage_completion_tokens_;
      observer_->OnTokens(usage_completion_tokens_ - received_tokens_);
    }
    if (record_.unary && code == grpc::StatusCode::OK && record_.output_tokens > 0) {
      record_.ttft_seconds = record_.e2e_seconds;
    }
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    observer_->OnDone(std::move(record_));
  }

  OpenAIBackend::Impl& impl_;
  CallObserver* observer_;
  beast::tcp_stream stream_;
  net::steady_timer deadline_;
  const bool stream_mode_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 16384> chunk_{};
  SseParser sse_;
  std::vector<SseEvent> events_;
  std::string error_body_, whole_body_;
  RequestRecord record_;
  double timeout_seconds_ = 0;
  int cancel_after_tokens_ = 0;
  int received_tokens_ = 0;
  bool has_usage_ = false;
  int usage_completion_tokens_ = 0;
  bool finished_ = false;
  Clock::time_point start_, last_;
  /// When `data: [DONE]` arrived: the call's end (its e2e latency).
  std::optional<Clock::time_point> done_at_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpenAIBackend>> OpenAIBackend::Create(OpenAIBackendOptions options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP backend threads must be >= 1, got ", options.threads));
  }
  if (options.model.empty()) return absl::InvalidArgumentError("the HTTP backend needs a model");
  if (!(options.idle_timeout_seconds > 0)) {
    return absl::InvalidArgumentError("the HTTP backend's idle timeout must be > 0");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->target = OpenAIPath(impl->options.api, impl->options.base_url);
  tcp::resolver resolver(impl->ioc);
  beast::error_code ec;
  impl->endpoints = resolver.resolve(impl->options.base_url.host, impl->options.base_url.port, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", impl->options.base_url.host, ":",
                                               impl->options.base_url.port, ": ", ec.message()));
  }
  for (int i = 0; i < impl->options.threads; ++i) {
    impl->threads.emplace_back([io = &impl->ioc] { io->run(); });
  }
  return std::unique_ptr<OpenAIBackend>(new OpenAIBackend(std::move(impl)));
}

OpenAIBackend::OpenAIBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpenAIBackend::~OpenAIBackend() {
  impl_->work.reset();
  for (std::thread& t : impl_->threads) t.join();
}

void OpenAIBackend::Start(const CallSpec& spec, CallObserver* observer) {
  std::make_shared<Call>(*impl_, spec, observer)->Start();
}

std::string OpenAIBackend::name() const {
  return impl_->options.api == OpenAIApi::kChat ? "openai-chat" : "openai-completions";
}

std::string OpenAIBackend::endpoint(bool stream) const {
  (void)stream;
  return impl_->target;
}

}  // namespace llmserve::bench
