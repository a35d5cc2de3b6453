#include "server/generate_reactors.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/happens_before.h"
#include "server/proto_convert.h"

namespace llmserve::server {
namespace {

bool IsSuccess(FinishReason reason) {
  return reason == FinishReason::kLength || reason == FinishReason::kStop ||
         reason == FinishReason::kEos;
}

}  // namespace

// ---- GenerateCallBase ----

GenerateCallBase::GenerateCallBase(GenerationService* service,
                                   grpc::CallbackServerContext* context, const char* method)
    : service_(service), context_(context) {
  log_.method = method;
}

grpc::Status GenerateCallBase::Submit(const v1::GenerateRequest& request,
                                      OutputCallback on_output) {
  grpc::Status status = service_->AdmitCall(*context_);
  std::string request_id;
  std::vector<int32_t> prompt;
  if (status.ok()) {
    admitted_call_ = true;
    status = service_->SubmitRequest(request, std::move(on_output), &request_id, &log_, &prompt);
  }
  if (!status.ok()) {
    // Refused: the caller finishes the call with `status` at once.
    {
      absl::MutexLock lock(&state_->mu);
      state_->finish_called = true;
    }
    Record(nullptr, status);
    return status;
  }
  bool abort = false;
  {
    absl::MutexLock lock(&state_->mu);
    state_->admitted = true;
    state_->request_id = request_id;
    state_->builder =
        std::make_unique<ResponseBuilder>(service_->engine()->tokenizer(), std::move(prompt));
    // Cancelled while submitting: abort now (OnCancel could not yet).
    abort = state_->client_gone && !state_->final_output.has_value();
    state_->abort_sent = abort;
  }
  if (abort) {
    service_->engine()->AbortRequest(request_id,
                                     absl::CancelledError("client cancelled or deadline exceeded"));
  }
  return grpc::Status::OK;
}

void GenerateCallBase::AbortInEngine(absl::Status reason) {
  std::string request_id;
  {
    absl::MutexLock lock(&state_->mu);
    // Once per call: a cancel and a failed write can both report the client gone.
    if (!state_->admitted || state_->final_output.has_value() || state_->abort_sent) return;
    state_->abort_sent = true;
    request_id = state_->request_id;
  }
  service_->engine()->AbortRequest(request_id, std::move(reason));
}

grpc::Status GenerateCallBase::ClientGoneStatus(const char* cancelled_message) const {
  // The client's deadline runs ahead of the server's by the request's transit
  // (and header-processing) time, so the client's cancel at its deadline can
  // reach OnCancel just before the server's copy expires: a cancel this close
  // to the deadline is the deadline.
  constexpr auto kDeadlineSlack = std::chrono::milliseconds(50);
  if (context_->deadline() <= std::chrono::system_clock::now() + kDeadlineSlack) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, cancelled_message);
}

grpc::Status GenerateCallBase::EndStatus(const RequestOutput& final_output,
                                         bool client_gone) const {
  if (client_gone) return ClientGoneStatus("cancelled by the client");
  switch (final_output.finish_reason) {
    case FinishReason::kLength:
    case FinishReason::kStop:
    case FinishReason::kEos:
      return grpc::Status::OK;
    case FinishReason::kCancelled:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("request cancelled by the server: ",
                                       final_output.status.message()));
    case FinishReason::kError:
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          final_output.status.ok() ? std::string("engine error")
                                                   : std::string(final_output.status.message()));
    case FinishReason::kNone:
      break;
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "final output without a finish reason");
}

void GenerateCallBase::Record(const RequestOutput* final_output, const grpc::Status& status) {
  service_->RecordCall(final_output, status, start_, &log_);
}

void GenerateCallBase::Release() {
  if (admitted_call_) service_->ReleaseCall();
}

// ---- GenerateReactor ----

GenerateReactor::GenerateReactor(GenerationService* service, grpc::CallbackServerContext* context,
                                 v1::GenerateResponse* response)
    : GenerateCallBase(service, context, "Generate"), response_(response) {}

