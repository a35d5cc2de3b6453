#ifndef LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_H_
#define LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/scheduler/sequence.h"

namespace llmserve {

/// Limits of one scheduler step.
struct SchedulerConfig {
  int max_num_seqs = 64;              ///< sequences in one batch
  int max_num_batched_tokens = 512;   ///< tokens in one forward pass (token budget)
};

/// One sequence's share of a step.
struct ScheduledSequence {
  Sequence* seq = nullptr;
  int num_new_tokens = 0;   ///< tokens [num_computed, num_computed + num_new_tokens) run this step
  /// True when this step computes the sequence's last known token, so its
  /// logits give the next token.
  bool samples = false;
};

/// What to run in one step.
struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;  ///< decodes first, then prefill chunks
  int num_batched_tokens = 0;
  int num_prefill_tokens = 0;   ///< tokens of sequences with more than one token this step
  int num_decode_tokens = 0;
  int num_partial_prefills = 0; ///< prefill chunks that stop short of the prompt's end (chunked prefill)
  int num_preemptions = 0;      ///< sequences preempted to make room in this step
};

/// Iteration-level scheduler with continuous batching (Orca, Yu et al. OSDI'22;
/// vLLM) and chunked prefill (Sarathi, Agrawal et al. 2023).
///
/// Each step: every running sequence that needs a single token (a decode) is
/// scheduled first, then running sequences in the middle of a chunked prefill,
/// then waiting sequences in arrival order, while the token budget
/// (max_num_batched_tokens) and max_num_seqs allow; a prompt longer than the
/// remaining budget is prefilled in chunks over several steps. A waiting
/// sequence is admitted only if its blocks can be allocated (reusing
/// prefix-cached blocks). When a running decode needs a block and none is
/// free, the most recently admitted running sequence is preempted by
/// recomputation: its blocks are freed and it goes back to the front of the
/// waiting queue. No waiting sequence is admitted in a step that preempted.
///
/// Not thread-safe: owned by the engine thread.
class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KVCacheManager* kv_cache_manager);

  /// Queues a new sequence (status kWaiting) at the back of the waiting queue.
  void AddSequence(std::unique_ptr<Sequence> seq);

  /// Plans the next step (allocating KV slots for every scheduled token).
  SchedulerOutput Schedule();

  /// Records that the step ran: num_computed_tokens += num_new_tokens for each
  /// scheduled sequence. Call before appending sampled tokens.
  void OnStepComputed(const SchedulerOutput& output);

  /// Removes a sequence (finished, aborted or failed), releasing its blocks,
  /// and returns it; nullptr if unknown. `failed`: its last step did not
  /// complete, so its blocks are dropped from the prefix cache too.
  std::unique_ptr<Sequence> Remove(int64_t seq_id, bool failed = false);

  Sequence* Find(int64_t seq_id) const;
  bool HasWork() const { return !running_.empty() || !waiting_.empty(); }
  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int64_t total_preemptions() const { return total_preemptions_; }
  /// All sequences (running then waiting), e.g. to cancel everything.
  std::vector<int64_t> AllSequenceIds() const;

 private:
  void Preempt(Sequence* seq);

  SchedulerConfig config_;
  KVCacheManager* kv_;
  absl::flat_hash_map<int64_t, std::unique_ptr<Sequence>> sequences_;
  std::vector<Sequence*> running_;  ///< in admission order
  std::deque<Sequence*> waiting_;
  int64_t total_preemptions_ = 0;
  // The waiting head that failed admission, and the free blocks at that time.
  const Sequence* blocked_head_ = nullptr;
  int blocked_free_blocks_ = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_H_
