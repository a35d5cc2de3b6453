#include "engine/models/model_weights.h"

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace llmserve {
namespace {

absl::Status CheckShape(const std::string& name, const HostTensor& t, std::vector<int64_t> want) {
  if (t.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing tensor ", name, " (expected shape ", ShapeString(want), ")"));
  }
  if (t.shape != want) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, " has shape ", t.ShapeString(),
                                                   ", expected ", ShapeString(want)));
  }
  return absl::OkStatus();
}

absl::Status CheckOptional(const std::string& name, const HostTensor& t, bool wanted,
                           std::vector<int64_t> shape) {
  if (wanted) return CheckShape(name, t, std::move(shape));
  if (!t.empty()) return absl::InvalidArgumentError(absl::StrCat("unexpected tensor ", name));
  return absl::OkStatus();
}

}  // namespace

absl::Status ModelWeights::Validate() const {
  if (auto s = config.Validate(); !s.ok()) return s;
  const ModelConfig& c = config;
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim,
                kv = int64_t{c.num_kv_heads} * c.head_dim, f = c.ffn_size;
  const bool ln = c.norm == NormKind::kLayerNorm;
  const bool bias = c.linear_bias;
  LLMSERVE_RETURN_IF_ERROR(CheckShape("token_embedding", token_embedding, {c.vocab_size, h}));
  LLMSERVE_RETURN_IF_ERROR(CheckOptional("position_embedding", position_embedding,
                                         c.position == PositionKind::kLearned, {c.max_context, h}));
  LLMSERVE_RETURN_IF_ERROR(CheckShape("final_norm_weight", final_norm_weight, {h}));
  LLMSERVE_RETURN_IF_ERROR(CheckOptional("final_norm_bias", final_norm_bias, ln, {h}));
  LLMSERVE_RETURN_IF_ERROR(CheckOptional("lm_head", lm_head, !c.tied_lm_head, {c.vocab_size, h}));
  if (static_cast<int>(layers.size()) != c.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("have ", layers.size(), " layers of weights, config says ", c.num_layers));
  }
  for (int i = 0; i < c.num_layers; ++i) {
    const DecoderLayerWeights& l = layers[i];
    const std::string p = absl::StrCat("layers.", i, ".");
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "attn_norm_weight", l.attn_norm_weight, {h}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "attn_norm_bias", l.attn_norm_bias, ln, {h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "wq", l.wq, {q, h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "wk", l.wk, {kv, h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "wv", l.wv, {kv, h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "wo", l.wo, {h, q}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "bq", l.bq, bias, {q}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "bk", l.bk, bias, {kv}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "bv", l.bv, bias, {kv}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "bo", l.bo, bias, {h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "mlp_norm_weight", l.mlp_norm_weight, {h}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "mlp_norm_bias", l.mlp_norm_bias, ln, {h}));
    LLMSERVE_RETURN_IF_ERROR(
        CheckOptional(p + "w_gate", l.w_gate, c.mlp == MlpKind::kSwiGLU, {f, h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "w_up", l.w_up, {f, h}));
    LLMSERVE_RETURN_IF_ERROR(CheckShape(p + "w_down", l.w_down, {h, f}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "b_up", l.b_up, bias, {f}));
    LLMSERVE_RETURN_IF_ERROR(CheckOptional(p + "b_down", l.b_down, bias, {h}));
  }
  return absl::OkStatus();
}

}  // namespace llmserve
