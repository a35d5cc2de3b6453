#include "server/engine_call.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace llmserve::server {

EngineCall::EngineCall(LLMEngine* engine, std::function<bool()> is_cancelled,
                       EngineCallOptions options)
    : engine_(engine),
      is_cancelled_(std::move(is_cancelled)),
      options_(options),
      queue_(std::make_shared<OutputQueue>()) {}

EngineCall::~EngineCall() {
  AbortAndDrain(absl::CancelledError("request handler ended"));
}

absl::Status EngineCall::Start(EngineRequest request) {
  request_id_ = request.request_id;
  absl::Status status = engine_->AddRequest(std::move(request), OutputQueue::MakeCallback(queue_));
  admitted_ = status.ok();
  return status;
}

std::vector<RequestOutput> EngineCall::Next() {
  if (!admitted_ || final_output_.has_value()) return {};
  while (true) {
    if (is_cancelled_()) {
      client_cancelled_ = true;
      AbortAndDrain(absl::CancelledError("client cancelled or deadline exceeded"));
      return {};
    }
    std::vector<RequestOutput> outputs = queue_->PopAll(options_.poll_interval);
    if (!outputs.empty()) {
      if (outputs.back().finished) final_output_ = outputs.back();
      return outputs;
    }
  }
}

void EngineCall::AbortAndDrain(absl::Status reason) {
  if (!admitted_ || final_output_.has_value()) return;
  engine_->AbortRequest(request_id_, std::move(reason));
  const absl::Time deadline = absl::Now() + options_.drain_timeout;
  while (!final_output_.has_value()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      // The queue stays alive through the callback's reference; only this
      // handler stops waiting.
      std::string msg = absl::StrCat("llmserve: request ", absl::CEscape(request_id_),
                                     " did not finish after abort; abandoning it\n");
      std::fwrite(msg.data(), 1, msg.size(), stderr);
      return;
    }
    for (RequestOutput& output : queue_->PopAll(std::min(left, options_.poll_interval))) {
      if (output.finished) final_output_ = std::move(output);
    }
  }
}

}  // namespace llmserve::server
