#include "engine/scheduler/scheduler.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"

namespace llmserve {

Scheduler::Scheduler(const SchedulerConfig& config, KVCacheManager* kv_cache_manager)
    : config_(config), kv_(kv_cache_manager) {}

namespace {

// Waiting order: priority, then arrival (seq ids grow with arrival).
bool WaitsBefore(const Sequence* a, const Sequence* b) {
  return a->priority != b->priority ? a->priority < b->priority : a->seq_id < b->seq_id;
}

// Running order: priority, then admission; the last is the first preemption victim.
bool RunsBefore(const Sequence* a, const Sequence* b) {
  return a->priority != b->priority ? a->priority < b->priority
                                    : a->admission_order < b->admission_order;
}

}  // namespace

void Scheduler::AddSequence(std::unique_ptr<Sequence> seq) {
  seq->status = SequenceStatus::kWaiting;
  Sequence* raw = seq.get();
  sequences_[raw->seq_id] = std::move(seq);
  Enqueue(raw);
}

void Scheduler::Enqueue(Sequence* seq) {
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), seq, WaitsBefore), seq);
}

Sequence* Scheduler::Find(int64_t seq_id) const {
  auto it = sequences_.find(seq_id);
  return it == sequences_.end() ? nullptr : it->second.get();
}

std::vector<int64_t> Scheduler::AllSequenceIds() const {
  std::vector<int64_t> ids;
  for (Sequence* s : running_) ids.push_back(s->seq_id);
  for (Sequence* s : waiting_) ids.push_back(s->seq_id);
  return ids;
}

void Scheduler::Preempt(Sequence* seq) {
  kv_->Free(seq->seq_id);
  seq->num_computed_tokens = 0;
  seq->status = SequenceStatus::kWaiting;
  ++seq->num_preemptions;
  ++total_preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  // Ahead of every later arrival of its priority (FCFS: the front of the queue).
  Enqueue(seq);
}

void Scheduler::Add(Sequence* seq, int n, std::size_t first_block, bool is_new,
                    SchedulerOutput& out) {
  ScheduledRequest r;
  r.seq_id = seq->seq_id;
  r.is_new = is_new;
  r.resumed_from_preemption = is_new && seq->scheduled_before;
  if (is_new && !seq->scheduled_before) {
    r.sampling = seq->sampling;
    r.prompt_token_ids.assign(seq->tokens.begin(), seq->tokens.begin() + seq->num_prompt_tokens);
  }
  if (seq->needs_prompt_logprobs()) {
    // Positions 0 .. P-2 score prompt tokens 1 .. P-1 (P-1's logits sample).
    const int begin = std::max(seq->num_computed_tokens, seq->num_prompt_logprobs_done);
    const int end = std::min(seq->num_computed_tokens + n, seq->num_prompt_tokens - 1);
    if (end > begin) {
      r.prompt_logprobs_start = begin;
      r.num_prompt_logprobs = end - begin;
    }
  }
  r.num_computed_tokens = seq->num_computed_tokens;
  r.token_ids.assign(seq->tokens.begin() + seq->num_computed_tokens,
                     seq->tokens.begin() + seq->num_computed_tokens + n);
  const absl::Span<const int32_t> table = kv_->BlockTable(seq->seq_id);
  r.block_ids.assign(table.begin() + std::min(first_block, table.size()), table.end());
  r.samples = seq->num_computed_tokens + n == seq->num_tokens();
  out.scheduled.push_back(std::move(r));
  out.num_batched_tokens += n;
  (n > 1 ? out.num_prefill_tokens : out.num_decode_tokens) += n;
  if (seq->num_computed_tokens + n < seq->num_prompt_tokens) ++out.num_partial_prefills;
}

