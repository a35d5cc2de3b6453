#ifndef LLMSERVE_ENGINE_MODELS_MODEL_CONFIG_H_
#define LLMSERVE_ENGINE_MODELS_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/primitives/rope_style.h"

namespace llmserve {

/// Normalization before attention / MLP and at the end of the stack.
enum class NormKind {
  kLayerNorm,  ///< (x - mean) / sqrt(var + eps) * w + b   (GPT-2)
  kRMSNorm,    ///< x / sqrt(mean(x^2) + eps) * w            (Llama; Zhang & Sennrich 2019)
};

/// How positions enter the model.
enum class PositionKind {
  kLearned,  ///< a learned [max_context, hidden] table added to the embeddings (GPT-2)
  kRotary,   ///< rotary position embedding on q and k (RoFormer, Su et al. 2021)
};

/// The feed-forward block.
enum class MlpKind {
  kGelu,    ///< down(gelu_tanh(up(x) + b) ) + b  — GPT-2's `gelu_new`
  kSwiGLU,  ///< down(silu(gate(x)) * up(x))     — Llama (Shazeer 2020)
};

/// Architecture of a decoder-only transformer; one description covers GPT-2
/// (MHA, LayerNorm, GELU, learned positions, biases) and Llama (GQA, RMSNorm,
/// SwiGLU, RoPE, no biases).
struct ModelConfig {
  std::string name;          ///< e.g. "stories260K"
  std::string architecture;  ///< "llama" or "gpt2"
  int hidden_size = 0;       ///< d_model
  int num_layers = 0;
  int num_heads = 0;         ///< query heads
  int num_kv_heads = 0;      ///< key/value heads: == num_heads (MHA), < (GQA), 1 (MQA)
  int head_dim = 0;          ///< hidden_size / num_heads
  int ffn_size = 0;          ///< MLP inner size
  int vocab_size = 0;
  int max_context = 0;       ///< maximum positions (tokens) a sequence may hold
  NormKind norm = NormKind::kRMSNorm;
  float norm_eps = 1e-5f;
  PositionKind position = PositionKind::kRotary;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  float rope_theta = 10000.0f;
  MlpKind mlp = MlpKind::kSwiGLU;
  bool tied_lm_head = true;   ///< LM head shares the token-embedding matrix
  bool linear_bias = false;   ///< biases on every linear layer and norm (GPT-2)
  int bos_token_id = -1;      ///< -1: none
  std::vector<int> eos_token_ids;  ///< generation stops at any of these unless ignore_eos
  /// The checkpoint's chat template, a Jinja string (GGUF
  /// `tokenizer.chat_template`; Hugging Face tokenizer_config.json
  /// `chat_template` or chat_template.jinja), shown by GetModelInfo and
  /// compiled by engine/chat_template; empty if the checkpoint has none.
  std::string chat_template;

  /// Number of query rows produced per token by the fused QKV projection:
  /// (num_heads + 2 * num_kv_heads) * head_dim.
  int qkv_size() const { return (num_heads + 2 * num_kv_heads) * head_dim; }

  /// Checks every dimension is positive and consistent (hidden = heads × head_dim,
  /// heads divisible by KV heads, RoPE needs an even head_dim).
  /// Errors: INVALID_ARGUMENT naming the offending field and values.
  absl::Status Validate() const;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_MODELS_MODEL_CONFIG_H_
