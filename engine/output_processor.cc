#include "engine/output_processor.h"

namespace llmserve {
namespace {

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

OutputProcessor::RequestState::RequestState(const Tokenizer& tokenizer,
                                            const EngineRequest& request, OutputCallback cb,
                                            absl::Time arrival_time)
    : request_id(request.request_id),
      callback(std::move(cb)),
      detokenizer(tokenizer, request.prompt_token_ids.back()),
      stop(request.sampling.stop),
      ignore_eos(request.sampling.ignore_eos),
      num_prompt_tokens(static_cast<int>(request.prompt_token_ids.size())),
      arrival(arrival_time) {}

OutputProcessor::OutputProcessor(const Tokenizer& tokenizer, std::vector<int32_t> eos_token_ids,
                                 EngineObserver* observer)
    : tokenizer_(tokenizer),
      eos_ids_(eos_token_ids.begin(), eos_token_ids.end()),
      observer_(observer) {}

void OutputProcessor::AddRequest(int64_t seq_id, const EngineRequest& request,
                                 OutputCallback callback, absl::Time arrival) {
  seq_of_request_[request.request_id] = seq_id;
  requests_.try_emplace(seq_id, tokenizer_, request, std::move(callback), arrival);
}

void OutputProcessor::OnScheduled(const SchedulerOutput& output, absl::Time now) {
  for (const ScheduledRequest& r : output.scheduled) {
    auto it = requests_.find(r.seq_id);
    if (it == requests_.end() || it->second.first_scheduled.has_value()) continue;
    it->second.first_scheduled = now;
    // At the first scheduling the computed tokens are those found in the prefix cache.
    it->second.num_cached_prompt_tokens = r.num_computed_tokens;
    if (observer_ != nullptr) observer_->OnRequestScheduled(Seconds(now - it->second.arrival));
  }
}

bool OutputProcessor::ProcessToken(const SequenceUpdate& update, absl::Time now) {
  auto it = requests_.find(update.seq_id);
  if (it == requests_.end()) return true;  // unknown: nobody waits for it
  RequestState& state = it->second;
  const int32_t token = update.sample->token_id;
  state.num_output_tokens = update.num_output_tokens;
  state.num_cached_prompt_tokens = update.num_cached_prompt_tokens;
  if (update.num_output_tokens == 1) {
    state.first_token = now;
  } else if (observer_ != nullptr) {
    observer_->OnInterTokenLatency(Seconds(now - state.last_token));
  }
  state.last_token = now;

  FinishReason reason = FinishReason::kNone;
  bool stopped = false;
  std::string text = state.stop.Append(state.detokenizer.Push(token), &stopped);
  if (stopped) {
    reason = FinishReason::kStop;
  } else if (!state.ignore_eos && eos_ids_.contains(token)) {
    reason = FinishReason::kEos;
  } else if (update.reached_max_tokens) {
    reason = FinishReason::kLength;
  }
  if (reason == FinishReason::kNone) {
    RequestOutput delta;
    delta.request_id = state.request_id;
    delta.token_ids = {token};
    delta.text = std::move(text);
    delta.prompt_tokens = state.num_prompt_tokens;
    delta.completion_tokens = state.num_output_tokens;
    delta.cached_prompt_tokens = state.num_cached_prompt_tokens;
    state.callback(std::move(delta));
    return false;
  }
  if (reason != FinishReason::kStop) {
    bool stopped_on_flush = false;
    text += state.stop.Append(state.detokenizer.Flush(), &stopped_on_flush);
    if (stopped_on_flush) {
      reason = FinishReason::kStop;
    } else {
      text += state.stop.Flush();
    }
  }
  Finish(update.seq_id, reason, absl::OkStatus(), std::move(text), {token}, now);
  return true;
}

void OutputProcessor::Abort(int64_t seq_id, FinishReason reason, absl::Status status) {
  Finish(seq_id, reason, std::move(status), "", {}, absl::Now());
}

void OutputProcessor::Finish(int64_t seq_id, FinishReason reason, absl::Status status,
                             std::string text, std::vector<int32_t> token_ids, absl::Time now) {
  auto it = requests_.find(seq_id);
  if (it == requests_.end()) return;
  RequestState state = std::move(it->second);
  requests_.erase(it);
  seq_of_request_.erase(state.request_id);

  RequestOutput out;
  out.request_id = state.request_id;
  out.token_ids = std::move(token_ids);
  out.text = std::move(text);
  out.finished = true;
  out.finish_reason = reason;
  out.status = std::move(status);
  out.prompt_tokens = state.num_prompt_tokens;
  out.completion_tokens = state.num_output_tokens;
  out.cached_prompt_tokens = state.num_cached_prompt_tokens;
  RequestTiming& t = out.timing;
  t.total_seconds = Seconds(now - state.arrival);
  if (state.first_scheduled.has_value()) {
    t.queue_seconds = Seconds(*state.first_scheduled - state.arrival);
  } else {
    t.queue_seconds = t.total_seconds;
  }
  if (state.num_output_tokens > 0) {
    t.time_to_first_token_seconds = Seconds(state.first_token - state.arrival);
    t.prefill_seconds = Seconds(state.first_token - *state.first_scheduled);
    t.decode_seconds = Seconds(now - state.first_token);
  }
  if (observer_ != nullptr) observer_->OnRequestFinished(out);
  finished_.emplace_back(std::move(state.callback), std::move(out));
}

void OutputProcessor::FinishUnregistered(const EngineRequest& request, OutputCallback callback,
                                         absl::Time arrival, absl::Status reason) {
  RequestOutput out;
  out.request_id = request.request_id;
  out.finished = true;
  out.finish_reason = FinishReason::kCancelled;
  out.status = std::move(reason);
  out.prompt_tokens = static_cast<int>(request.prompt_token_ids.size());
  out.timing.total_seconds = out.timing.queue_seconds = Seconds(absl::Now() - arrival);
  if (observer_ != nullptr) observer_->OnRequestFinished(out);
  finished_.emplace_back(std::move(callback), std::move(out));
}

std::optional<int64_t> OutputProcessor::FindSequence(const std::string& request_id) const {
  auto it = seq_of_request_.find(request_id);
  if (it == seq_of_request_.end()) return std::nullopt;
  return it->second;
}

std::vector<int64_t> OutputProcessor::AllSequences() const {
  std::vector<int64_t> ids;
  ids.reserve(requests_.size());
  for (const auto& entry : requests_) ids.push_back(entry.first);
  return ids;
}

std::vector<std::pair<OutputCallback, RequestOutput>> OutputProcessor::TakeFinished() {
  std::vector<std::pair<OutputCallback, RequestOutput>> out;
  out.swap(finished_);
  return out;
}

}  // namespace llmserve
