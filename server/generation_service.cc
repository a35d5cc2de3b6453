#include "server/generation_service.h"

#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/auth.h"
#include "server/proto_convert.h"
#include "server/request_validation.h"

namespace llmserve::server {
namespace {

bool IsSuccess(FinishReason reason) {
  return reason == FinishReason::kLength || reason == FinishReason::kStop ||
         reason == FinishReason::kEos;
}

void AppendOutput(const RequestOutput& output, std::string* text,
                  google::protobuf::RepeatedField<uint32_t>* token_ids) {
  text->append(output.text);
  for (int32_t id : output.token_ids) token_ids->Add(static_cast<uint32_t>(id));
}

}  // namespace

/// RAII registration of an active call (see Admit).
class GenerationService::CallScope {
 public:
  explicit CallScope(GenerationService* service) : service_(service) {}
  ~CallScope() {
    if (!active_) return;
    absl::MutexLock lock(&service_->mu_);
    --service_->active_calls_;
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  /// Registers the call unless the service is draining; false if draining.
  bool Enter() {
    absl::MutexLock lock(&service_->mu_);
    if (service_->draining_) return false;
    ++service_->active_calls_;
    active_ = true;
    return true;
  }

 private:
  GenerationService* service_;
  bool active_ = false;
};

GenerationService::GenerationService(LLMEngine* engine, GenerationServiceOptions options,
                                     Metrics* metrics)
    : engine_(engine), options_(std::move(options)), metrics_(metrics) {}

void GenerationService::StartDraining() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool GenerationService::WaitForNoCalls(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return active_calls_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

int GenerationService::active_calls() const {
  absl::MutexLock lock(&mu_);
  return active_calls_;
}

grpc::Status GenerationService::Admit(const grpc::ServerContext& context, CallScope& scope) {
  if (!options_.auth_token.empty()) {
    grpc::Status status = CheckBearerToken(context, options_.auth_token);
    if (!status.ok()) return status;
  }
  if (!scope.Enter()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "server draining: not accepting new requests; retry on another replica");
  }
  return grpc::Status::OK;
}

std::string GenerationService::NextRequestId() {
  // A counter plus 64 random bits: unique, and not guessable by a client that
  // could otherwise claim the next id first.
  thread_local absl::BitGen bits;
  return absl::StrCat("req-", next_id_.fetch_add(1, std::memory_order_relaxed), "-",
                      absl::Hex(absl::Uniform<uint64_t>(bits), absl::kZeroPad16));
}

grpc::Status GenerationService::StartCall(const v1::GenerateRequest& request, EngineCall& call,
                                          RequestLogEntry* log) {
  RequestLimits limits;
  limits.vocab_size = engine_->model_config().vocab_size;
  limits.max_context = engine_->options().max_context > 0 ? engine_->options().max_context
                                                          : engine_->model_config().max_context;
  limits.max_prompt_tokens = options_.max_prompt_tokens;
  log->request_id = request.request_id();
  absl::StatusOr<EngineRequest> engine_request =
      ValidateGenerateRequest(request, engine_->tokenizer(), limits);
  if (!engine_request.ok()) return ToGrpcStatus(engine_request.status());
  if (engine_request->request_id.empty()) engine_request->request_id = NextRequestId();
  log->request_id = engine_request->request_id;
  log->prompt_tokens = static_cast<int>(engine_request->prompt_token_ids.size());
  return ToGrpcStatus(call.Start(*std::move(engine_request)));
}

namespace {

/// The status of a call the client has gone from: its deadline passed, or it
/// cancelled (or closed the stream).
grpc::Status ClientGoneStatus(const grpc::ServerContext& context, const char* cancelled_message) {
  if (context.deadline() <= std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, cancelled_message);
}

}  // namespace

grpc::Status GenerationService::EndStatus(grpc::ServerContext* context,
                                          const EngineCall& call) const {
  if (call.client_cancelled()) return ClientGoneStatus(*context, "cancelled by the client");
  const std::optional<RequestOutput>& final_output = call.final_output();
  if (!final_output.has_value()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the request did not finish in the engine");
  }
  switch (final_output->finish_reason) {
    case FinishReason::kLength:
    case FinishReason::kStop:
    case FinishReason::kEos:
      return grpc::Status::OK;
    case FinishReason::kCancelled:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("request cancelled by the server: ",
                                       final_output->status.message()));
    case FinishReason::kError:
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          final_output->status.ok() ? std::string("engine error")
                                                    : std::string(final_output->status.message()));
    case FinishReason::kNone:
      break;
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "final output without a finish reason");
}

