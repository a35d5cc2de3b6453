#ifndef LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_H_
#define LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/scheduler/scheduler_output.h"
#include "engine/scheduler/sequence.h"

namespace llmserve {

/// Limits of one scheduler step.
struct SchedulerConfig {
  int max_num_seqs = 64;              ///< sequences in one batch
  int max_num_batched_tokens = 512;   ///< tokens in one forward pass (token budget)
};

/// Iteration-level scheduler with continuous batching (Orca, Yu et al. OSDI'22;
/// vLLM) and chunked prefill (Sarathi, Agrawal et al. 2023).
///
/// Each step: every running sequence that needs a single token (a decode) is
/// scheduled first, then running sequences in the middle of a chunked prefill,
/// then waiting sequences by priority (Sequence::priority, lower first) and
/// arrival, while the token budget (max_num_batched_tokens) and max_num_seqs
/// allow; a prompt longer than the remaining budget is prefilled in chunks
/// over several steps. A waiting sequence is admitted only if its blocks can
/// be allocated (reusing prefix-cached blocks); if it cannot, nothing behind
/// it is admitted. Running sequences are kept by (priority, admission order):
/// decodes get blocks in that order, and when a running decode needs a block
/// and none is free, the last of them not yet scheduled in this step — the
/// lowest priority, most recently admitted — is preempted by recomputation:
/// its blocks are freed and it goes back to the waiting queue ahead of later
/// arrivals of its priority. No waiting sequence is admitted in a step that
/// preempted.
///
/// Priorities are strict, without aging (as vLLM's priority policy): while
/// lower-value requests keep arriving, higher-value ones wait — starvation is
/// the caller's choice of priorities.
///
/// Completions 1..n-1 of a request (Sequence::parent_seq_id) wait, without
/// blocking others, until completion 0 has computed the prompt's full blocks,
/// then share them by reference (KVCacheManager::ShareBlocks) and compute
/// only the rest of the prompt (at least its last token, whose logits they
/// sample). Sequences that need prompt logprobs are not served from the prefix cache.
///
/// The step's plan goes to the model runner as a SchedulerOutput (token
/// spans and block ids, no pointers); the runner's sampled tokens come back
/// through UpdateFromOutput, which advances the sequences and frees the
/// finished ones. Callers follow no ordering rule beyond Schedule → run →
/// UpdateFromOutput (or FailStep).
///
/// Not thread-safe: owned by the engine thread.
class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KVCacheManager* kv_cache_manager);

  /// Queues a new sequence (status kWaiting) at the back of the waiting queue.
  void AddSequence(std::unique_ptr<Sequence> seq);

  /// Plans the next step (allocating KV slots for every scheduled token).
  SchedulerOutput Schedule();

  /// Decides whether a sequence finishes with the token just appended
  /// (EOS, stop string, length); true: it is removed and its blocks freed.
  using FinishVerdict = absl::FunctionRef<bool(const SequenceUpdate&)>;

  /// Takes back a step that ran: every scheduled sequence's computed tokens
  /// advance by its span, each sampled token is appended to its sequence, and
  /// `verdict` is asked (once per sampled token, in order) whether the
  /// sequence finishes; finished sequences are removed (blocks released,
  /// reported in the next SchedulerOutput::finished_seq_ids).
  /// `output` must be the result of the latest Schedule().
  void UpdateFromOutput(const SchedulerOutput& output, const ModelRunnerOutput& runner_output,
                        FinishVerdict verdict);

  /// Takes back a step whose forward pass failed: removes every scheduled
  /// sequence, dropping its blocks from the prefix cache too (their K/V may
  /// be incomplete). Returns their ids, in order.
  std::vector<int64_t> FailStep(const SchedulerOutput& output);

  /// Removes a sequence (finished, aborted or failed), releasing its blocks,
  /// and returns it; nullptr if unknown. `failed`: its last step did not
  /// complete, so its blocks are dropped from the prefix cache too.
  std::unique_ptr<Sequence> Remove(int64_t seq_id, bool failed = false);

  Sequence* Find(int64_t seq_id) const;
  bool HasWork() const { return !running_.empty() || !waiting_.empty(); }
  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int64_t total_preemptions() const { return total_preemptions_; }
  /// Sequences the scheduler holds (running, waiting or preempted).
  int num_sequences() const { return static_cast<int>(sequences_.size()); }
  /// All sequences (running then waiting), e.g. to cancel everything.
  std::vector<int64_t> AllSequenceIds() const;

 private:
  void Preempt(Sequence* seq);
  // Inserts into waiting_ by (priority, seq_id).
  void Enqueue(Sequence* seq);
  // Appends `seq`'s next `n` tokens to `out`, with the blocks of its table
  // from index `first_block` on.
  void Add(Sequence* seq, int n, std::size_t first_block, bool is_new, SchedulerOutput& out);

  SchedulerConfig config_;
  KVCacheManager* kv_;
  absl::flat_hash_map<int64_t, std::unique_ptr<Sequence>> sequences_;
  std::vector<Sequence*> running_;  ///< by (priority, admission order)
  std::deque<Sequence*> waiting_;   ///< by (priority, seq_id = arrival)
  int64_t next_admission_order_ = 0;
  std::vector<int64_t> removed_since_schedule_;  ///< for SchedulerOutput::finished_seq_ids
  int64_t total_preemptions_ = 0;
  // The waiting head that failed admission, and the free blocks at that time.
  const Sequence* blocked_head_ = nullptr;
  int blocked_free_blocks_ = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SCHEDULER_SCHEDULER_H_
