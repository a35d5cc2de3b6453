#ifndef LLMSERVE_ENGINE_ENGINE_OBSERVER_H_
#define LLMSERVE_ENGINE_ENGINE_OBSERVER_H_

#include <cstdint>

#include "engine/request.h"

namespace llmserve {

/// What one scheduler step did.
struct StepStats {
  int num_tokens = 0;         ///< tokens in the step's forward pass (prefill + decode)
  int num_seqs = 0;           ///< sequences in the batch
  int num_prefill_tokens = 0;
  int num_decode_tokens = 0;
  int num_partial_prefills = 0;  ///< prompts prefilled only in part this step (chunked prefill)
  int num_preemptions = 0;    ///< sequences preempted while scheduling this step
  double step_seconds = 0;    ///< wall time of the step (schedule + forward + sample)
  /// Wall time of the step's output processing (part of step_seconds): the
  /// output processor's detokenization, stop checks and finish decisions,
  /// and handing the outputs to the requests' callbacks.
  double output_seconds = 0;
};

/// A snapshot of the engine's load, for gauges and health.
struct EngineStats {
  int num_running = 0;            ///< sequences holding KV blocks
  int num_waiting = 0;            ///< admitted requests not yet (re)scheduled
  int num_kv_blocks_total = 0;
  int num_kv_blocks_used = 0;     ///< referenced by running sequences
  double kv_cache_usage = 0;      ///< used / total, 0..1
  int64_t num_preemptions = 0;    ///< since start
  int64_t prefix_cache_queries = 0;  ///< prompt tokens looked up in the prefix cache
  int64_t prefix_cache_hits = 0;     ///< of which found cached
  int64_t num_steps = 0;          ///< engine steps run since start
  /// Entries of the engine's per-request maps, at the last publish (the
  /// request ids: when GetStats is called). All 0 when the engine is idle;
  /// anything else is state a finished request left behind (scripts/soak.sh
  /// checks them through /metrics).
  int num_request_ids = 0;          ///< accepted request ids not yet delivered (LLMEngine)
  int num_scheduler_sequences = 0;  ///< Scheduler's sequences (running, waiting, preempted)
  int num_kv_sequences = 0;         ///< KVCacheManager's per-sequence block tables
  int num_runner_sequences = 0;     ///< ModelRunner's per-sequence sampler / block-table states
  int num_output_sequences = 0;     ///< OutputProcessor's per-sequence detokenizer / stop states
  int num_output_request_ids = 0;   ///< OutputProcessor's request id → sequences index
};

/// Hooks for metrics. Called on the engine thread; implementations must be
/// cheap and thread-safe with respect to their own readers.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  /// After every engine step that ran a forward pass.
  virtual void OnStep(const StepStats& step) {}
  /// When a request is scheduled for the first time (its queue time is known).
  virtual void OnRequestScheduled(double queue_seconds) {}
  /// For every token generated after the first; `seconds` since the previous token.
  virtual void OnInterTokenLatency(double seconds) {}
  /// When completion i > 0 of a request with SamplingParams::n > 1 generates
  /// its first token (no inter-token latency: it starts a completion). The
  /// request's own first token is in OnRequestFinished's final output.
  virtual void OnExtraCompletionFirstToken() {}
  /// When a request finishes, with its final output (finish reason, usage, timing).
  virtual void OnRequestFinished(const RequestOutput& final_output) {}
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_ENGINE_OBSERVER_H_