SchedulerOutput Scheduler::Schedule() {
  SchedulerOutput out;
  int budget = config_.max_num_batched_tokens;
  absl::flat_hash_set<Sequence*> scheduled;

  auto add = [&](Sequence* seq, int n, std::size_t first_block, bool is_new) {
    Add(seq, n, first_block, is_new, out);
    budget -= n;
    scheduled.insert(seq);
  };

  // 1. Running decodes (one new token each), oldest first. When a block is
  // missing, preempt the most recently admitted sequence not yet scheduled in
  // this step (possibly the one asking).
  for (std::size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i];
    if (seq->num_uncomputed_tokens() != 1) {
      ++i;
      continue;
    }
    bool preempted_self = false;
    const std::size_t held = kv_->BlockTable(seq->seq_id).size();
    while (!kv_->AllocateSlots(seq->seq_id, seq->tokens, seq->num_computed_tokens, 1)) {
      Sequence* victim = nullptr;
      for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
        if (!scheduled.contains(*it)) {
          victim = *it;
          break;
        }
      }
      Preempt(victim);  // victim is never null: `seq` itself is not scheduled yet
      ++out.num_preemptions;
      if (victim == seq) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) continue;  // running_[i] is now the next sequence
    add(seq, 1, held, /*is_new=*/false);
    ++i;
  }

  // 2. Running sequences in the middle of a chunked prefill. These do not
  // preempt others: if no block is free they wait for the next step...
  auto schedule_partial_prefills = [&] {
    for (Sequence* seq : running_) {
      if (budget <= 0) break;
      if (scheduled.contains(seq) || seq->num_uncomputed_tokens() <= 1) continue;
      const int n = std::min(seq->num_uncomputed_tokens(), budget);
      const std::size_t held = kv_->BlockTable(seq->seq_id).size();
      if (kv_->AllocateSlots(seq->seq_id, seq->tokens, seq->num_computed_tokens, n)) {
        add(seq, n, held, /*is_new=*/false);
      }
    }
  };
  schedule_partial_prefills();
  // ...unless every running sequence is such a prefill and none got a block:
  // then no step would ever run and free one. Preempt the last in running
  // order (lowest priority, most recently admitted) until another proceeds.
  while (out.scheduled.empty() && running_.size() > 1) {
    Preempt(running_.back());
    ++out.num_preemptions;
    schedule_partial_prefills();
  }

  // 3. Waiting sequences by priority, then arrival (preempted ones ahead of
  // later arrivals of their priority).
  if (out.num_preemptions == 0) {
    for (std::size_t w = 0; w < waiting_.size() && budget > 0 &&
                            static_cast<int>(running_.size()) < config_.max_num_seqs;) {
      Sequence* seq = waiting_[w];
      // Completions 1..n-1 share completion 0's full prompt blocks: they wait
      // (without blocking others) until those are computed.
      const Sequence* parent = nullptr;
      int shared_blocks = 0;
      if (seq->parent_seq_id >= 0 && !seq->scheduled_before) {
        parent = Find(seq->parent_seq_id);
        shared_blocks = (seq->num_prompt_tokens - 1) / kv_->block_size();
        if (parent != nullptr && shared_blocks > 0 &&
            (parent->status != SequenceStatus::kRunning ||
             parent->num_computed_tokens < shared_blocks * kv_->block_size())) {
          ++w;
          continue;
        }
        if (parent == nullptr) shared_blocks = 0;  // gone: computes its prompt itself
      }
      // A head that could not be admitted stays blocked until blocks are
      // freed: skip the lookup (it would hash the prompt again and count the
      // same prefix-cache query twice).
      if (seq == blocked_head_ && kv_->num_free_blocks() <= blocked_free_blocks_) break;
      int num_computed = 0;
      int n = 0;
      bool admitted = false;
      if (shared_blocks > 0) {
        kv_->ShareBlocks(seq->seq_id, parent->seq_id, shared_blocks);
        num_computed = shared_blocks * kv_->block_size();
        n = std::min(seq->num_tokens() - num_computed, budget);
        admitted = kv_->AllocateSlots(seq->seq_id, seq->tokens, num_computed, n);
        if (!admitted) kv_->Free(seq->seq_id);
      } else {
        // Prompt logprobs need every prompt position computed: no prefix reuse.
        const ComputedBlocks computed =
            seq->needs_prompt_logprobs() ? ComputedBlocks{} : kv_->PeekComputedBlocks(seq->tokens);
        num_computed = computed.num_tokens;
        n = std::min(seq->num_tokens() - num_computed, budget);
        admitted = kv_->AllocateSlots(seq->seq_id, seq->tokens, num_computed, n, computed);
        if (admitted && !seq->scheduled_before) {
          // Counted once per request, at its first admission.
          kv_->RecordPrefixCacheLookup(seq->num_tokens(), num_computed);
        }
      }
      if (!admitted) {
        blocked_head_ = seq;
        blocked_free_blocks_ = kv_->num_free_blocks();
        break;  // first come, first served: later arrivals wait behind it
      }
      blocked_head_ = nullptr;
      waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(w));
      seq->num_computed_tokens = num_computed;
      if (!seq->scheduled_before) seq->num_cached_prompt_tokens = num_computed;
      seq->status = SequenceStatus::kRunning;
      seq->admission_order = next_admission_order_++;
      running_.insert(std::upper_bound(running_.begin(), running_.end(), seq, RunsBefore), seq);
      add(seq, n, 0, /*is_new=*/true);
      seq->scheduled_before = true;
    }
  }
  // Reported with the next step that runs (an empty output never reaches the
  // runner), so the runner always learns which sequences to forget.
  if (!out.scheduled.empty()) {
    out.finished_seq_ids = std::move(removed_since_schedule_);
    removed_since_schedule_.clear();
  }
  return out;
}

