#include "engine/output_processor.h"

namespace llmserve {
namespace {

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

OutputProcessor::RequestState::RequestState(const Tokenizer& tokenizer,
                                            const EngineRequest& request, OutputCallback cb,
                                            absl::Time arrival_time, int completion_index,
                                            std::shared_ptr<CompletionGroup> completion_group)
    : index(completion_index),
      group(std::move(completion_group)),
      stop_token_ids(request.sampling.stop_token_ids.begin(), request.sampling.stop_token_ids.end()),
      min_tokens(request.sampling.min_tokens),
      request_id(request.request_id),
      callback(std::move(cb)),
      detokenizer(tokenizer, request.prompt_token_ids.back()),
      stop(request.sampling.stop),
      // A structured output's EOS (allowed only where it is complete) always ends it.
      ignore_eos(request.sampling.ignore_eos && !request.sampling.structured_output.has_value()),
      num_prompt_tokens(static_cast<int>(request.prompt_token_ids.size())),
      arrival(arrival_time) {}

OutputProcessor::OutputProcessor(const Tokenizer& tokenizer, std::vector<int32_t> eos_token_ids,
                                 EngineObserver* observer)
    : tokenizer_(tokenizer),
      eos_ids_(eos_token_ids.begin(), eos_token_ids.end()),
      observer_(observer) {}

void OutputProcessor::AddRequest(const std::vector<int64_t>& seq_ids, const EngineRequest& request,
                                 OutputCallback callback, absl::Time arrival) {
  seqs_of_request_[request.request_id] = seq_ids;
  auto group = std::make_shared<CompletionGroup>();
  group->num_unfinished = static_cast<int>(seq_ids.size());
  for (std::size_t i = 0; i < seq_ids.size(); ++i) {
    requests_.try_emplace(seq_ids[i], tokenizer_, request, callback, arrival, static_cast<int>(i),
                          group);
  }
}

void OutputProcessor::AddPromptLogprobs(const PromptLogprobsChunk& chunk) {
  auto it = requests_.find(chunk.seq_id);
  if (it == requests_.end()) return;
  auto& pending = it->second.pending_prompt_logprobs;
  pending.insert(pending.end(), chunk.logprobs.begin(), chunk.logprobs.end());
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
    if (state.index > 0 && observer_ != nullptr) observer_->OnExtraCompletionFirstToken();
  } else if (observer_ != nullptr) {
    observer_->OnInterTokenLatency(Seconds(now - state.last_token));
  }
  state.last_token = now;

  if (update.sample->structured_output_dead_end) {
    Finish(update.seq_id, FinishReason::kError,
           absl::InternalError("structured output: the constraint allows no next token"), "", {},
           now);
    return true;
  }
  FinishReason reason = FinishReason::kNone;
  bool stopped = false;
  // Stop strings and stop ids end a completion only from min_tokens tokens
  // on (vLLM); before that the text bypasses the stop-string checker. A stop
  // id contributes no text (as EOS).
  const bool stops_active = update.num_output_tokens >= state.min_tokens;
  std::string text;
  const bool stop_id = stops_active && state.stop_token_ids.contains(token);
  if (!stop_id) {
    text = stops_active ? state.stop.Append(state.detokenizer.Push(token), &stopped)
                        : state.detokenizer.Push(token);
  }
  if (stop_id || stopped) {
    reason = FinishReason::kStop;
  } else if (!state.ignore_eos && eos_ids_.contains(token)) {
    reason = FinishReason::kEos;
  } else if (update.sample->completes_structured_output) {
    reason = FinishReason::kStop;  // complete, only EOS could follow: end without it
  } else if (update.reached_max_tokens) {
    reason = FinishReason::kLength;
  }
  std::vector<PositionLogprobs> logprobs;
  if (update.sample->logprobs.has_value()) logprobs.push_back(*update.sample->logprobs);
  if (reason == FinishReason::kNone) {
    RequestOutput delta;
    delta.request_id = state.request_id;
    delta.index = state.index;
    delta.token_ids = {token};
    delta.text = std::move(text);
    delta.logprobs = std::move(logprobs);
    delta.prompt_logprobs = std::move(state.pending_prompt_logprobs);
    state.pending_prompt_logprobs.clear();
    delta.prompt_tokens = state.num_prompt_tokens;
    delta.completion_tokens = state.num_output_tokens;
    delta.cached_prompt_tokens = state.num_cached_prompt_tokens;
    state.callback(std::move(delta));
    return false;
  }
  if (reason != FinishReason::kStop || stop_id || !stopped) {  // the text withheld so far is complete
    bool stopped_on_flush = false;
    text += state.stop.Append(state.detokenizer.Flush(), &stopped_on_flush);
    if (stopped_on_flush) {
      reason = FinishReason::kStop;
    } else {
      text += state.stop.Flush();
    }
  }
  Finish(update.seq_id, reason, absl::OkStatus(), std::move(text), {token}, now,
         std::move(logprobs));
  return true;
}

void OutputProcessor::Abort(int64_t seq_id, FinishReason reason, absl::Status status) {
  Finish(seq_id, reason, std::move(status), "", {}, absl::Now());
}

void OutputProcessor::Finish(int64_t seq_id, FinishReason reason, absl::Status status,
                             std::string text, std::vector<int32_t> token_ids, absl::Time now,
                             std::vector<PositionLogprobs> logprobs) {
  auto it = requests_.find(seq_id);
  if (it == requests_.end()) return;
  RequestState state = std::move(it->second);
  requests_.erase(it);
  CompletionGroup& group = *state.group;
  const bool last = --group.num_unfinished == 0;
  group.completion_tokens += state.num_output_tokens;
  if (last) {
    seqs_of_request_.erase(state.request_id);
  } else if (auto s = seqs_of_request_.find(state.request_id); s != seqs_of_request_.end()) {
    std::erase(s->second, seq_id);
  }
  if ((reason == FinishReason::kError || reason == FinishReason::kCancelled) &&
      group.failure == FinishReason::kNone) {
    group.failure = reason;
    group.failure_status = status;
  }

  RequestOutput out;
  out.request_id = state.request_id;
  out.index = state.index;
  out.logprobs = std::move(logprobs);
  out.prompt_logprobs = std::move(state.pending_prompt_logprobs);
  out.token_ids = std::move(token_ids);
  out.text = std::move(text);
  out.finished = last;
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
  if (!last) {
    // Another completion of the request is still running: this one's final
    // output is a regular one.
    state.callback(std::move(out));
    return;
  }
  if (group.failure != FinishReason::kNone) {
    out.finish_reason = group.failure;
    out.status = group.failure_status;
  }
  out.completion_tokens = group.completion_tokens;  // every completion's tokens
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

std::vector<int64_t> OutputProcessor::FindSequences(const std::string& request_id) const {
  auto it = seqs_of_request_.find(request_id);
  if (it == seqs_of_request_.end()) return {};
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
