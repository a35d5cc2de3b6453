#include "server/http/http_session.h"

#include <array>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engine/request_validator.h"
#include "server/auth.h"
#include "server/http/openai_structured_output.h"
#include "server/http/router.h"

namespace llmserve::server::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using nlohmann::json;

/// Deeper JSON nesting than this is refused (no request needs it; it bounds
/// the parser's and the value's recursion).
constexpr int kMaxJsonDepth = 64;

/// The body parsed as JSON. INVALID_ARGUMENT with the parser's message.
absl::StatusOr<json> ParseBody(const std::string& body) {
  bool too_deep = false;
  json value = json::parse(
      body,
      [&too_deep](int depth, json::parse_event_t, json&) {
        if (depth > kMaxJsonDepth) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body nests JSON deeper than ", kMaxJsonDepth, " levels"));
  }
  if (value.is_discarded()) {
    try {
      (void)json::parse(body);
    } catch (const json::parse_error& e) {
      return absl::InvalidArgumentError(absl::StrCat("the request body is not valid JSON: ", e.what()));
    }
    return absl::InvalidArgumentError("the request body is not valid JSON");
  }
  return value;
}

const char* MethodName(Endpoint endpoint) {
  return endpoint == Endpoint::kCompletions ? "POST /v1/completions" : "POST /v1/chat/completions";
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, HttpFrontend* frontend)
    : socket_(std::move(socket)),
      executor_(socket_.get_executor()),
      frontend_(frontend),
      timer_(executor_) {
  if (frontend_->tls_context() != nullptr) tls_.emplace(std::move(socket_), *frontend_->tls_context());
}

HttpSession::~HttpSession() {
  // A call still registered here never got its final output (the io_context
  // stopped first): release it so the counts return to zero.
  if (call_ != nullptr) EndCall();
}

void HttpSession::Start() {
  beast::error_code ignored;
  Lowest().non_blocking(true, ignored);
  Lowest().set_option(net::ip::tcp::no_delay(true), ignored);
  if (!tls_) {
    net::post(executor_, [self = shared_from_this()] { self->DoRead(); });
    return;
  }
  // TLS: the handshake first, bounded by the request timeout.
  timer_.expires_after(std::chrono::nanoseconds(
      absl::ToInt64Nanoseconds(frontend_->options().request_timeout)));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Close();
  });
  tls_->async_handshake(net::ssl::stream_base::server,
                        [self = shared_from_this()](beast::error_code ec) {
                          self->timer_.cancel();
                          if (ec) return self->Close();
                          self->DoRead();
                        });
}

void HttpSession::DoRead() {
  parser_.emplace();
  parser_->body_limit(frontend_->options().max_request_bytes);
  parser_->header_limit(64 * 1024);
  read_timed_out_ = false;
  timer_.expires_after(std::chrono::nanoseconds(
      absl::ToInt64Nanoseconds(frontend_->options().request_timeout)));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;  // cancelled: the request arrived
    self->read_timed_out_ = true;
    beast::error_code ignored;
    self->Lowest().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    self->Lowest().close(ignored);
  });
  WithStream([&](auto& stream) {
    bhttp::async_read(stream, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  });
}

void HttpSession::OnRead(beast::error_code ec) {
  timer_.cancel();
  if (ec == bhttp::error::body_limit) {
    OpenAIError e = ErrorFromStatus(absl::InvalidArgumentError(""));
    e.http_status = 413;
    e.param.clear();
    e.message = absl::StrCat("the request body is larger than --max-request-bytes (",
                             frontend_->options().max_request_bytes, " bytes)");
    SendError(e, /*close=*/true);
    return;
  }
  if (ec == bhttp::error::header_limit) {
    OpenAIError e = ErrorFromStatus(absl::InvalidArgumentError("the request headers are too large"));
    e.http_status = 431;
    SendError(e, /*close=*/true);
    return;
  }
  if (ec) {
    // end_of_stream (client closed), a timeout (socket closed), or malformed
    // HTTP: answer what can be answered, then close.
    if (!read_timed_out_ && ec != bhttp::error::end_of_stream && ec != net::error::eof &&
        ec != net::error::connection_reset && ec != net::error::operation_aborted &&
        ec != net::error::bad_descriptor && ec != bhttp::error::partial_message) {
      SendError(ErrorFromStatus(absl::InvalidArgumentError(
                    absl::StrCat("malformed HTTP request: ", ec.message()))),
                /*close=*/true);
      return;
    }
    Close();
    return;
  }
  Handle(parser_->release());
}