void GenerateReactor::Start(const v1::GenerateRequest& request) {
  grpc::Status status = Submit(request, [this, state = state_](RequestOutput output) {
    OnOutput(this, *state, std::move(output));
  });
  // The handler returns the reactor to gRPC, whose reactions may run on
  // other threads (engine/common/happens_before.h).
  HappensBefore(this);
  if (!status.ok()) {
    Finish(status);  // refused: Submit recorded it
    return;
  }
  {
    absl::MutexLock lock(&state_->mu);
    state_->started = true;
    if (!ReserveFinishLocked()) return;
    status = BuildResponseLocked();
  }
  HappensBefore(this);
  Finish(status);  // may run OnDone (delete this): the last action
}

void GenerateReactor::OnOutput(GenerateReactor* self, GenerateCallState& s, RequestOutput output) {
  // Engine thread. `self` may be deleted once another thread has called
  // Finish (finish_called): it is only touched under s.mu while
  // finish_called is false, and after this thread reserved the finish.
  // The response is built on a response thread, not here.
  {
    absl::MutexLock lock(&s.mu);
    if (s.finish_called) return;
    if (!output.finished) {
      s.pending.push_back(std::move(output));
      return;
    }
    s.final_output = std::move(output);
    if (!self->ReserveFinishLocked()) return;
  }
  HappensBefore(self);
  self->service_->PostResponseWork([self] { self->FinishOnResponseThread(); });
}

void GenerateReactor::FinishOnResponseThread() {
  HappensAfter(this);
  grpc::Status status;
  {
    absl::MutexLock lock(&state_->mu);
    status = BuildResponseLocked();
  }
  HappensBefore(this);
  Finish(status);  // may run OnDone (delete this): the last action
}

bool GenerateReactor::ReserveFinishLocked() {
  GenerateCallState& s = *state_;
  if (!s.started || !s.final_output.has_value() || s.finish_called) return false;
  s.finish_called = true;
  return true;
}

grpc::Status GenerateReactor::BuildResponseLocked() {
  GenerateCallState& s = *state_;
  const RequestOutput& final_output = *s.final_output;
  grpc::Status status = EndStatus(final_output, s.client_gone);
  if (status.ok()) {
    ResponseBuilder& builder = *s.builder;
    for (const RequestOutput& output : s.pending) builder.Add(output);
    builder.Add(final_output);
    builder.FillResponse(s.request_id, final_output, response_);
  } else {
    response_->Clear();
  }
  s.pending.clear();
  Record(&final_output, status);
  return status;
}

void GenerateReactor::OnCancel() {
  HappensAfter(this);
  {
    absl::MutexLock lock(&state_->mu);
    state_->client_gone = true;
  }
  AbortInEngine(absl::CancelledError("client cancelled or deadline exceeded"));
}

void GenerateReactor::OnDone() {
  HappensAfter(this);
  Release();
  delete this;
}

// ---- GenerateStreamReactor ----

GenerateStreamReactor::GenerateStreamReactor(GenerationService* service,
                                             grpc::CallbackServerContext* context)
    : GenerateCallBase(service, context, "GenerateStream") {}

void GenerateStreamReactor::Start(const v1::GenerateRequest& request) {
  grpc::Status status = Submit(request, [this, state = state_](RequestOutput output) {
    OnOutput(this, *state, std::move(output));
  });
  // The handler returns the reactor to gRPC, whose reactions may run on
  // other threads (engine/common/happens_before.h).
  HappensBefore(this);
  if (!status.ok()) {
    Finish(status);  // refused: Submit recorded it
    return;
  }
  {
    absl::MutexLock lock(&state_->mu);
    state_->started = true;
  }
  Pump();
}

void GenerateStreamReactor::OnOutput(GenerateStreamReactor* self, GenerateCallState& s,
                                     RequestOutput output) {
  // Engine thread. `self` may be deleted once another thread has called
  // Finish (finish_called): it is only touched under s.mu while
  // finish_called is false, and after this thread reserved a write or the
  // finish (which keeps the call, and so the reactor, alive).
  // The messages are built on a response thread: the one this posts, or
  // the write in flight's OnWriteDone.
  {
    absl::MutexLock lock(&s.mu);
    if (s.finish_called) return;
    if (output.finished) s.final_output = output;
    s.pending.push_back(std::move(output));
    if (!s.started || s.write_in_flight || s.build_posted) return;
    s.build_posted = true;
  }
  HappensBefore(self);
  self->service_->PostResponseWork([self] { self->PumpOnResponseThread(); });
}

