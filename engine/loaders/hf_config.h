#ifndef LLMSERVE_ENGINE_LOADERS_HF_CONFIG_H_
#define LLMSERVE_ENGINE_LOADERS_HF_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/models/model_config.h"

namespace llmserve {

/// Tensor-naming family of a Hugging Face checkpoint.
enum class HfFamily {
  kLlama,  ///< transformers' LlamaForCausalLM (also MistralForCausalLM: same names)
  kGpt2,   ///< transformers' GPT2LMHeadModel
};

/// A Hugging Face `config.json` (plus `generation_config.json`) translated to
/// llmserve's ModelConfig.
struct HfConfig {
  HfFamily family = HfFamily::kLlama;
  /// "llama", "mistral" or "gpt2" (from model_type, else from architectures[0]).
  std::string model_type;
  /// Complete and validated; `name` is the model directory's base name.
  ModelConfig config;
};

/// Translates the text of `config.json` and of `generation_config.json`
/// (`generation_config_json` empty: no such file) of the model in `model_dir`
/// (used for the model name and in messages only).
///
/// The family comes from `model_type` ("llama", "mistral", "gpt2"), or if that
/// is absent from `architectures[0]` (LlamaForCausalLM, MistralForCausalLM,
/// GPT2LMHeadModel). Fields and defaults follow transformers' LlamaConfig /
/// MistralConfig / GPT2Config:
///  - llama/mistral: required hidden_size, intermediate_size, num_hidden_layers,
///    num_attention_heads, vocab_size, max_position_embeddings; optional
///    num_key_value_heads (= heads), head_dim (must be hidden/heads),
///    rms_norm_eps (1e-6), rope_theta (10000), hidden_act ("silu"; "swish"
///    accepted), tie_word_embeddings (false), bos/eos (1/2). A non-null
///    `sliding_window` smaller than max_position_embeddings becomes
///    max_context (attention within the window is exact). Rejected as
///    unsupported: attention_bias or mlp_bias true (llmserve's biases are
///    all-or-nothing, GPT-2 style), a non-null rope_scaling.
///    → RMSNorm, rotary positions in HF rotate-half style, SwiGLU, no biases.
///  - gpt2: required n_embd, n_layer, n_head, n_positions, vocab_size;
///    optional n_inner (null → 4 × n_embd), layer_norm_epsilon (1e-5),
///    activation_function ("gelu_new" or "gelu_pytorch_tanh"),
///    tie_word_embeddings (true), bos/eos (50256). Rejected: scale_attn_weights
///    false, scale_attn_by_inverse_layer_idx or add_cross_attention true.
///    → LayerNorm, learned positions, GELU (tanh), biases, MHA.
/// `bos_token_id` is an int or null; `eos_token_id` an int, a list of ints or
/// null. In config.json an explicit null means "none" (bos -1, no eos), as the
/// transformers config classes receive None; absent means the family default.
/// A non-null value in generation_config.json overrides config.json.
///
/// Errors: INVALID_ARGUMENT whose message names the file and the field
/// (invalid JSON, not an object, missing/mistyped/out-of-range field,
/// unsupported model_type or option, ids outside the vocabulary, inconsistent
/// dimensions from ModelConfig::Validate).
absl::StatusOr<HfConfig> ParseHfConfig(const std::string& model_dir,
                                       const std::string& config_json,
                                       const std::string& generation_config_json);

/// Reads `<model_dir>/config.json` and, if present, `generation_config.json`,
/// then ParseHfConfig; the chat template (ModelConfig::chat_template) comes
/// from ReadHfChatTemplate (hf_chat_template.h: `chat_template.jinja` or
/// tokenizer_config.json's `chat_template`). Errors: NOT_FOUND naming
/// config.json if it is missing; those of ParseHfConfig and ReadHfChatTemplate.
absl::StatusOr<HfConfig> ReadHfConfig(const std::string& model_dir);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_HF_CONFIG_H_