void HttpSession::LingeringClose() {
  // Stop sending, but read (and drop) what the client still sends for up to
  // request_timeout, so that a client writing a body we refused (413) gets to
  // read the answer instead of a reset.
  beast::error_code ignored;
  Lowest().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  timer_.expires_after(std::chrono::nanoseconds(
      absl::ToInt64Nanoseconds(frontend_->options().request_timeout)));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Close();
  });
  DiscardInput();
}

void HttpSession::DiscardInput() {
  auto scratch = std::make_shared<std::array<char, 16384>>();
  Lowest().async_read_some(net::buffer(*scratch),
                          [self = shared_from_this(), scratch](beast::error_code ec, size_t) {
                            if (ec) {
                              self->timer_.cancel();
                              self->Close();
                              return;
                            }
                            self->DiscardInput();
                          });
}

void HttpSession::Close() {
  beast::error_code ignored;
  Lowest().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  Lowest().close(ignored);
}

void HttpSession::Send(bhttp::response<bhttp::string_body> response) {
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  auto owned = std::make_shared<bhttp::response<bhttp::string_body>>(std::move(response));
  WithStream([&](auto& stream) {
    bhttp::async_write(stream, *owned,
                       [self = shared_from_this(), owned](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         if (!self->keep_alive_) return self->LingeringClose();
                         self->DoRead();
                       });
  });
}

void HttpSession::SendJson(int status, std::string body) {
  bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(status), 11);
  response.set(bhttp::field::server, "llmserve");
  response.set(bhttp::field::content_type, "application/json");
  response.body() = std::move(body);
  Send(std::move(response));
}

void HttpSession::SendError(const OpenAIError& error, bool close) {
  if (close) keep_alive_ = false;
  bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(error.http_status), 11);
  response.set(bhttp::field::server, "llmserve");
  response.set(bhttp::field::content_type, "application/json");
  if (error.http_status == 429) response.set(bhttp::field::retry_after, "1");
  if (error.http_status == 503) response.set(bhttp::field::retry_after, "5");
  if (error.http_status == 401) response.set(bhttp::field::www_authenticate, "Bearer");
  response.body() = ErrorBody(error);
  Send(std::move(response));
}

void HttpSession::Handle(Request request) {
  keep_alive_ = request.keep_alive();
  const Route route = Classify(absl::string_view(request.method_string().data(),
                                                request.method_string().size()),
                               absl::string_view(request.target().data(), request.target().size()));
  if (route == Route::kNotFound || route == Route::kMethodNotAllowed) {
    OpenAIError e = ErrorFromStatus(absl::NotFoundError(
        absl::StrCat(route == Route::kNotFound ? "no such endpoint: " : "method not allowed: ",
                     absl::string_view(request.method_string().data(), request.method_string().size()),
                     " ", absl::string_view(request.target().data(), request.target().size()))));
    if (route == Route::kMethodNotAllowed) {
      e.http_status = 405;
      e.type = "invalid_request_error";
    }
    SendError(e);
    return;
  }
  if (route == Route::kHealth) {
    const bool serving = frontend_->serving();
    SendJson(serving ? 200 : 503,
             serving ? R"({"status":"ok"})" : R"({"status":"not serving"})");
    return;
  }
  // Everything else needs the bearer token, when one is configured.
  if (const std::string& token = frontend_->options().auth_token; !token.empty()) {
    std::vector<absl::string_view> values;
    for (auto it = request.find(bhttp::field::authorization);
         it != request.end() && it->name() == bhttp::field::authorization; ++it) {
      values.emplace_back(it->value().data(), it->value().size());
    }
    if (absl::Status s = CheckBearerToken(values, token); !s.ok()) {
      OpenAIError e = ErrorFromStatus(s);
      if (route != Route::kModels) {
        if (Metrics* m = frontend_->metrics()) m->RecordOutcome(s, FinishReason::kNone, Api::kHttp);
      }
      SendError(e);
      return;
    }
  }
  if (route == Route::kModels) {
    SendJson(200, ModelsBody(frontend_->model_name(), absl::ToUnixSeconds(absl::Now())));
    return;
  }
  HandleGeneration(request, route == Route::kCompletions ? Endpoint::kCompletions
                                                         : Endpoint::kChatCompletions);
}

