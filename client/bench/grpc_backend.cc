#include "client/bench/grpc_backend.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/bench/happens_before.h"

namespace llmserve::bench {

namespace v1 = llmserve::v1;
using Clock = std::chrono::steady_clock;

namespace {

/// Fills the request from the workload entry and the run's sampling parameters.
void BuildRequest(const BenchRequest& source, const LoadOptions& options,
                  const RequestVariant& variant, int index, v1::GenerateRequest* request) {
  request->set_request_id(absl::StrCat(options.request_id_prefix, index));
  if (!source.token_ids.empty()) {
    request->mutable_token_ids()->mutable_ids()->Add(source.token_ids.begin(),
                                                     source.token_ids.end());
  } else {
    request->set_text(source.text);
  }
  *request->mutable_sampling_params() = options.sampling;
  request->mutable_sampling_params()->set_max_tokens(source.max_tokens);
  if (!variant.n_logprobs) {
    request->mutable_sampling_params()->clear_n();
    request->mutable_sampling_params()->clear_logprobs();
    request->mutable_sampling_params()->clear_prompt_logprobs();
  }
  request->set_priority(options.priority);
}

/// What the record knows of the request as sent (see RequestRecord).
void RecordSent(const v1::GenerateRequest& request, RequestRecord* record) {
  record->sent_prompt_tokens = request.has_token_ids() ? request.token_ids().ids_size() : -1;
  const int n = request.sampling_params().has_n() ? static_cast<int>(request.sampling_params().n()) : 1;
  record->max_output_tokens = static_cast<int>(request.sampling_params().max_tokens()) * std::max(1, n);
}

/// Sets the deadline (if the variant has one) and auth; returns whether a
/// deadline was set.
bool PrepareContext(const LoadOptions& options, const RequestVariant& variant,
                    grpc::ClientContext* context) {
  const bool deadline = variant.timeout && options.timeout_seconds > 0;
  if (deadline) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::microseconds(
                              static_cast<int64_t>(options.timeout_seconds * 1e6)));
  }
  if (!options.auth_token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options.auth_token));
  }
  return deadline;
}

std::string FinishName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH: return "length";
    case v1::FINISH_REASON_STOP: return "stop";
    case v1::FINISH_REASON_EOS: return "eos";
    case v1::FINISH_REASON_CANCELLED: return "cancelled";
    case v1::FINISH_REASON_ERROR: return "error";
    default: return "";
  }
}

void FillFromStatus(const grpc::Status& status, RequestRecord* record) {
  record->status = status.error_code();
  if (!status.ok()) record->error = status.error_message();
}

}  // namespace

