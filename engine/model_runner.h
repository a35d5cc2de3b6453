#ifndef LLMSERVE_ENGINE_MODEL_RUNNER_H_
#define LLMSERVE_ENGINE_MODEL_RUNNER_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv_cache/kv_cache.h"
#include "engine/models/decoder_model.h"
#include "engine/sampling/sequence_sampler.h"
#include "engine/sampling/sampling_params.h"
#include "engine/scheduler/scheduler_output.h"
#include "engine/structured/structured_output.h"

namespace llmserve {

/// Turns a SchedulerOutput into one batched forward pass and samples the next
/// tokens (vLLM's model runner). It keeps, per sequence, its own copy of the
/// block table (updated from the output's block ids: replaced for new or
/// resumed sequences, appended to for running ones), the sampling params and
/// the request's RNG (which survive preemption), until the sequence is listed
/// in SchedulerOutput::finished_seq_ids. It flattens the step into token ids,
/// positions and KV slot mapping ([num_tokens] each), builds the attention
/// metadata (query offsets, context lengths, block tables [num_seqs,
/// max_blocks]) and runs the model. Buffers are reused across steps.
/// Not thread-safe: used by the engine thread.
class ModelRunner {
 public:
  /// `model` and `cache` must outlive the runner.
  ModelRunner(DecoderModel* model, KVCache* cache);

  /// Constrains sequence `seq_id` (before its first scheduling) by
  /// `compiled`: the runner gives it its own StructuredOutputMatcher when it
  /// first sees it. Forgotten when the id is listed as finished.
  void SetStructuredOutput(int64_t seq_id, std::shared_ptr<const CompiledStructuredOutput> compiled) {
    pending_structured_[seq_id] = std::move(compiled);
  }

  /// Runs the step and samples one token per scheduled request with
  /// `samples` set, in order (for a constrained sequence first its matcher's
  /// token bitmask applied to the row, logits at -inf where the constraint
  /// forbids the token; then SequenceSampler: logprobs of that row, logits
  /// processors, sampling; then the token is accepted by the matcher and
  /// SampledToken::completes_structured_output set when nothing but EOS
  /// could follow). The matcher, like the RNG, lives as long as the
  /// sequence's state, so a sequence resumed after preemption continues with
  /// the matcher state of its generated tokens. Also computes the prompt logprobs the
  /// output asks for (ScheduledRequest::num_prompt_logprobs). Errors: those of DecoderModel::Forward
  /// (exceptions from the model are turned into INTERNAL); INTERNAL when
  /// the output refers to a sequence whose state the runner never received.
  absl::StatusOr<ModelRunnerOutput> Execute(const SchedulerOutput& output);

  /// [num_logits_rows, vocab] logits of the last Execute (per request in
  /// order: its prompt-logprob rows, then its sampling row), processed in
  /// place by the samplers.
  const float* logits() const { return logits_.data(); }
  /// Sequences the runner holds state for.
  int num_sequences() const { return static_cast<int>(states_.size()); }
  /// Drops every sequence's state. For an idle engine (the scheduler holds no
  /// sequence): the states of the last finished or cancelled sequences would
  /// otherwise wait for the next step's finished_seq_ids (where their ids are
  /// then ignored).
  void ReleaseAll() {
    states_.clear();
    pending_structured_.clear();
  }

  /// Fault injection for tests: the next Execute fails with `error` where the
  /// forward pass would run (after the step's sequence state was applied, so
  /// the runner stays consistent with the scheduler), as a failing model would.
  void FailNextForwardForTesting(absl::Status error) { injected_fault_ = std::move(error); }

 private:
  struct SequenceState {
    SequenceState(const SamplingParams& params, std::vector<int32_t> prompt_ids,
                  int32_t vocab_size, absl::Span<const int32_t> eos_ids)
        : prompt(std::move(prompt_ids)), sampler(params, prompt, vocab_size, eos_ids) {}
    std::vector<int32_t> prompt;  ///< for prompt logprobs (the token each position scores)
    SequenceSampler sampler;      ///< RNG and logits-processor state
    std::vector<int32_t> block_table;
    /// Structured output: the sequence's matcher (null when unconstrained)
    /// and its bitmask buffer [ceil(vocab_size / 32)].
    std::unique_ptr<StructuredOutputMatcher> matcher;
    std::vector<uint32_t> bitmask;
  };

  // Masks the row by the matcher, samples, advances the matcher.
  SampledToken SampleConstrained(SequenceState& state, absl::Span<float> logits);

  // Applies finished ids and block ids; error if a sequence is unknown.
  absl::Status UpdateStates(const SchedulerOutput& output);

  DecoderModel* model_;
  KVCache* cache_;
  const int block_size_;
  absl::flat_hash_map<int64_t, SequenceState> states_;
  /// SetStructuredOutput's constraints of sequences not yet scheduled.
  absl::flat_hash_map<int64_t, std::shared_ptr<const CompiledStructuredOutput>> pending_structured_;
  std::vector<int32_t> token_ids_, positions_, query_start_loc_, context_lens_, block_tables_,
      logits_indices_;
  std::vector<int64_t> slot_mapping_;
  std::vector<float> logits_;
  std::vector<int32_t> logprobs_scratch_;
  absl::Status injected_fault_;  ///< FailNextForwardForTesting; OK = none
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_MODEL_RUNNER_H_
