#ifndef LLMSERVE_ENGINE_SCHEDULER_SEQUENCE_H_
#define LLMSERVE_ENGINE_SCHEDULER_SEQUENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// Where a sequence is in its life cycle.
enum class SequenceStatus {
  kWaiting,   ///< queued for (re)admission; holds no KV blocks
  kRunning,   ///< admitted; holds KV blocks for its computed tokens
  kFinished,  ///< done; blocks released
};

/// The token state of one request as the scheduler sees it. A sequence's
/// tokens are its prompt followed by its generated tokens; the first
/// `num_computed_tokens` of them have their K/V in the cache. After a
/// preemption num_computed_tokens drops to 0 and the sequence is recomputed
/// (prompt + generated tokens) when readmitted.
struct Sequence {
  int64_t seq_id = 0;
  std::string request_id;
  std::vector<int32_t> tokens;  ///< prompt then generated tokens
  int num_prompt_tokens = 0;
  int num_computed_tokens = 0;
  /// Total length it may reach: prompt + max_tokens (≤ the context).
  int max_num_tokens = 0;
  SequenceStatus status = SequenceStatus::kWaiting;
  SamplingParams sampling;

  /// Prompt tokens found in the prefix cache at first admission.
  int num_cached_prompt_tokens = 0;
  int num_preemptions = 0;
  bool scheduled_before = false;  ///< admitted at least once
  /// Scheduling priority (lower runs first; ties by seq_id, i.e. arrival).
  int priority = 0;
  /// Position in the running list's order among equal priorities: set at each
  /// admission (a readmitted sequence counts as the newest).
  int64_t admission_order = 0;
  /// For completions 1..n-1 of a request with SamplingParams::n > 1: the
  /// sequence of completion 0, whose computed full prompt blocks this one
  /// shares (KVCacheManager::ShareBlocks) at its first admission; -1 otherwise.
  int64_t parent_seq_id = -1;
  /// Prompt positions whose logprobs were already computed (prompt logprobs
  /// cover positions 0 .. num_prompt_tokens - 2).
  int num_prompt_logprobs_done = 0;

  /// True while prompt logprobs are still to be computed.
  bool needs_prompt_logprobs() const {
    return sampling.prompt_logprobs.has_value() &&
           num_prompt_logprobs_done < num_prompt_tokens - 1;
  }

  int num_tokens() const { return static_cast<int>(tokens.size()); }
  int num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  /// Tokens known but not yet in the KV cache.
  int num_uncomputed_tokens() const { return num_tokens() - num_computed_tokens; }
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SCHEDULER_SEQUENCE_H_