void HttpSession::HandleGeneration(const Request& request, Endpoint endpoint) {
  auto call = std::make_unique<Call>();
  call->start = absl::Now();
  call->log.method = MethodName(endpoint);
  // A request refused before the engine: logged and counted like any call.
  auto refuse_with = [&](const OpenAIError& e) {
    call->log.total_seconds = absl::ToDoubleSeconds(absl::Now() - call->start);
    call->log.code = static_cast<grpc::StatusCode>(e.status_code);
    call->log.message = e.message;
    if (Metrics* m = frontend_->metrics()) m->RecordOutcome(ToStatus(e), FinishReason::kNone, Api::kHttp);
    if (frontend_->options().logger) frontend_->options().logger(call->log);
    SendError(e, /*close=*/e.http_status == 503);
  };
  auto refuse = [&](const absl::Status& status) { refuse_with(ErrorFromStatus(status)); };
  if (frontend_->draining()) {
    refuse(absl::UnavailableError("the server is draining: send the request to another replica"));
    return;
  }
  absl::StatusOr<json> body = ParseBody(request.body());
  if (!body.ok()) return refuse(body.status());
  absl::StatusOr<OpenAIRequest> parsed =
      ParseOpenAIRequest(*body, endpoint, frontend_->prompt_context(), request.body());
  if (!parsed.ok()) return refuse(parsed.status());
  if (!parsed->model.empty() && parsed->model != frontend_->model_name()) {
    OpenAIError e = ErrorFromStatus(absl::NotFoundError(
        absl::StrCat("The model `", parsed->model, "` does not exist (this server serves `",
                     frontend_->model_name(), "`)")));
    e.param = "model";
    e.code = "model_not_found";
    return refuse_with(e);
  }
  call->request = *std::move(parsed);
  call->request_id = frontend_->NextRequestId(
      endpoint == Endpoint::kCompletions ? "cmpl-" : "chatcmpl-");
  EngineRequest engine_request = call->request.engine;
  engine_request.request_id = call->request_id;
  call->log.request_id = call->request_id;
  call->log.prompt_tokens = static_cast<int>(engine_request.prompt_token_ids.size());
  RequestLimits limits = frontend_->engine().request_limits();
  limits.max_prompt_tokens = frontend_->options().max_prompt_tokens;
  // Errors about the constraint name the HTTP field it came from.
  const std::string& structured_field = call->request.structured_output_field;
  if (absl::Status s = ValidateRequest(engine_request, limits); !s.ok()) {
    return refuse(RenameStructuredOutputField(s, structured_field));
  }
  call->builder = std::make_unique<OpenAIResponseBuilder>(
      call->request, &frontend_->engine().tokenizer(), frontend_->model_name(), call->request_id,
      absl::ToUnixSeconds(call->start));
  // The engine thread only posts the output to this connection's strand.
  auto on_output = [self = shared_from_this()](RequestOutput output) {
    net::post(self->executor_,
              [self, output = std::move(output)]() mutable { self->OnOutput(std::move(output)); });
  };
  frontend_->AddCall();
  if (absl::Status s = frontend_->engine().AddRequest(std::move(engine_request), on_output);
      !s.ok()) {
    frontend_->ReleaseCall();
    return refuse(RenameStructuredOutputField(s, structured_field));
  }
  // Outputs are posted to this strand: none runs before this handler returns.
  call_ = std::move(call);
  if (call_->request.stream) {
    stream_header_.emplace(bhttp::status::ok, 11);
    stream_header_->set(bhttp::field::server, "llmserve");
    stream_header_->set(bhttp::field::content_type, "text/event-stream");
    stream_header_->set(bhttp::field::cache_control, "no-cache");
    stream_header_->keep_alive(keep_alive_);
    stream_header_->chunked(true);
    stream_serializer_.emplace(*stream_header_);
    call_->write_in_flight = true;
    WithStream([&](auto& stream) {
      bhttp::async_write_header(stream, *stream_serializer_,
                                [self = shared_from_this()](beast::error_code ec, size_t) {
                                  // The call may have ended while the write was in
                                  // flight (the client closed after its final event).
                                  if (self->call_ == nullptr) return;
                                  self->call_->write_in_flight = false;
                                  if (ec) return self->ClientGone();
                                  self->StreamWriteNext();
                                });
    });
  }
  WatchForClose();
}

void HttpSession::WatchForClose() {
  const uint64_t watch = ++watch_id_;
  Lowest().async_wait(
      net::ip::tcp::socket::wait_read, [self = shared_from_this(), watch](beast::error_code ec) {
        // A watch of an earlier call, or cancelled because its call ended.
        if (watch != self->watch_id_ || self->call_ == nullptr || self->call_->last_chunk_sent) {
          return;
        }
        if (ec) return self->ClientGone();
        // Readable: end of stream (the client closed), or bytes of a
        // pipelined next request (left for the next read). The socket is
        // non-blocking: the peek never waits.
        char byte;
        beast::error_code peek_ec;
        const size_t n = self->Lowest().receive(net::buffer(&byte, 1),
                                               net::ip::tcp::socket::message_peek, peek_ec);
        if (peek_ec == net::error::would_block || peek_ec == net::error::try_again) {
          self->WatchForClose();
        } else if (peek_ec || n == 0) {
          self->ClientGone();
        }
      });
}

