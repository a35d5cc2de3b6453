#ifndef LLMSERVE_ENGINE_MODEL_RUNNER_H_
#define LLMSERVE_ENGINE_MODEL_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv_cache/kv_cache.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/models/decoder_model.h"
#include "engine/scheduler/scheduler.h"

namespace llmserve {

/// Turns a scheduler step into one batched forward pass (vLLM's model runner):
/// flattens the scheduled tokens of all sequences into token ids, positions
/// and KV slot mapping, builds the attention metadata (query offsets, context
/// lengths, block tables) and runs the model. Buffers are reused across steps.
class ModelRunner {
 public:
  ModelRunner(DecoderModel* model, KVCache* cache, const KVCacheManager* kv_manager);

  /// Runs the step. On success `logits()` holds one row [vocab] per scheduled
  /// sequence with `samples` set, in the order of `output.scheduled`.
  /// Errors: those of DecoderModel::Forward.
  absl::Status Execute(const SchedulerOutput& output);

  /// [num_sampling_seqs, vocab] next-token logits of the last Execute.
  const float* logits() const { return logits_.data(); }

 private:
  DecoderModel* model_;
  KVCache* cache_;
  const KVCacheManager* kv_manager_;
  std::vector<int32_t> token_ids_, positions_, query_start_loc_, context_lens_, block_tables_,
      logits_indices_;
  std::vector<int64_t> slot_mapping_;
  std::vector<float> logits_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_MODEL_RUNNER_H_
