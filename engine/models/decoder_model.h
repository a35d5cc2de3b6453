#ifndef LLMSERVE_ENGINE_MODELS_DECODER_MODEL_H_
#define LLMSERVE_ENGINE_MODELS_DECODER_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "engine/kv_cache/kv_cache.h"
#include "engine/models/model_config.h"
#include "engine/models/model_weights.h"
#include <optional>

#include "engine/ops/paged_attention.h"
#include "engine/primitives/linear.h"

namespace llmserve {

/// Options fixed when the model is packed.
struct DecoderModelOptions {
  /// Storage dtype of the linear-layer weights (kF32 or kBF16); norms,
  /// embeddings and activations stay f32.
  DType weight_dtype = DType::kF32;
  /// Maximum tokens (rows) in one Forward call; sizes the activation workspace.
  int max_num_tokens = 512;
  /// Maximum logits rows in one Forward call.
  int max_num_logits = 64;
  /// Quantize the linear layers' weights at load (kQ8_0 or kQ4_0; see
  /// Linear::Create), except layers whose in_features is not a multiple of 32,
  /// which keep weight_dtype. nullopt: no quantization. (Last, so the
  /// aggregate initializers {dtype, tokens, logits} keep their meaning.)
  std::optional<DType> quantization;
};

/// A projection whose output is several weights' outputs side by side
/// ([rows, out_1 + out_2 + ...]: q|k|v, gate|up): one fused Linear over the
/// stacked rows when the parts share a dtype (quantized parts keep their
/// blocks), else one Linear per part whose outputs are copied into place —
/// the parts of a GGUF Q4_K_M file mix Q4_K and Q6_K, which one quantized
/// matrix cannot hold.
struct StackedLinear {
  std::unique_ptr<Linear> fused;              ///< set when fused
  std::vector<std::unique_ptr<Linear>> parts;  ///< set when not fused, in output order

  /// Sum of the parts' output features.
  int64_t out_features() const;
  int64_t in_features() const { return first().in_features(); }
  /// Bytes of weights (and biases) read per forward pass.
  int64_t weight_bytes() const;
  /// The fused Linear's implementation, or the parts' joined by " + ".
  std::string implementation() const;
  /// The fused Linear or the first part.
  const Linear& first() const { return fused ? *fused : *parts.front(); }
};

/// The tokens of one batched forward step: prefill chunks and decode tokens of
/// several sequences concatenated into one [num_tokens, hidden] activation.
struct ForwardInput {
  int num_tokens = 0;
  const int32_t* token_ids = nullptr;     ///< [num_tokens]
  const int32_t* positions = nullptr;     ///< [num_tokens] position of each token in its sequence
  const int64_t* slot_mapping = nullptr;  ///< [num_tokens] KV-cache slot each token's K/V goes to
  AttentionBatch attention;               ///< sequences, context lengths, block tables
  int num_logits = 0;
  const int32_t* logits_indices = nullptr;  ///< [num_logits] rows whose next-token logits are needed
};

/// A decoder-only transformer (GPT-2 and Llama families as configurations):
/// pre-norm blocks x += Attn(Norm(x)); x += MLP(Norm(x)); then Norm and LM head.
/// Every linear layer is a oneDNN matmul over all tokens of the step (QKV and
/// gate/up projections are fused into one matmul each; residual adds are fused
/// as sum post-ops). Attention is paged over the KV cache.
///
/// Not thread-safe (one workspace): used by the engine thread only.
class DecoderModel {
 public:
  /// Packs `weights` (validated) into oneDNN layouts. Errors: INVALID_ARGUMENT
  /// from ModelWeights::Validate or bad options; INTERNAL from oneDNN.
  static absl::StatusOr<std::unique_ptr<DecoderModel>> Create(const ModelWeights& weights,
                                                              const DecoderModelOptions& options);

  /// Runs the step: writes the new tokens' K/V into `cache` at their slots and
  /// returns next-token logits [num_logits, vocab_size] in `logits`.
  /// Errors: INVALID_ARGUMENT if num_tokens / num_logits exceed the options or
  /// a token id / position is out of range (checked before any work).
  absl::Status Forward(const ForwardInput& input, KVCache& cache, float* logits);