void HttpSession::ClientGone() {
  if (call_ == nullptr || call_->client_gone) return;
  call_->client_gone = true;
  keep_alive_ = false;
  if (!call_->finished) {
    frontend_->engine().AbortRequest(call_->request_id,
                                     absl::CancelledError("the HTTP client closed the connection"));
  } else {
    EndCall();
    Close();
  }
}

void HttpSession::OnOutput(RequestOutput output) {
  if (call_ == nullptr || call_->finished) return;
  Call& c = *call_;
  c.pending += c.builder->Add(output);
  if (!output.finished) {
    if (c.request.stream && !c.client_gone) StreamWriteNext();
    return;
  }
  c.finished = true;
  c.finish_reason = output.finish_reason;
  c.log.prompt_tokens = output.prompt_tokens;
  c.log.completion_tokens = output.completion_tokens;
  c.log.finish_reason = output.finish_reason;
  c.log.time_to_first_token_seconds = output.timing.time_to_first_token_seconds;
  if (output.finish_reason == FinishReason::kError) {
    c.status = absl::InternalError(output.status.message());
  } else if (output.finish_reason == FinishReason::kCancelled) {
    c.status = c.client_gone ? absl::CancelledError(output.status.message())
                             : absl::UnavailableError(output.status.message());
  }
  if (c.client_gone) {
    EndCall();
    Close();
    return;
  }
  if (!c.request.stream) {
    if (c.status.ok()) {
      const std::string body = DumpJson(c.builder->Response());
      EndCall();
      SendJson(200, body);
    } else {
      const OpenAIError e = ErrorFromStatus(c.status);
      EndCall();
      SendError(e, /*close=*/e.http_status == 503);
    }
    return;
  }
  if (!c.status.ok()) {
    c.pending += SseEvent(ErrorBody(ErrorFromStatus(c.status)));
    c.pending += SseEvent("[DONE]");
  } else {
    c.pending += c.builder->StreamEnd();
  }
  StreamWriteNext();
}

void HttpSession::StreamWriteNext() {
  Call& c = *call_;
  if (c.write_in_flight || c.client_gone || c.last_chunk_sent) return;
  if (!c.finished) {
    if (c.pending.empty()) return;
    c.writing = std::move(c.pending);
    c.pending.clear();
    c.write_in_flight = true;
    WithStream([&](auto& stream) {
      net::async_write(stream, bhttp::make_chunk(net::buffer(c.writing)),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         // The call may have ended while the write was in flight:
                         // ClientGone after the final output ends it at once.
                         if (self->call_ == nullptr) return;
                         self->call_->write_in_flight = false;
                         if (ec) return self->ClientGone();
                         self->StreamWriteNext();
                       });
    });
    return;
  }
  // The last events (finish, usage, [DONE]) and the terminating chunk go out
  // in one write: a client that stops reading at `data: [DONE]` then already
  // has the whole response. (node-fetch, under the openai npm package,
  // reports "Premature close" when it stops before the terminating chunk
  // arrived in a later segment; seen on Debian's Node.js 18.)
  c.writing = std::move(c.pending);
  c.pending.clear();
  c.last_chunk_sent = true;
  c.write_in_flight = true;
  auto on_written = [self = shared_from_this()](beast::error_code ec, size_t) {
    self->EndCall();
    self->stream_serializer_.reset();
    self->stream_header_.reset();
    if (ec || !self->keep_alive_) {
      self->Close();
      return;
    }
    self->DoRead();
  };
  WithStream([&](auto& stream) {
    if (c.writing.empty()) {
      net::async_write(stream, bhttp::make_chunk_last(), std::move(on_written));
    } else {
      net::async_write(stream,
                       beast::buffers_cat(bhttp::make_chunk(net::buffer(c.writing)),
                                          bhttp::make_chunk_last()),
                       std::move(on_written));
    }
  });
}

void HttpSession::EndCall() {
  if (call_ == nullptr) return;
  Call& c = *call_;
  c.log.total_seconds = absl::ToDoubleSeconds(absl::Now() - c.start);
  c.log.code = static_cast<grpc::StatusCode>(c.status.code());
  c.log.message = std::string(c.status.message());
  if (Metrics* m = frontend_->metrics()) m->RecordOutcome(c.status, c.finish_reason, Api::kHttp);
  if (frontend_->options().logger) frontend_->options().logger(c.log);
  call_.reset();
  ++watch_id_;  // the close watch of this call no longer applies
  frontend_->ReleaseCall();
}

}  // namespace llmserve::server::http
