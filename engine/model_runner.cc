#include "engine/model_runner.h"

#include <algorithm>

namespace llmserve {

ModelRunner::ModelRunner(DecoderModel* model, KVCache* cache, const KVCacheManager* kv_manager)
    : model_(model), cache_(cache), kv_manager_(kv_manager) {}

absl::Status ModelRunner::Execute(const SchedulerOutput& output) {
  token_ids_.clear();
  positions_.clear();
  slot_mapping_.clear();
  query_start_loc_.assign(1, 0);
  context_lens_.clear();
  logits_indices_.clear();

  std::size_t max_blocks = 0;
  for (const ScheduledSequence& s : output.scheduled) {
    max_blocks = std::max(max_blocks, kv_manager_->BlockTable(s.seq->seq_id).size());
  }
  block_tables_.assign(output.scheduled.size() * max_blocks, 0);

  for (std::size_t i = 0; i < output.scheduled.size(); ++i) {
    const ScheduledSequence& s = output.scheduled[i];
    const Sequence& seq = *s.seq;
    const int start = seq.num_computed_tokens;
    for (int p = start; p < start + s.num_new_tokens; ++p) {
      token_ids_.push_back(seq.tokens[p]);
      positions_.push_back(p);
      slot_mapping_.push_back(kv_manager_->Slot(seq.seq_id, p));
    }
    query_start_loc_.push_back(static_cast<int32_t>(token_ids_.size()));
    context_lens_.push_back(start + s.num_new_tokens);
    const auto table = kv_manager_->BlockTable(seq.seq_id);
    std::copy(table.begin(), table.end(), block_tables_.begin() + i * max_blocks);
    if (s.samples) logits_indices_.push_back(static_cast<int32_t>(token_ids_.size()) - 1);
  }

  ForwardInput in;
  in.num_tokens = static_cast<int>(token_ids_.size());
  in.token_ids = token_ids_.data();
  in.positions = positions_.data();
  in.slot_mapping = slot_mapping_.data();
  in.attention.num_seqs = static_cast<int>(output.scheduled.size());
  in.attention.query_start_loc = query_start_loc_.data();
  in.attention.context_lens = context_lens_.data();
  in.attention.block_tables = block_tables_.data();
  in.attention.block_table_stride = static_cast<int>(max_blocks);
  in.num_logits = static_cast<int>(logits_indices_.size());
  in.logits_indices = logits_indices_.data();
  logits_.resize(logits_indices_.size() * static_cast<std::size_t>(model_->config().vocab_size));
  return model_->Forward(in, *cache_, logits_.data());
}

}  // namespace llmserve
