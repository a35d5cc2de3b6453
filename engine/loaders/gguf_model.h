#ifndef LLMSERVE_ENGINE_LOADERS_GGUF_MODEL_H_
#define LLMSERVE_ENGINE_LOADERS_GGUF_MODEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/loaders/gguf.h"
#include "engine/models/model_weights.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// Everything a GGUF file holds for serving: weights, tokenizer, chat template.
struct GgufModel {
  /// Tensors are views into the memory-mapped file (kept alive by them), in
  /// the file's dtypes (f32, f16, bf16 or a ggml block type).
  ModelWeights weights;
  /// From the metadata (TokenizerFromGguf).
  std::unique_ptr<Tokenizer> tokenizer;
};

/// Reads a model of llama.cpp's `llama` or `gpt2` architecture
/// (`general.architecture`) from a parsed GGUF file.
///
/// Hyper-parameters from `{arch}.context_length`, `.embedding_length`,
/// `.block_count`, `.feed_forward_length`, `.attention.head_count`,
/// `.attention.head_count_kv` (default: head_count),
/// `.attention.layer_norm_rms_epsilon` (llama) / `.attention.layer_norm_epsilon`
/// (gpt2), `.rope.freq_base` (default 10000), `.rope.dimension_count` (must be
/// the head size: partial rotary is not supported). The vocabulary size is the
/// row count of `token_embd.weight`; `output.weight` absent means a tied LM
/// head. `tokenizer.chat_template` goes to ModelConfig::chat_template.
///
/// Tensor names are llama.cpp's (`token_embd`, `position_embd`, `output_norm`,
/// `output`, `blk.N.attn_norm`, `.attn_q`/`.attn_k`/`.attn_v` (llama) or the
/// fused `.attn_qkv` with bias (gpt2: split into q, k, v row views),
/// `.attn_output`, `.ffn_norm`, `.ffn_gate` (llama), `.ffn_up`, `.ffn_down`;
/// gpt2 also every `.bias`). Llama's Q/K rows are in the order of Meta's
/// checkpoints (llama.cpp's converters undo Hugging Face's rotate-half
/// permutation; its `llama` architecture uses "normal" RoPE), so RoPE is
/// RopeStyle::kInterleaved.
///
/// Errors: INVALID_ARGUMENT naming the file and the key or tensor: an unknown
/// architecture, a missing or out-of-range hyper-parameter, a missing tensor or
/// one of the wrong shape (expected and actual), an unsupported tokenizer.
absl::StatusOr<GgufModel> GgufModelFromFile(const GgufFile& file);

/// Memory-maps `path` and reads it as above (GgufFile::Open, GgufModelFromFile).
absl::StatusOr<GgufModel> LoadGgufModel(const std::string& path);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_GGUF_MODEL_H_
