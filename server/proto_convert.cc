#include "server/proto_convert.h"

#include <string>

namespace llmserve::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

v1::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case FinishReason::kEos:
      return v1::FINISH_REASON_EOS;
    case FinishReason::kCancelled:
      return v1::FINISH_REASON_CANCELLED;
    case FinishReason::kError:
      return v1::FINISH_REASON_ERROR;
    case FinishReason::kNone:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

void FillUsage(const RequestOutput& final_output, v1::Usage* usage) {
  usage->set_prompt_tokens(final_output.prompt_tokens);
  usage->set_completion_tokens(final_output.completion_tokens);
  usage->set_cached_prompt_tokens(final_output.cached_prompt_tokens);
}

void FillTiming(const RequestTiming& timing, v1::Timing* out) {
  out->set_queue_seconds(timing.queue_seconds);
  out->set_time_to_first_token_seconds(timing.time_to_first_token_seconds);
  out->set_prefill_seconds(timing.prefill_seconds);
  out->set_decode_seconds(timing.decode_seconds);
  out->set_total_seconds(timing.total_seconds);
}

void FillModelInfo(const LLMEngine& engine, v1::ModelInfo* info) {
  const ModelConfig& model = engine.model_config();
  const EngineOptions& options = engine.options();
  const Tokenizer& tokenizer = engine.tokenizer();
  const EngineStats stats = engine.GetStats();
  info->set_model_name(model.name);
  info->set_model_path(options.model_path);
  info->set_architecture(model.architecture);
  info->set_vocab_size(model.vocab_size);
  info->set_max_context(options.max_context);
  info->set_model_max_context(model.max_context);
  info->set_hidden_size(model.hidden_size);
  info->set_num_layers(model.num_layers);
  info->set_num_heads(model.num_heads);
  info->set_num_kv_heads(model.num_kv_heads);
  info->set_head_dim(model.head_dim);
  info->set_dtype(options.dtype);
  info->set_block_size(options.block_size);
  info->set_kv_cache_blocks(stats.num_kv_blocks_total);
  info->set_kv_cache_tokens(static_cast<uint64_t>(stats.num_kv_blocks_total) *
                            static_cast<uint64_t>(options.block_size));
  info->set_num_threads(options.num_threads);
  info->set_max_num_seqs(options.max_num_seqs);
  info->set_max_num_batched_tokens(options.max_num_batched_tokens);
  info->set_bos_token_id(tokenizer.bos_id());
  info->set_eos_token_id(tokenizer.eos_id());
  for (int32_t id : engine.eos_token_ids()) info->add_eos_token_ids(id);
  info->set_chat_template(model.chat_template);
  for (const std::string& k : engine.kernel_names()) info->add_kernels(k);
}

}  // namespace llmserve::server