  const ModelConfig& config() const { return config_; }
  const DecoderModelOptions& options() const { return options_; }
  /// Bytes of weights read per forward pass (all linear layers incl. the LM
  /// head): the memory traffic that bounds batch-1 decode.
  int64_t weight_bytes_per_step() const;
  /// Implementation used by the linear layers, e.g. "bf16xbf16:brg:avx512_core_bf16"
  /// (the LM head's; see DescribeKernels for every layer kind).
  const std::string& linear_implementation() const { return lm_head_->implementation(); }
  /// One line per kernel kind, "name [in -> out] <weight dtype>: implementation"
  /// for each linear layer kind of layer 0, "layer <i> name ..." for a later
  /// layer whose kernel differs (a GGUF file mixing Q4_K and Q6_K), and the
  /// attention kernel; for the startup log, `--print-kernels` and GetModelInfo.
  std::vector<std::string> DescribeKernels() const;
  /// The LM head (for benchmarks that ask about implementations per row count).
  const Linear& lm_head() const { return *lm_head_; }

 private:
  struct Layer {
    std::vector<float> attn_norm_weight, attn_norm_bias, mlp_norm_weight, mlp_norm_bias;
    StackedLinear qkv;                ///< [hidden] → [(heads + 2 kv_heads) · head_dim]
    std::unique_ptr<Linear> o;        ///< [heads · head_dim] → [hidden], accumulates
    StackedLinear gate_up;            ///< [hidden] → [2 · ffn] (SwiGLU) or [ffn] (GELU)
    std::unique_ptr<Linear> down;     ///< [ffn] → [hidden], accumulates
  };

  DecoderModel(const ModelConfig& config, const DecoderModelOptions& options)
      : config_(config), options_(options) {}
  void Norm(const float* x, const std::vector<float>& w, const std::vector<float>& b,
            int64_t rows, float* out) const;
  /// y = linear(Norm(x)): the norm writes bf16 straight into act16_ when the
  /// linear takes bf16 input, else f32 into `norm_out`.
  void NormLinear(const Linear& linear, const float* x, const std::vector<float>& w,
                  const std::vector<float>& b, int64_t rows, float* norm_out, float* y);

  /// y = stacked(Norm(x)): NormLinear for a fused projection; else the norm
  /// into `norm_out`, each part into part_out_ and its columns into y.
  void NormStacked(const StackedLinear& stacked, const float* x, const std::vector<float>& w,
                   const std::vector<float>& b, int64_t rows, float* norm_out, float* y);
  /// out[r, :] = token embedding row ids[r] as f32 (+ the position row when learned).
  void EmbedTokens(const int32_t* ids, const int32_t* positions, int64_t rows, float* out) const;

  ModelConfig config_;
  DecoderModelOptions options_;
  std::vector<Layer> layers_;
  // [vocab, hidden] in the checkpoint's dtype (f32, f16, bf16 or a ggml block
  // type): an owned copy, so the file's mapping is released after loading,
  // without the f32 copy a quantized table would need; rows are converted at lookup.
  std::vector<uint8_t> token_embedding_;
  DType token_embedding_dtype_ = DType::kF32;
  int64_t token_embedding_row_bytes_ = 0;
  std::vector<float> position_embedding_;  // [max_context, hidden] (learned only)
  std::vector<float> final_norm_weight_, final_norm_bias_;
  std::unique_ptr<Linear> lm_head_;
  std::vector<float> rope_table_;          // [max_context, head_dim/2, 2]
  // Workspace, sized for options_.max_num_tokens rows.
  std::vector<float> x_, h_, qkv_, attn_, mlp_, act_, final_;
  std::vector<uint16_t> act16_;  // bf16 input of a bf16-input linear layer
  std::vector<float> part_out_;  // one part's output of an unfused StackedLinear
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_MODELS_DECODER_MODEL_H_
