#ifndef LLMSERVE_ENGINE_MODELS_MODEL_WEIGHTS_H_
#define LLMSERVE_ENGINE_MODELS_MODEL_WEIGHTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/common/host_tensor.h"
#include "engine/models/model_config.h"

namespace llmserve {

/// Weights of one decoder layer as loaded from a checkpoint, before packing.
/// Linear weights use the PyTorch nn.Linear layout `[out_features, in_features]`
/// (loaders transpose GPT-2 Conv1D `[in, out]` tensors). Biases are empty
/// unless ModelConfig::linear_bias. Any dtype (f32/f16/bf16).
struct DecoderLayerWeights {
  HostTensor attn_norm_weight;  ///< [hidden]
  HostTensor attn_norm_bias;    ///< [hidden] (LayerNorm only)
  HostTensor wq;                ///< [num_heads * head_dim, hidden]
  HostTensor wk;                ///< [num_kv_heads * head_dim, hidden]
  HostTensor wv;                ///< [num_kv_heads * head_dim, hidden]
  HostTensor wo;                ///< [hidden, num_heads * head_dim]
  HostTensor bq, bk, bv, bo;    ///< [out_features] each
  HostTensor mlp_norm_weight;   ///< [hidden]
  HostTensor mlp_norm_bias;     ///< [hidden] (LayerNorm only)
  HostTensor w_gate;            ///< [ffn, hidden] (SwiGLU only)
  HostTensor w_up;              ///< [ffn, hidden]
  HostTensor w_down;            ///< [hidden, ffn]
  HostTensor b_up, b_down;      ///< [ffn], [hidden]
};

/// All weights of a decoder-only model plus its configuration; produced by the
/// loaders (llama2.c checkpoint, Hugging Face safetensors) and consumed once by
/// DecoderModel, which packs them for oneDNN.
struct ModelWeights {
  ModelConfig config;
  HostTensor token_embedding;      ///< [vocab, hidden]
  HostTensor position_embedding;   ///< [max_context, hidden] (learned positions only)
  HostTensor final_norm_weight;    ///< [hidden]
  HostTensor final_norm_bias;      ///< [hidden] (LayerNorm only)
  HostTensor lm_head;              ///< [vocab, hidden]; empty when config.tied_lm_head
  std::vector<DecoderLayerWeights> layers;

  /// Checks the configuration and that every tensor required by it is present
  /// with the expected shape (and that no bias is present when not expected).
  /// Errors: INVALID_ARGUMENT naming the tensor ("layers.3.wq"), expected and actual shape.
  absl::Status Validate() const;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_MODELS_MODEL_WEIGHTS_H_