void GenerateStreamReactor::PumpOnResponseThread() {
  HappensAfter(this);
  Action action = Action::kNone;
  grpc::Status status;
  {
    absl::MutexLock lock(&state_->mu);
    state_->build_posted = false;
    action = NextActionLocked(&status);
  }
  Act(action, status);
}

void GenerateStreamReactor::Pump() {
  Action action = Action::kNone;
  grpc::Status status;
  {
    absl::MutexLock lock(&state_->mu);
    action = NextActionLocked(&status);
  }
  Act(action, status);
}

void GenerateStreamReactor::Act(Action action, const grpc::Status& status) {
  if (action != Action::kNone) HappensBefore(this);  // OnWriteDone / OnDone follow on gRPC's threads
  if (action == Action::kWrite) StartWrite(&message_);
  if (action == Action::kFinish) Finish(status);  // may delete this: the last action
}

GenerateStreamReactor::Action GenerateStreamReactor::NextActionLocked(grpc::Status* status) {
  GenerateCallState& s = *state_;
  Action action = Action::kNone;
  if (!s.started || s.finish_called || s.write_in_flight || s.build_posted) return action;
  if (s.write_failed || s.client_gone) {
    // Nothing more is written; finish once the engine has let go.
    if (!s.final_output.has_value()) return action;
    *status = s.client_gone ? ClientGoneStatus("cancelled by the client")
                            : ClientGoneStatus("client stream closed");
    action = Action::kFinish;
  } else {
    if (!s.pending.empty()) {
      // Everything that arrived since the last write: one message per run
      // of outputs of the same completion.
      const RequestOutput& last = s.pending.back();
      if (last.finished && !IsSuccess(last.finish_reason)) {
        *status = EndStatus(last, /*client_gone=*/false);  // reported as the call's status
        action = Action::kFinish;
        queued_.clear();
      } else {
        for (auto& m : s.builder->StreamMessages(s.request_id, s.pending)) {
          queued_.push_back(std::move(m));
        }
        final_queued_ = last.finished;
      }
      s.pending.clear();
    }
    if (action == Action::kNone && !queued_.empty()) {
      message_ = std::move(queued_.front());
      queued_.pop_front();
      final_in_flight_ = final_queued_ && queued_.empty();
      action = Action::kWrite;
    }
  }
  if (action == Action::kWrite) s.write_in_flight = true;
  if (action == Action::kFinish) {
    s.finish_called = true;
    Record(&*s.final_output, *status);
  }
  return action;
}

void GenerateStreamReactor::OnWriteDone(bool ok) {
  HappensAfter(this);
  // final_in_flight_ is read under the lock that guarded its write (possibly
  // on a response thread, before StartWrite): gRPC orders StartWrite before
  // OnWriteDone, but only inside its own code, which TSan cannot see.
  bool finish = false;
  bool abort = false;
  grpc::Status status;
  {
    absl::MutexLock lock(&state_->mu);
    state_->write_in_flight = false;
    if (final_in_flight_) {
      finish = true;
      state_->finish_called = true;
      status = ok ? EndStatus(*state_->final_output, state_->client_gone)
                  : ClientGoneStatus("client stream closed");
      Record(&*state_->final_output, status);
    } else if (!ok && !state_->write_failed) {
      state_->write_failed = true;
      state_->pending.clear();
      abort = true;
    }
  }
  if (finish) {
    HappensBefore(this);
    Finish(status);  // may run OnDone (delete this): the last action
    return;
  }
  if (abort) AbortInEngine(absl::CancelledError("client stream closed"));
  Pump();
}

void GenerateStreamReactor::OnCancel() {
  HappensAfter(this);
  {
    absl::MutexLock lock(&state_->mu);
    state_->client_gone = true;
  }
  AbortInEngine(absl::CancelledError("client cancelled or deadline exceeded"));
  Pump();
}

void GenerateStreamReactor::OnDone() {
  HappensAfter(this);
  Release();
  delete this;
}

}  // namespace llmserve::server
