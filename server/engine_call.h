#ifndef LLMSERVE_SERVER_ENGINE_CALL_H_
#define LLMSERVE_SERVER_ENGINE_CALL_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"
#include "engine/request.h"
#include "server/output_queue.h"

namespace llmserve::server {

/// How a handler thread waits for engine output.
struct EngineCallOptions {
  /// Longest wait for output before re-checking client cancellation.
  absl::Duration poll_interval = absl::Milliseconds(20);
  /// After an abort, how long to wait for the request's final output before
  /// giving up on it (an engine that honours its contract answers within a step).
  absl::Duration drain_timeout = absl::Seconds(30);
};

/// One request's life in the engine, seen from a gRPC handler thread: submits
/// the request with an OutputCallback that feeds an OutputQueue, hands out its
/// outputs as they arrive, and turns client cancellation (polled between short
/// waits) into LLMEngine::AbortRequest — after which it still drains the queue
/// until the final output, so that every admitted request is finished in the
/// engine before the handler returns. The engine thread never waits on it.
/// Not thread-safe: one handler thread uses it.
class EngineCall {
 public:
  /// `engine` must outlive this object; `is_cancelled` reports whether the
  /// client has gone (cancel, deadline); it is polled from Next().
  EngineCall(LLMEngine* engine, std::function<bool()> is_cancelled,
             EngineCallOptions options = {});
  /// Aborts and drains the request if it was admitted and has not finished.
  ~EngineCall();

  EngineCall(const EngineCall&) = delete;
  EngineCall& operator=(const EngineCall&) = delete;

  /// Submits `request` (request_id must be set). Errors: those of
  /// LLMEngine::AddRequest; the request is then not admitted.
  absl::Status Start(EngineRequest request);

  /// Waits for the next outputs of the request and returns them in order
  /// (the last one has finished == true at the end). Returns an empty vector
  /// when there is nothing more: the final output was already returned, or the
  /// client was found cancelled — the request has then been aborted and
  /// drained, and client_cancelled() is true.
  std::vector<RequestOutput> Next();

  /// Aborts the request with `reason` (e.g. a stream write failed) and waits
  /// for its final output, which is then available from final_output().
  /// No-op if not admitted or already finished.
  void AbortAndDrain(absl::Status reason);

  /// True if Next() found the client cancelled and aborted the request.
  bool client_cancelled() const { return client_cancelled_; }
  /// The final output once seen (by Next or a drain), else nullopt.
  const std::optional<RequestOutput>& final_output() const { return final_output_; }
  const std::string& request_id() const { return request_id_; }

 private:
  LLMEngine* engine_;
  std::function<bool()> is_cancelled_;
  EngineCallOptions options_;
  std::shared_ptr<OutputQueue> queue_;
  std::string request_id_;
  bool admitted_ = false;
  bool client_cancelled_ = false;
  std::optional<RequestOutput> final_output_;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_ENGINE_CALL_H_
