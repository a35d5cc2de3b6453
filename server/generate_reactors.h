#ifndef LLMSERVE_SERVER_GENERATE_REACTORS_H_
#define LLMSERVE_SERVER_GENERATE_REACTORS_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/request.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/generation_service.h"
#include "server/request_log.h"
#include "server/response_builder.h"

namespace llmserve::server {

/// What a Generate / GenerateStream reactor shares with the engine's
/// OutputCallback: the outputs not yet handled and the call's flags. Held by
/// shared_ptr so that its mutex outlives whichever side finishes last.
struct GenerateCallState {
  absl::Mutex mu;
  std::vector<RequestOutput> pending ABSL_GUARDED_BY(mu);  ///< outputs not yet written
  std::optional<RequestOutput> final_output ABSL_GUARDED_BY(mu);
  bool started ABSL_GUARDED_BY(mu) = false;    ///< Start() returned (Finish may be called)
  bool admitted ABSL_GUARDED_BY(mu) = false;   ///< the engine holds the request
  bool client_gone ABSL_GUARDED_BY(mu) = false;  ///< OnCancel ran
  bool abort_sent ABSL_GUARDED_BY(mu) = false;   ///< the engine was asked to abort
  bool write_failed ABSL_GUARDED_BY(mu) = false;
  bool write_in_flight ABSL_GUARDED_BY(mu) = false;
  /// A response task is queued on the service's response threads: like a
  /// write in flight, it reserves the next action (and so keeps the call alive).
  bool build_posted ABSL_GUARDED_BY(mu) = false;
  bool finish_called ABSL_GUARDED_BY(mu) = false;
  std::string request_id ABSL_GUARDED_BY(mu);
  /// Turns outputs into messages (set before `started`).
  std::unique_ptr<ResponseBuilder> builder ABSL_GUARDED_BY(mu);
};

/// Shared parts of the two reactors: admission, submission with an
/// OutputCallback, client-gone aborts, the end status and the call record.
class GenerateCallBase {
 protected:
  GenerateCallBase(GenerationService* service, grpc::CallbackServerContext* context,
                   const char* method);

  /// Admits the call and submits the request; the engine's outputs go to
  /// `on_output`. Returns the error that ends the call at once (already
  /// recorded; the caller only calls Finish with it), or OK.
  grpc::Status Submit(const v1::GenerateRequest& request, OutputCallback on_output);
  /// The client is gone (`reason` for the engine): aborts the engine request
  /// unless it has finished. Never blocks on the engine.
  void AbortInEngine(absl::Status reason);
  /// The status for a call whose final output is `final_output`.
  grpc::Status EndStatus(const RequestOutput& final_output, bool client_gone) const;
  /// CANCELLED, or DEADLINE_EXCEEDED when the deadline has passed (or is
  /// less than 50 ms away: the client cancels at its own, earlier copy).
  grpc::Status ClientGoneStatus(const char* cancelled_message) const;
  void Record(const RequestOutput* final_output, const grpc::Status& status);
  /// Releases the service's active-call count (from OnDone).
  void Release();

  GenerationService* const service_;
  grpc::CallbackServerContext* const context_;
  const std::shared_ptr<GenerateCallState> state_ = std::make_shared<GenerateCallState>();
  const absl::Time start_ = absl::Now();
  RequestLogEntry log_;
  bool admitted_call_ = false;  ///< counted in the service's active calls
};

/// Generate: collects the engine's outputs and, when the final output
/// arrives, finishes with the whole completion, built on a response thread.
class GenerateReactor final : public grpc::ServerUnaryReactor, private GenerateCallBase {
 public:
  GenerateReactor(GenerationService* service, grpc::CallbackServerContext* context,
                  v1::GenerateResponse* response);
  /// Validates and submits; finishes at once on error. Call once, from the
  /// method handler.
  void Start(const v1::GenerateRequest& request);
  void OnCancel() override;
  void OnDone() override;

 private:
  /// The engine's OutputCallback (engine thread). Touches `self` only while
  /// it is sure to be alive: under s.mu before anyone called Finish.
  /// (`s` is *self->state_, which the thread-safety analysis cannot see.)
  static void OnOutput(GenerateReactor* self, GenerateCallState& s, RequestOutput output)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  /// Under state_->mu: when Start has returned and the final output is in,
  /// reserves the finish (finish_called) and returns true; the caller then
  /// builds the response and calls Finish as its last action.
  bool ReserveFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu);
  /// Under state_->mu, after ReserveFinishLocked: fills the response from
  /// the outputs, records the call and returns its status.
  grpc::Status BuildResponseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu);
  /// The reserved finish, on a response thread: builds, then Finish.
  void FinishOnResponseThread();

  v1::GenerateResponse* const response_;
};

/// GenerateStream: writes the engine's outputs as they arrive (the messages
/// built on a response thread or in OnWriteDone, never on the engine thread), coalescing
/// whatever arrived during a write into the next message (one message per
/// run of outputs of the same completion when SamplingParams::n > 1); one
/// write in flight at a time; the final message carries finish reason,
/// usage, timing.
class GenerateStreamReactor final : public grpc::ServerWriteReactor<v1::GenerateStreamResponse>,
                                    private GenerateCallBase {
 public:
  GenerateStreamReactor(GenerationService* service, grpc::CallbackServerContext* context);
  /// Validates and submits; finishes at once on error. Call once, from the
  /// method handler.
  void Start(const v1::GenerateRequest& request);
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  enum class Action { kNone, kWrite, kFinish };
  /// The engine's OutputCallback (engine thread). Touches `self` only while
  /// it is sure to be alive: under s.mu before anyone called Finish, and to
  /// act on the write or finish it reserved.
  /// (`s` is *self->state_, which the thread-safety analysis cannot see.)
  static void OnOutput(GenerateStreamReactor* self, GenerateCallState& s, RequestOutput output)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  /// Starts the next write or the finish, if any is due; last action.
  /// From gRPC's reactions only (they keep the call alive).
  void Pump();
  /// The task OnOutput posts (build_posted): builds the messages of the
  /// pending outputs and starts the write or the finish; last action.
  void PumpOnResponseThread();
  /// Under state_->mu: decides and reserves the next action (write_in_flight
  /// or finish_called); `*status` is the finish status.
  Action NextActionLocked(grpc::Status* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu);
  /// Carries out a reserved action (outside the lock); may delete this.
  void Act(Action action, const grpc::Status& status);

  /// The message in flight: written under state_->mu by whoever reserved the
  /// write (a response thread or a gRPC reaction), then read by gRPC until OnWriteDone.
  v1::GenerateStreamResponse message_;
  /// Messages built but not yet written (one per completion run).
  std::deque<v1::GenerateStreamResponse> queued_ ABSL_GUARDED_BY(state_->mu);
  /// The last of queued_ is the final message.
  bool final_queued_ ABSL_GUARDED_BY(state_->mu) = false;
  /// message_ is the final one.
  bool final_in_flight_ ABSL_GUARDED_BY(state_->mu) = false;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_GENERATE_REACTORS_H_
