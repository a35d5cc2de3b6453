#ifndef LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_OUTPUT_H_
#define LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_OUTPUT_H_

// The contracts between the scheduler and the model runner (after vLLM v1's
// SchedulerOutput / ModelRunnerOutput): the scheduler says what to compute,
// the runner says what it sampled, and Scheduler::UpdateFromOutput takes it
// back. Data flows one way: the runner never sees a Sequence or the
// KVCacheManager, only these plain values.

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// One request's share of a scheduler step.
struct ScheduledRequest {
  int64_t seq_id = 0;
  /// True when the runner holds no block table for the sequence: its first
  /// scheduling, or its readmission after a preemption. `block_ids` is then
  /// the whole block table; otherwise the blocks appended to it this step.
  bool is_new = false;
  /// Readmitted after a preemption (is_new is then true too).
  bool resumed_from_preemption = false;
  /// Set only at the request's first scheduling: how it samples. The runner
  /// keeps it (and the request's RNG) until the sequence is finished.
  std::optional<SamplingParams> sampling;
  /// Set with `sampling` (first scheduling only): the prompt, which the
  /// runner's sampler needs (repetition penalty, prompt logprobs) even when
  /// part of it is served from the prefix cache or shared with a parent.
  std::vector<int32_t> prompt_token_ids;
  /// Position of token_ids[0] in the sequence (= tokens already in the KV cache).
  int num_computed_tokens = 0;
  /// [num_new_tokens] the tokens computed this step, at positions
  /// num_computed_tokens, num_computed_tokens + 1, ...
  std::vector<int32_t> token_ids;
  /// Physical KV-cache block ids (see is_new).
  std::vector<int32_t> block_ids;
  /// True when this step computes the sequence's last known token, so its
  /// logits give the next token.
  bool samples = false;
  /// Prompt logprobs to compute this step (SamplingParams::prompt_logprobs):
  /// the logits at positions [prompt_logprobs_start, prompt_logprobs_start +
  /// num_prompt_logprobs), inside this step's span, each scoring the prompt
  /// token that follows it. 0 when none.
  int prompt_logprobs_start = 0;
  int num_prompt_logprobs = 0;

  int num_new_tokens() const { return static_cast<int>(token_ids.size()); }
};

/// What to run in one step: the only input of the model runner.
struct SchedulerOutput {
  std::vector<ScheduledRequest> scheduled;  ///< decodes first, then prefill chunks
  /// Sequences removed (finished, aborted, failed) since the previous step:
  /// the runner drops its state for them. (Preempted sequences are not
  /// listed; they come back with is_new.)
  std::vector<int64_t> finished_seq_ids;
  int num_batched_tokens = 0;
  int num_prefill_tokens = 0;   ///< tokens of sequences with more than one token this step
  int num_decode_tokens = 0;
  int num_partial_prefills = 0; ///< prefill chunks that stop short of the prompt's end (chunked prefill)
  int num_preemptions = 0;      ///< sequences preempted to make room in this step
};

/// The token the runner sampled for one sequence. (Room for per-token
/// extras, e.g. logprobs, travels with it.)
struct SampledToken {
  int64_t seq_id = 0;
  int32_t token_id = 0;
  /// When the request asked for logprobs: those of token_id and the top
  /// alternatives, from the raw logits.
  std::optional<PositionLogprobs> logprobs;
  /// Structured output (SamplingParams::structured_output): with this token
  /// the output is complete and nothing but EOS could follow, so the
  /// sequence finishes now (finish reason stop) without generating the EOS.
  bool completes_structured_output = false;
  /// Structured output: the constraint allowed no token at all (a dead end of
  /// the automaton, not reachable with a vocabulary that covers every byte);
  /// `token_id` is meaningless and the sequence finishes with an error.
  bool structured_output_dead_end = false;
};

/// Prompt logprobs one sequence got in a step (ScheduledRequest::num_prompt_logprobs).
struct PromptLogprobsChunk {
  int64_t seq_id = 0;
  std::vector<PositionLogprobs> logprobs;  ///< in position order
};

/// What a step produced: one SampledToken per ScheduledRequest with
/// `samples` set, in the order of SchedulerOutput::scheduled.
struct ModelRunnerOutput {
  std::vector<SampledToken> sampled;
  /// One chunk per ScheduledRequest with num_prompt_logprobs > 0, in order.
  std::vector<PromptLogprobsChunk> prompt_logprobs;
};

/// One sequence's new token as Scheduler::UpdateFromOutput reports it to the
/// caller's finish verdict (after the token was appended).
struct SequenceUpdate {
  int64_t seq_id = 0;
  const SampledToken* sample = nullptr;
  int num_prompt_tokens = 0;
  int num_output_tokens = 0;         ///< including this token
  int num_cached_prompt_tokens = 0;  ///< prompt tokens served by the prefix cache
  /// The sequence reached prompt + max_tokens: it must finish (length).
  bool reached_max_tokens = false;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_OUTPUT_H_
