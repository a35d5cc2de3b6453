#include "server/output_queue.h"

#include <utility>

namespace llmserve::server {

void OutputQueue::Push(RequestOutput output) {
  absl::MutexLock lock(&mu_);
  outputs_.push_back(std::move(output));
}

std::vector<RequestOutput> OutputQueue::PopAll(absl::Duration timeout) {
  std::vector<RequestOutput> popped;
  absl::MutexLock lock(&mu_);
  auto non_empty = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !outputs_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&non_empty), timeout);
  popped.reserve(outputs_.size());
  while (!outputs_.empty()) {
    popped.push_back(std::move(outputs_.front()));
    outputs_.pop_front();
  }
  return popped;
}

OutputCallback OutputQueue::MakeCallback(std::shared_ptr<OutputQueue> queue) {
  return [queue = std::move(queue)](RequestOutput output) { queue->Push(std::move(output)); };
}

}  // namespace llmserve::server