void Scheduler::UpdateFromOutput(const SchedulerOutput& output,
                                 const ModelRunnerOutput& runner_output, FinishVerdict verdict) {
  for (const ScheduledRequest& r : output.scheduled) {
    Sequence* seq = Find(r.seq_id);
    if (seq == nullptr) continue;
    seq->num_computed_tokens += r.num_new_tokens();
    if (r.num_prompt_logprobs > 0) {
      seq->num_prompt_logprobs_done = std::max(seq->num_prompt_logprobs_done,
                                               r.prompt_logprobs_start + r.num_prompt_logprobs);
    }
  }
  for (const SampledToken& sample : runner_output.sampled) {
    Sequence* seq = Find(sample.seq_id);
    if (seq == nullptr) continue;
    seq->tokens.push_back(sample.token_id);
    SequenceUpdate update;
    update.seq_id = seq->seq_id;
    update.sample = &sample;
    update.num_prompt_tokens = seq->num_prompt_tokens;
    update.num_output_tokens = seq->num_output_tokens();
    update.num_cached_prompt_tokens = seq->num_cached_prompt_tokens;
    update.reached_max_tokens = seq->num_tokens() >= seq->max_num_tokens;
    if (verdict(update)) Remove(seq->seq_id);
  }
}

std::vector<int64_t> Scheduler::FailStep(const SchedulerOutput& output) {
  std::vector<int64_t> ids;
  for (const ScheduledRequest& r : output.scheduled) {
    if (Remove(r.seq_id, /*failed=*/true) != nullptr) ids.push_back(r.seq_id);
  }
  return ids;
}

std::unique_ptr<Sequence> Scheduler::Remove(int64_t seq_id, bool failed) {
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) return nullptr;
  std::unique_ptr<Sequence> seq = std::move(it->second);
  sequences_.erase(it);
  kv_->Free(seq_id, /*keep_cached=*/!failed);
  if (auto r = std::find(running_.begin(), running_.end(), seq.get()); r != running_.end()) {
    running_.erase(r);
  }
  if (auto w = std::find(waiting_.begin(), waiting_.end(), seq.get()); w != waiting_.end()) {
    waiting_.erase(w);
  }
  seq->status = SequenceStatus::kFinished;
  removed_since_schedule_.push_back(seq_id);
  if (blocked_head_ == seq.get()) blocked_head_ = nullptr;
  return seq;
}

}  // namespace llmserve