void GenerationService::Finish(const EngineCall& call, const grpc::Status& status,
                               absl::Time start, RequestLogEntry* log) const {
  if (const std::optional<RequestOutput>& f = call.final_output(); f.has_value()) {
    log->prompt_tokens = f->prompt_tokens;
    log->completion_tokens = f->completion_tokens;
    log->finish_reason = f->finish_reason;
    log->time_to_first_token_seconds = f->timing.time_to_first_token_seconds;
  }
  log->total_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  log->code = status.error_code();
  log->message = status.error_message();
  if (metrics_ != nullptr) metrics_->RecordOutcome(status, log->finish_reason);
  if (options_.logger) options_.logger(*log);
}

grpc::Status GenerationService::Generate(grpc::ServerContext* context,
                                         const v1::GenerateRequest* request,
                                         v1::GenerateResponse* response) {
  const absl::Time start = absl::Now();
  RequestLogEntry log;
  log.method = "Generate";
  CallScope scope(this);
  EngineCall call(engine_, [context] { return context->IsCancelled(); }, options_.call);
  grpc::Status status = Admit(*context, scope);
  if (status.ok()) status = StartCall(*request, call, &log);
  if (status.ok()) {
    for (std::vector<RequestOutput> outputs = call.Next(); !outputs.empty();
         outputs = call.Next()) {
      for (const RequestOutput& output : outputs) {
        AppendOutput(output, response->mutable_text(), response->mutable_token_ids());
      }
    }
    status = EndStatus(context, call);
    if (status.ok()) {
      const RequestOutput& final_output = *call.final_output();
      response->set_request_id(call.request_id());
      response->set_finish_reason(ToProto(final_output.finish_reason));
      FillUsage(final_output, response->mutable_usage());
      FillTiming(final_output.timing, response->mutable_timing());
    } else {
      response->Clear();
    }
  }
  Finish(call, status, start, &log);
  return status;
}

grpc::Status GenerationService::GenerateStream(
    grpc::ServerContext* context, const v1::GenerateRequest* request,
    grpc::ServerWriter<v1::GenerateStreamResponse>* writer) {
  const absl::Time start = absl::Now();
  RequestLogEntry log;
  log.method = "GenerateStream";
  CallScope scope(this);
  EngineCall call(engine_, [context] { return context->IsCancelled(); }, options_.call);
  grpc::Status status = Admit(*context, scope);
  if (status.ok()) status = StartCall(*request, call, &log);
  if (status.ok()) {
    bool write_failed = false;
    for (std::vector<RequestOutput> outputs = call.Next(); !outputs.empty();
         outputs = call.Next()) {
      // Everything that arrived since the last write goes into one message.
      v1::GenerateStreamResponse message;
      message.set_request_id(call.request_id());
      for (const RequestOutput& output : outputs) {
        AppendOutput(output, message.mutable_text(), message.mutable_token_ids());
      }
      const RequestOutput& last = outputs.back();
      if (last.finished) {
        if (!IsSuccess(last.finish_reason)) break;  // reported as the call's status
        message.set_finish_reason(ToProto(last.finish_reason));
        FillUsage(last, message.mutable_usage());
        FillTiming(last.timing, message.mutable_timing());
      } else if (message.text().empty() && message.token_ids().empty()) {
        continue;
      }
      if (!writer->Write(message)) {
        call.AbortAndDrain(absl::CancelledError("client stream closed"));
        write_failed = true;
        break;
      }
    }
    status = write_failed ? ClientGoneStatus(*context, "client stream closed")
                          : EndStatus(context, call);
  }
  Finish(call, status, start, &log);
  return status;
}

grpc::Status GenerationService::Tokenize(grpc::ServerContext* context,
                                         const v1::TokenizeRequest* request,
                                         v1::TokenizeResponse* response) {
  CallScope scope(this);
  if (grpc::Status status = Admit(*context, scope); !status.ok()) return status;
  const bool add_bos = !request->has_add_bos() || request->add_bos();
  const Tokenizer& tokenizer = engine_->tokenizer();
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(request->text(), add_bos);
  if (!ids.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("text cannot be tokenized: ", ids.status().message()));
  }
  int32_t prev = -1;
  for (int32_t id : *ids) {
    response->add_token_ids(static_cast<uint32_t>(id));
    response->add_pieces(tokenizer.TokenBytes(prev, id));
    prev = id;
  }
  return grpc::Status::OK;
}

grpc::Status GenerationService::GetModelInfo(grpc::ServerContext* context,
                                             const v1::GetModelInfoRequest* request,
                                             v1::ModelInfo* response) {
  CallScope scope(this);
  if (grpc::Status status = Admit(*context, scope); !status.ok()) return status;
  FillModelInfo(*engine_, response);
  return grpc::Status::OK;
}

}  // namespace llmserve::server
