#include "engine/model_runner.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmserve {

ModelRunner::ModelRunner(DecoderModel* model, KVCache* cache)
    : model_(model), cache_(cache), block_size_(cache->shape().block_size) {}

absl::Status ModelRunner::UpdateStates(const SchedulerOutput& output) {
  for (const int64_t id : output.finished_seq_ids) {
    states_.erase(id);
    pending_structured_.erase(id);
  }
  for (const ScheduledRequest& r : output.scheduled) {
    auto it = states_.find(r.seq_id);
    if (it == states_.end()) {
      if (!r.sampling.has_value()) {
        return absl::InternalError(absl::StrCat("model runner: sequence ", r.seq_id,
                                                " scheduled without its sampling params"));
      }
      it = states_
               .try_emplace(r.seq_id, *r.sampling, r.prompt_token_ids, model_->config().vocab_size,
                            model_->config().eos_token_ids)
               .first;
      if (auto c = pending_structured_.find(r.seq_id); c != pending_structured_.end()) {
        SequenceState& state = it->second;
        state.matcher = StructuredOutputMatcher::Create(std::move(c->second));
        pending_structured_.erase(c);
        if (state.matcher == nullptr) {
          return absl::InternalError(absl::StrCat("model runner: sequence ", r.seq_id,
                                                  ": no structured-output matcher"));
        }
        const int vocab = model_->config().vocab_size;
        state.bitmask.assign(static_cast<std::size_t>((vocab + 31) / 32), 0u);
        if (state.matcher->bitmask_words() > static_cast<int>(state.bitmask.size())) {
          return absl::InternalError(absl::StrCat(
              "model runner: the structured-output vocabulary is larger than the model's ", vocab));
        }
      }
    }
    std::vector<int32_t>& table = it->second.block_table;
    if (r.is_new) table.clear();
    table.insert(table.end(), r.block_ids.begin(), r.block_ids.end());
    if (int64_t{r.num_computed_tokens} + r.num_new_tokens() >
        static_cast<int64_t>(table.size()) * block_size_) {
      return absl::InternalError(absl::StrCat("model runner: sequence ", r.seq_id, " has ",
                                              table.size(), " blocks for ",
                                              r.num_computed_tokens + r.num_new_tokens(),
                                              " tokens"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelRunnerOutput> ModelRunner::Execute(const SchedulerOutput& output) {
  if (absl::Status s = UpdateStates(output); !s.ok()) return s;
  token_ids_.clear();
  positions_.clear();
  slot_mapping_.clear();
  query_start_loc_.assign(1, 0);
  context_lens_.clear();
  logits_indices_.clear();

  std::size_t max_blocks = 0;
  for (const ScheduledRequest& r : output.scheduled) {
    max_blocks = std::max(max_blocks, states_.at(r.seq_id).block_table.size());
  }
  block_tables_.assign(output.scheduled.size() * max_blocks, 0);

  for (std::size_t i = 0; i < output.scheduled.size(); ++i) {
    const ScheduledRequest& r = output.scheduled[i];
    const std::vector<int32_t>& table = states_.at(r.seq_id).block_table;
    const int start = r.num_computed_tokens;
    for (int k = 0; k < r.num_new_tokens(); ++k) {
      const int p = start + k;
      token_ids_.push_back(r.token_ids[k]);
      positions_.push_back(p);
      slot_mapping_.push_back(int64_t{table[p / block_size_]} * block_size_ + p % block_size_);
    }
    query_start_loc_.push_back(static_cast<int32_t>(token_ids_.size()));
    context_lens_.push_back(start + r.num_new_tokens());
    std::copy(table.begin(), table.end(), block_tables_.begin() + i * max_blocks);
    const int first_row = query_start_loc_[i];
    for (int k = 0; k < r.num_prompt_logprobs; ++k) {
      logits_indices_.push_back(first_row + r.prompt_logprobs_start - start + k);
    }
    if (r.samples) logits_indices_.push_back(static_cast<int32_t>(token_ids_.size()) - 1);
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
  const int vocab = model_->config().vocab_size;
  logits_.resize(logits_indices_.size() * static_cast<std::size_t>(vocab));
  absl::Status status;
  try {
    if (!injected_fault_.ok()) {
      status = std::exchange(injected_fault_, absl::OkStatus());
    } else {
      status = model_->Forward(in, *cache_, logits_.data());
    }
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("forward pass failed: ", e.what()));
  }
  if (!status.ok()) return status;

  ModelRunnerOutput result;
  result.sampled.reserve(logits_indices_.size());
  int row = 0;
  for (const ScheduledRequest& r : output.scheduled) {
    SequenceState& state = states_.at(r.seq_id);
    if (r.num_prompt_logprobs > 0) {
      PromptLogprobsChunk chunk;
      chunk.seq_id = r.seq_id;
      const int k = state.sampler.params().prompt_logprobs.value_or(0);
      for (int j = 0; j < r.num_prompt_logprobs; ++j) {
        const float* logits = logits_.data() + static_cast<int64_t>(row++) * vocab;
        const int next = r.prompt_logprobs_start + j + 1;  // the prompt token it scores
        const int32_t token = next < static_cast<int>(state.prompt.size()) ? state.prompt[next] : 0;
        chunk.logprobs.push_back(
            ComputeLogprobs(absl::MakeConstSpan(logits, vocab), token, k, logprobs_scratch_));
      }
      result.prompt_logprobs.push_back(std::move(chunk));
    }
    if (!r.samples) continue;
    float* logits = logits_.data() + static_cast<int64_t>(row++) * vocab;
    SampledToken sample;
    if (state.matcher != nullptr) {
      sample = SampleConstrained(state, absl::MakeSpan(logits, vocab));
    } else {
      SampleResult s = state.sampler.Sample(absl::MakeSpan(logits, vocab));
      sample.token_id = s.token_id;
      sample.logprobs = std::move(s.logprobs);
    }
    sample.seq_id = r.seq_id;
    result.sampled.push_back(std::move(sample));
  }
  return result;
}

SampledToken ModelRunner::SampleConstrained(SequenceState& state, absl::Span<float> logits) {
  SampledToken sample;
  StructuredOutputMatcher& matcher = *state.matcher;
  std::vector<uint32_t>& mask = state.bitmask;
  const std::size_t words = static_cast<std::size_t>(matcher.bitmask_words());
  // Words past the constraint's vocabulary (model rows without a tokenizer
  // token) stay 0: never allowed.
  matcher.FillNextTokenBitmask(absl::MakeSpan(mask.data(), words));
  bool any = false;
  for (std::size_t w = 0; w < words; ++w) any |= mask[w] != 0u;
  const std::vector<int32_t>& eos = model_->config().eos_token_ids;
  if (!any) {
    sample.structured_output_dead_end = true;
    sample.token_id = eos.empty() ? 0 : eos.front();
    return sample;
  }
  ApplyTokenBitmask(mask, logits);
  SampleResult s = state.sampler.Sample(logits, /*masked=*/true);
  sample.token_id = s.token_id;
  sample.logprobs = std::move(s.logprobs);
  // An EOS (allowed only where the output is complete) ends the sequence
  // (OutputProcessor: even with ignore_eos), so the matcher needs no EOS.
  if (std::find(eos.begin(), eos.end(), s.token_id) != eos.end()) return sample;
  if (!matcher.AcceptToken(s.token_id).ok()) {
    sample.structured_output_dead_end = true;  // not reached: the token was allowed
    return sample;
  }
  sample.completes_structured_output = matcher.IsTerminated();
  return sample;
}

}  // namespace llmserve