/// A GenerateStream call: records the arrival time of every message carrying
/// tokens. With n > 1 the completions' messages interleave (field `index`):
/// TTFT is the first token of any completion, ITL the gaps between
/// token-carrying messages of all completions in arrival order, and
/// output_tokens counts the tokens of every completion.
class GrpcBackend::StreamCall final : public grpc::ClientReadReactor<v1::GenerateStreamResponse> {
 public:
  StreamCall(CallObserver* observer, v1::Generation::Stub* stub, const BenchRequest& source,
             const LoadOptions& options, const RequestVariant& variant, int index)
      : observer_(observer) {
    BuildRequest(source, options, variant, index, &request_);
    const bool had_deadline = PrepareContext(options, variant, &context_);
    cancel_after_tokens_ = variant.cancel ? options.mix.cancel_after_tokens : 0;
    stub->async()->GenerateStream(&context_, &request_, this);
    StartRead(&message_);
    {
      absl::MutexLock lock(&mu_);  // the reactions read these on gRPC's threads
      record_.had_deadline = had_deadline;
      RecordSent(request_, &record_);
      record_.index = index;
      start_ = Clock::now();
      record_.start_seconds = observer_->SecondsSinceStart(start_);
      last_ = start_;
    }
    // The reactions run on gRPC's threads (client/bench/happens_before.h);
    // each StartRead after this one is made under mu_.
    HappensBefore(this);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    HappensAfter(this);
    if (!ok) return;  // OnDone follows
    // Consecutive reactions of a call can run on different gRPC threads;
    // gRPC orders them, but only inside its own code, so the record is
    // guarded by mu_ to make the order explicit.
    absl::MutexLock lock(&mu_);
    const Clock::time_point now = Clock::now();
    if (const int tokens = message_.token_ids_size(); tokens > 0) {
      const double since_last = std::chrono::duration<double>(now - last_).count();
      if (record_.ttft_seconds < 0) {
        record_.ttft_seconds = since_last;
      } else {
        record_.itl_seconds.push_back(since_last);
      }
      last_ = now;
      record_.output_tokens += tokens;
      observer_->OnTokens(tokens);
    }
    // With n > 1 every completion's last message has its finish reason; the
    // record keeps completion 0's (as GenerateResponse.finish_reason does).
    if (message_.finish_reason() != v1::FINISH_REASON_UNSPECIFIED && message_.index() == 0) {
      record_.finish_reason = FinishName(message_.finish_reason());
    }
    // Usage and timing come in the stream's last message only.
    if (message_.has_usage()) {
      record_.prompt_tokens = static_cast<int>(message_.usage().prompt_tokens());
      record_.cached_prompt_tokens = static_cast<int>(message_.usage().cached_prompt_tokens());
      record_.server_queue_seconds = message_.timing().queue_seconds();
      record_.server_ttft_seconds = message_.timing().time_to_first_token_seconds();
      record_.server_e2e_seconds = message_.timing().total_seconds();
    }
    // A mixed load's cancel: mid-stream, so not once the last message (the
    // one with usage) is in.
    if (cancel_after_tokens_ > 0 && !record_.client_cancelled && !message_.has_usage() &&
        record_.output_tokens >= cancel_after_tokens_) {
      record_.client_cancelled = true;
      context_.TryCancel();
    }
    StartRead(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    HappensAfter(this);
    RequestRecord record;
    {
      absl::MutexLock lock(&mu_);
      record_.e2e_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
      FillFromStatus(status, &record_);
      record = std::move(record_);
    }
    observer_->OnDone(std::move(record));
    delete this;
  }

 private:
  CallObserver* observer_;
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateStreamResponse message_;  ///< the read buffer: gRPC's between StartRead and OnReadDone
  absl::Mutex mu_;
  RequestRecord record_ ABSL_GUARDED_BY(mu_);
  Clock::time_point start_ ABSL_GUARDED_BY(mu_);
  Clock::time_point last_ ABSL_GUARDED_BY(mu_);
  /// Cancel once this many tokens arrived; 0: never. Set before StartCall.
  int cancel_after_tokens_ = 0;
};

/// A Generate call: the whole completion arrives at once (TTFT = e2e).
class GrpcBackend::UnaryCall {
 public:
  UnaryCall(CallObserver* observer, v1::Generation::Stub* stub, const BenchRequest& source,
            const LoadOptions& options, const RequestVariant& variant, int index)
      : observer_(observer) {
    BuildRequest(source, options, variant, index, &request_);
    const bool had_deadline = PrepareContext(options, variant, &context_);
    {
      absl::MutexLock lock(&mu_);  // Done reads these on a gRPC thread
      record_.had_deadline = had_deadline;
      RecordSent(request_, &record_);
      record_.index = index;
      record_.unary = true;
      start_ = Clock::now();
      record_.start_seconds = observer_->SecondsSinceStart(start_);
    }
    HappensBefore(this);  // Done runs on a gRPC thread (client/bench/happens_before.h)
    stub->async()->Generate(&context_, &request_, &response_,
                            [this](grpc::Status status) { Done(status); });
  }

 private:
  void Done(const grpc::Status& status) {
    HappensAfter(this);
    absl::ReleasableMutexLock lock(&mu_);
    record_.e2e_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    FillFromStatus(status, &record_);
    if (status.ok()) {
      // With n > 1, token_ids are completions[0]'s: count every completion's.
      if (response_.completions_size() > 0) {
        for (const v1::Completion& c : response_.completions()) {
          record_.output_tokens += c.token_ids_size();
        }
      } else {
        record_.output_tokens = response_.token_ids_size();
      }
      if (record_.output_tokens > 0) record_.ttft_seconds = record_.e2e_seconds;
      observer_->OnTokens(record_.output_tokens);
      record_.finish_reason = FinishName(response_.finish_reason());
      record_.prompt_tokens = static_cast<int>(response_.usage().prompt_tokens());
      record_.cached_prompt_tokens = static_cast<int>(response_.usage().cached_prompt_tokens());
      record_.server_queue_seconds = response_.timing().queue_seconds();
      record_.server_ttft_seconds = response_.timing().time_to_first_token_seconds();
      record_.server_e2e_seconds = response_.timing().total_seconds();
    }
    RequestRecord record = std::move(record_);
    lock.Release();
    observer_->OnDone(std::move(record));
    delete this;
  }

  CallObserver* observer_;
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;  ///< gRPC's until Done
  absl::Mutex mu_;
  RequestRecord record_ ABSL_GUARDED_BY(mu_);
  Clock::time_point start_ ABSL_GUARDED_BY(mu_);
};

GrpcBackend::GrpcBackend(std::vector<std::shared_ptr<grpc::Channel>> channels) {
  for (const auto& channel : channels) stubs_.push_back(v1::Generation::NewStub(channel));
}

void GrpcBackend::Start(const CallSpec& spec, CallObserver* observer) {
  v1::Generation::Stub* stub = stubs_[static_cast<size_t>(spec.index) % stubs_.size()].get();
  // Each call deletes itself when done.
  if (spec.options->stream) {
    new StreamCall(observer, stub, *spec.source, *spec.options, spec.variant, spec.index);
  } else {
    new UnaryCall(observer, stub, *spec.source, *spec.options, spec.variant, spec.index);
  }
}

}  // namespace llmserve::bench
