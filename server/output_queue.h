#ifndef LLMSERVE_SERVER_OUTPUT_QUEUE_H_
#define LLMSERVE_SERVER_OUTPUT_QUEUE_H_

#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/request.h"

namespace llmserve::server {

/// A thread-safe FIFO of one request's engine outputs: the bridge between the
/// engine thread (producer, via the OutputCallback from MakeCallback) and the
/// gRPC handler thread (consumer).
///
/// Push never blocks beyond a short mutex hold and the queue is unbounded (a
/// request produces at most max_tokens + 1 outputs), so a slow or vanished
/// client can never stall the engine thread.
class OutputQueue {
 public:
  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  /// Appends an output and wakes the consumer. Called on the engine thread.
  void Push(RequestOutput output) ABSL_LOCKS_EXCLUDED(mu_);

  /// Waits up to `timeout` for at least one output, then removes and returns
  /// all queued outputs in order. Returns an empty vector on timeout.
  std::vector<RequestOutput> PopAll(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  /// An OutputCallback for LLMEngine::AddRequest that pushes into `queue`. It
  /// holds a reference, so the queue outlives the callback even if the handler
  /// has already returned.
  static OutputCallback MakeCallback(std::shared_ptr<OutputQueue> queue);

 private:
  absl::Mutex mu_;
  std::deque<RequestOutput> outputs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_OUTPUT_QUEUE_H_
