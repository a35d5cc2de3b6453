#include "server/generation_service.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "engine/request_validator.h"
#include "server/auth.h"
#include "server/generate_reactors.h"
#include "server/proto_convert.h"
#include "server/request_convert.h"

namespace llmserve::server {

GenerationService::GenerationService(LLMEngine* engine, GenerationServiceOptions options,
                                     Metrics* metrics)
    : engine_(engine),
      options_(std::move(options)),
      metrics_(metrics),
      executor_(options_.response_threads) {}

bool GenerationService::WaitForNoCalls(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return active_calls_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

int GenerationService::active_calls() const {
  absl::MutexLock lock(&mu_);
  return active_calls_;
}

grpc::Status GenerationService::AdmitCall(const grpc::ServerContextBase& context) {
  if (!options_.auth_token.empty()) {
    std::vector<absl::string_view> values;
    const auto range = context.client_metadata().equal_range("authorization");
    for (auto it = range.first; it != range.second; ++it) {
      values.emplace_back(it->second.data(), it->second.size());
    }
    absl::Status status = CheckBearerToken(values, options_.auth_token);
    if (!status.ok()) return ToGrpcStatus(status);
  }
  absl::MutexLock lock(&mu_);
  ++active_calls_;
  if (metrics_ != nullptr) metrics_->SetActiveCalls(active_calls_);
  return grpc::Status::OK;
}

void GenerationService::ReleaseCall() {
  absl::MutexLock lock(&mu_);
  --active_calls_;
  if (metrics_ != nullptr) metrics_->SetActiveCalls(active_calls_);
}

std::string GenerationService::NextRequestId() {
  // A counter plus 64 random bits: unique, and not guessable by a client that
  // could otherwise claim the next id first.
  thread_local absl::BitGen bits;
  return absl::StrCat("req-", next_id_.fetch_add(1, std::memory_order_relaxed), "-",
                      absl::Hex(absl::Uniform<uint64_t>(bits), absl::kZeroPad16));
}

grpc::Status GenerationService::SubmitRequest(const v1::GenerateRequest& request,
                                              OutputCallback on_output, std::string* request_id,
                                              RequestLogEntry* log,
                                              std::vector<int32_t>* prompt_token_ids) {
  log->request_id = request.request_id();
  absl::StatusOr<EngineRequest> engine_request = ToEngineRequest(request, engine_->tokenizer());
  if (!engine_request.ok()) return ToGrpcStatus(engine_request.status());
  if (engine_request->request_id.empty()) engine_request->request_id = NextRequestId();
  RequestLimits limits = engine_->request_limits();
  limits.max_prompt_tokens = options_.max_prompt_tokens;
  if (absl::Status s = ValidateRequest(*engine_request, limits); !s.ok()) return ToGrpcStatus(s);
  log->request_id = engine_request->request_id;
  log->prompt_tokens = static_cast<int>(engine_request->prompt_token_ids.size());
  *request_id = engine_request->request_id;
  if (prompt_token_ids != nullptr) *prompt_token_ids = engine_request->prompt_token_ids;
  return ToGrpcStatus(engine_->AddRequest(*std::move(engine_request), std::move(on_output)));
}

void GenerationService::RecordCall(const RequestOutput* final_output, const grpc::Status& status,
                                   absl::Time start, RequestLogEntry* log) const {
  if (final_output != nullptr) {
    log->prompt_tokens = final_output->prompt_tokens;
    log->completion_tokens = final_output->completion_tokens;
    log->finish_reason = final_output->finish_reason;
    log->time_to_first_token_seconds = final_output->timing.time_to_first_token_seconds;
  }
  log->total_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  log->code = status.error_code();
  log->message = status.error_message();
  if (metrics_ != nullptr) metrics_->RecordOutcome(
        absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()),
        log->finish_reason, Api::kGrpc);
  if (options_.logger) options_.logger(*log);
}

grpc::ServerUnaryReactor* GenerationService::Generate(grpc::CallbackServerContext* context,
                                                      const v1::GenerateRequest* request,
                                                      v1::GenerateResponse* response) {
  auto* reactor = new GenerateReactor(this, context, response);
  reactor->Start(*request);
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerationService::GenerateStream(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  auto* reactor = new GenerateStreamReactor(this, context);
  reactor->Start(*request);
  return reactor;
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* context,
                                                      const v1::TokenizeRequest* request,
                                                      v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = AdmitCall(*context);
  if (!status.ok()) {
    reactor->Finish(status);
    return reactor;
  }
  const bool add_bos = !request->has_add_bos() || request->add_bos();
  const Tokenizer& tokenizer = engine_->tokenizer();
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(request->text(), add_bos);
  if (!ids.ok()) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("text cannot be tokenized: ", ids.status().message()));
  } else {
    int32_t prev = -1;
    for (int32_t id : *ids) {
      response->add_token_ids(static_cast<uint32_t>(id));
      response->add_pieces(tokenizer.TokenBytes(prev, id));
      prev = id;
    }
  }
  ReleaseCall();
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(grpc::CallbackServerContext* context,
                                                          const v1::GetModelInfoRequest* request,
                                                          v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = AdmitCall(*context);
  if (status.ok()) {
    FillModelInfo(*engine_, response);
    ReleaseCall();
  }
  reactor->Finish(status);
  return reactor;
}

}  // namespace llmserve::server
