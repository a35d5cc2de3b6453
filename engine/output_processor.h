#ifndef LLMSERVE_ENGINE_OUTPUT_PROCESSOR_H_
#define LLMSERVE_ENGINE_OUTPUT_PROCESSOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine_observer.h"
#include "engine/request.h"
#include "engine/scheduler/scheduler_output.h"
#include "engine/stop_checker.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// Turns sampled tokens into the requests' outputs (vLLM's output processor):
/// per request an incremental detokenizer, the stop-string checker, the
/// finish decision (stop string, stop token id, EOS, a structured output
/// complete with nothing but EOS to follow (stop), length; stop strings and
/// stop ids only from min_tokens completion tokens on; a structured output's
/// EOS ends it even with ignore_eos; a constraint dead end is an error), usage counters and
/// timing, logprobs, and the observer events (scheduled, inter-token latency,
/// finished).
///
/// Streaming outputs go to the request's callback at once; final outputs are
/// collected and handed out by TakeFinished, so that the engine publishes its
/// stats first (a caller who sees a request finish also sees stats without it).
/// Every registered request gets exactly one final output.
///
/// Not thread-safe: used by the engine thread.
class OutputProcessor {
 public:
  /// Generation stops on any of `eos_token_ids` (unless ignore_eos).
  /// `tokenizer` (and `observer`, may be null) must outlive the processor.
  OutputProcessor(const Tokenizer& tokenizer, std::vector<int32_t> eos_token_ids,
                  EngineObserver* observer);

  /// Registers an admitted request: completion i (of SamplingParams::n) runs
  /// as sequence seq_ids[i]. With several completions every completion's
  /// outputs carry its index; a completion's last output has its finish
  /// reason, and only the request's last output has finished == true (with
  /// kError / kCancelled and its status if any completion failed).
  void AddRequest(const std::vector<int64_t>& seq_ids, const EngineRequest& request,
                  OutputCallback callback, absl::Time arrival);
  /// A request with a single completion, as sequence `seq_id`.
  void AddRequest(int64_t seq_id, const EngineRequest& request, OutputCallback callback,
                  absl::Time arrival) {
    AddRequest(std::vector<int64_t>{seq_id}, request, std::move(callback), arrival);
  }

  /// Prompt logprobs computed for a sequence (in position order); delivered
  /// with its next output.
  void AddPromptLogprobs(const PromptLogprobsChunk& chunk);

  /// Records the queue time of requests scheduled for the first time in `output`.
  void OnScheduled(const SchedulerOutput& output, absl::Time now);

  /// The finish verdict for one sampled token (see Scheduler::FinishVerdict):
  /// detokenizes it, applies stop strings, EOS and the length limit, and
  /// emits the request's streaming output, or its final output when it
  /// finishes (then returns true and forgets the request).
  bool ProcessToken(const SequenceUpdate& update, absl::Time now);

  /// Ends a request that produced no token this step (abort, failed step,
  /// shutdown) with `reason` (kCancelled or kError) and `status`.
  void Abort(int64_t seq_id, FinishReason reason, absl::Status status);

  /// Ends a request that was accepted but never registered (cancelled before
  /// the engine loop saw it).
  void FinishUnregistered(const EngineRequest& request, OutputCallback callback,
                          absl::Time arrival, absl::Status reason);

  /// The sequences of an in-flight request (one per unfinished completion).
  std::vector<int64_t> FindSequences(const std::string& request_id) const;
  /// The first of FindSequences, if any.
  std::optional<int64_t> FindSequence(const std::string& request_id) const {
    const std::vector<int64_t> ids = FindSequences(request_id);
    if (ids.empty()) return std::nullopt;
    return ids.front();
  }
  /// Every registered request's sequence id.
  std::vector<int64_t> AllSequences() const;
  /// Per-sequence states held (one per unfinished completion).
  int num_sequences() const { return static_cast<int>(requests_.size()); }
  /// Request ids indexed (requests with an unfinished completion).
  int num_request_ids() const { return static_cast<int>(seqs_of_request_.size()); }

  /// Removes and returns the final outputs produced since the last call, with
  /// their callbacks, in order.
  std::vector<std::pair<OutputCallback, RequestOutput>> TakeFinished();

 private:
  // What the completions of one request share.
  struct CompletionGroup {
    int num_unfinished = 0;
    int completion_tokens = 0;  // of the finished completions
    FinishReason failure = FinishReason::kNone;  // first kError / kCancelled
    absl::Status failure_status;
  };

  struct RequestState {
    RequestState(const Tokenizer& tokenizer, const EngineRequest& request, OutputCallback cb,
                 absl::Time arrival_time, int completion_index,
                 std::shared_ptr<CompletionGroup> completion_group);
    int index = 0;
    std::shared_ptr<CompletionGroup> group;
    absl::flat_hash_set<int32_t> stop_token_ids;
    int min_tokens = 0;
    std::vector<PositionLogprobs> pending_prompt_logprobs;
    std::string request_id;
    OutputCallback callback;
    IncrementalDetokenizer detokenizer;
    StopChecker stop;
    bool ignore_eos = false;
    int num_prompt_tokens = 0;
    int num_output_tokens = 0;
    int num_cached_prompt_tokens = 0;
    absl::Time arrival;
    std::optional<absl::Time> first_scheduled;
    absl::Time first_token;
    absl::Time last_token;
  };

  // Emits the final output of `seq_id` and forgets it.
  void Finish(int64_t seq_id, FinishReason reason, absl::Status status, std::string text,
              std::vector<int32_t> token_ids, absl::Time now,
              std::vector<PositionLogprobs> logprobs = {});

  const Tokenizer& tokenizer_;
  const absl::flat_hash_set<int32_t> eos_ids_;
  EngineObserver* const observer_;
  absl::flat_hash_map<int64_t, RequestState> requests_;
  absl::flat_hash_map<std::string, std::vector<int64_t>> seqs_of_request_;
  std::vector<std::pair<OutputCallback, RequestOutput>> finished_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_OUTPUT_PROCESSOR_H_
