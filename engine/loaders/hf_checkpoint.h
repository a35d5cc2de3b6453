#ifndef LLMSERVE_ENGINE_LOADERS_HF_CHECKPOINT_H_
#define LLMSERVE_ENGINE_LOADERS_HF_CHECKPOINT_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/models/model_weights.h"

namespace llmserve {

/// Loads a Hugging Face transformers checkpoint directory: `config.json`
/// (+ optional `generation_config.json`, see ParseHfConfig in hf_config.h) and
/// safetensors weights (`model.safetensors` or a sharded
/// `model.safetensors.index.json`, see SafetensorsCheckpoint).
///
/// Tensor names follow transformers' modeling files:
///  - Llama / Mistral (modeling_llama.py), prefix "model." (or none, for a
///    bare LlamaModel): embed_tokens.weight [vocab, hidden];
///    layers.N.input_layernorm.weight; layers.N.self_attn.{q,k,v,o}_proj.weight;
///    layers.N.post_attention_layernorm.weight; layers.N.mlp.{gate,up,down}_proj.weight;
///    norm.weight; and lm_head.weight unless tie_word_embeddings. All nn.Linear
///    `[out, in]`, so every tensor is a zero-copy view into the mapping. The
///    q/k rows are in HF's rotate-half order, hence RopeStyle::kHalf. The buffer
///    layers.N.self_attn.rotary_emb.inv_freq of older checkpoints is ignored.
///  - GPT-2 (modeling_gpt2.py), prefix "transformer." or none: wte.weight,
///    wpe.weight, h.N.ln_1.{weight,bias}, h.N.attn.c_attn.{weight,bias},
///    h.N.attn.c_proj.*, h.N.ln_2.*, h.N.mlp.c_fc.*, h.N.mlp.c_proj.*,
///    ln_f.*, and lm_head.weight (no prefix) unless tied. Conv1D weights are
///    stored `[in, out]`: they become owned `[out, in]` copies in their own
///    dtype, c_attn split into wq, wk, wv (columns 0..E, E..2E, 2E..3E); the
///    c_attn bias is split into zero-copy views bq, bk, bv. The buffers
///    h.N.attn.bias and h.N.attn.masked_bias are ignored.
///
/// Tied embeddings: with tie_word_embeddings true an `lm_head.weight` in the
/// file is shape- and dtype-checked and then dropped — transformers does the
/// same (tie_weights() after loading makes the head the embedding matrix).
///
/// F16/BF16 tensors stay in their dtype (the model converts when packing).
///
/// Errors (INVALID_ARGUMENT unless noted), each naming the file and the tensor
/// or field: config errors (ReadHfConfig; NOT_FOUND for a missing config.json);
/// safetensors errors (SafetensorsCheckpoint::Open; NOT_FOUND if there are no
/// weights); a missing tensor; an unexpected tensor (not in the set above and
/// not an ignorable buffer — e.g. a layer beyond num_hidden_layers); a shape
/// that differs from the one config.json implies (expected vs actual); a dtype
/// other than F32/F16/BF16; and finally ModelWeights::Validate().
absl::StatusOr<ModelWeights> LoadHfCheckpoint(const std::string& model_dir);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_HF_CHECKPOINT_H_
