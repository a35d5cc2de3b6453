#include "engine/loaders/hf_checkpoint.h"

#include <cstring>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "absl/strings/str_join.h"
#include "engine/loaders/hf_config.h"
#include "engine/loaders/safetensors.h"

namespace llmserve {
namespace {

// Hands out the checkpoint's tensors by name, checking each against the shape
// config.json implies, and remembers which were used.
class TensorSource {
 public:
  explicit TensorSource(const SafetensorsCheckpoint& ckpt) : ckpt_(ckpt) {}

  bool Contains(const std::string& name) const { return ckpt_.Contains(name); }

  absl::StatusOr<HostTensor> Take(const std::string& name, const std::vector<int64_t>& shape) {
    const SafetensorsEntry* e = ckpt_.FindEntry(name);
    if (e == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(ckpt_.dir(), ": missing tensor '", name,
                                                     "' (expected shape ", ShapeString(shape),
                                                     ")"));
    }
    if (e->shape != shape) {
      return absl::InvalidArgumentError(
          absl::StrCat(ckpt_.FileOf(name), ": tensor '", name, "' has shape ",
                       ShapeString(e->shape), ", expected ", ShapeString(shape),
                       " from config.json"));
    }
    absl::StatusOr<HostTensor> t = ckpt_.GetTensor(name);
    if (t.ok()) taken_.insert(name);
    return t;
  }

  // Every tensor must have been taken or be an ignorable buffer.
  absl::Status CheckAllUsed(const std::function<bool(const std::string&)>& ignorable) const {
    for (const std::string& name : ckpt_.names()) {
      if (!taken_.contains(name) && !ignorable(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(ckpt_.FileOf(name), ": unexpected tensor '", name,
                         "' (not part of the model config.json describes)"));
      }
    }
    return absl::OkStatus();
  }

 private:
  const SafetensorsCheckpoint& ckpt_;
  absl::flat_hash_set<std::string> taken_;
};

// True if `name` is `prefix` + decimal digits + `suffix` (a per-layer name).
bool IsLayerName(const std::string& name, const std::string& prefix, const std::string& suffix) {
  if (name.size() <= prefix.size() + suffix.size() || !absl::StartsWith(name, prefix) ||
      !absl::EndsWith(name, suffix)) {
    return false;
  }
  for (std::size_t i = prefix.size(); i < name.size() - suffix.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  return true;
}

template <std::size_t kSize>
void TransposeElements(const uint8_t* src, int64_t rows, int64_t cols, int64_t col_begin,
                       int64_t col_count, uint8_t* dst) {
  for (int64_t o = 0; o < col_count; ++o) {
    for (int64_t i = 0; i < rows; ++i) {
      std::memcpy(dst + (o * rows + i) * kSize, src + (i * cols + col_begin + o) * kSize, kSize);
    }
  }
}

// Columns [col_begin, col_begin + col_count) of the 2-D `src` [rows, cols],
// transposed to an owned [col_count, rows] tensor of the same dtype.
HostTensor TransposeColumns(const HostTensor& src, int64_t col_begin, int64_t col_count) {
  const int64_t rows = src.shape[0], cols = src.shape[1];
  const std::size_t esize = DTypeSize(src.dtype);
  auto buffer = std::make_shared<std::vector<uint8_t>>(
      static_cast<std::size_t>(col_count * rows) * esize);
  const auto* s = static_cast<const uint8_t*>(src.data);
  if (esize == 4) {
    TransposeElements<4>(s, rows, cols, col_begin, col_count, buffer->data());
  } else {
    TransposeElements<2>(s, rows, cols, col_begin, col_count, buffer->data());
  }
  const void* data = buffer->data();
  return HostTensor::View(src.dtype, {col_count, rows}, data,
                          std::shared_ptr<const void>(std::move(buffer), data));
}

// Elements [begin, begin + count) of the 1-D `src`, as a zero-copy view.
HostTensor Slice(const HostTensor& src, int64_t begin, int64_t count) {
  const auto* s = static_cast<const uint8_t*>(src.data);
  return HostTensor::View(src.dtype, {count}, s + begin * static_cast<int64_t>(DTypeSize(src.dtype)),
                          src.owner);
}

// The LM head: required when untied; when tied an lm_head.weight in the file
// is checked and dropped (transformers' tie_weights() replaces it too).
absl::Status TakeLmHead(TensorSource& src, ModelWeights& w) {
  const ModelConfig& c = w.config;
  const std::vector<int64_t> shape = {c.vocab_size, c.hidden_size};
  if (!c.tied_lm_head) {
    LLMSERVE_ASSIGN_OR_RETURN(w.lm_head, src.Take("lm_head.weight", shape));
  } else if (src.Contains("lm_head.weight")) {
    LLMSERVE_ASSIGN_OR_RETURN(HostTensor unused, src.Take("lm_head.weight", shape));
    (void)unused;
  }
  return absl::OkStatus();
}

absl::Status LoadLlama(const SafetensorsCheckpoint& ckpt, ModelWeights& w) {
  const ModelConfig& c = w.config;
  const int64_t h = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim,
                kv = int64_t{c.num_kv_heads} * c.head_dim, f = c.ffn_size;
  TensorSource src(ckpt);
  // LlamaForCausalLM nests the decoder as `model.`; a bare LlamaModel has no prefix.
  const std::string p =
      !ckpt.Contains("model.embed_tokens.weight") && ckpt.Contains("embed_tokens.weight")
          ? ""
          : "model.";
  LLMSERVE_ASSIGN_OR_RETURN(w.token_embedding,
                                src.Take(p + "embed_tokens.weight", {c.vocab_size, h}));
  LLMSERVE_ASSIGN_OR_RETURN(w.final_norm_weight, src.Take(p + "norm.weight", {h}));
  if (absl::Status s = TakeLmHead(src, w); !s.ok()) return s;
  w.layers.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    DecoderLayerWeights& l = w.layers[i];
    const std::string lp = absl::StrCat(p, "layers.", i, ".");
    LLMSERVE_ASSIGN_OR_RETURN(l.attn_norm_weight, src.Take(lp + "input_layernorm.weight", {h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.wq, src.Take(lp + "self_attn.q_proj.weight", {q, h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.wk, src.Take(lp + "self_attn.k_proj.weight", {kv, h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.wv, src.Take(lp + "self_attn.v_proj.weight", {kv, h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.wo, src.Take(lp + "self_attn.o_proj.weight", {h, q}));
    LLMSERVE_ASSIGN_OR_RETURN(l.mlp_norm_weight,
                                  src.Take(lp + "post_attention_layernorm.weight", {h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.w_gate, src.Take(lp + "mlp.gate_proj.weight", {f, h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.w_up, src.Take(lp + "mlp.up_proj.weight", {f, h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.w_down, src.Take(lp + "mlp.down_proj.weight", {h, f}));
  }
  return src.CheckAllUsed([&](const std::string& name) {
    return IsLayerName(name, p + "layers.", ".self_attn.rotary_emb.inv_freq");
  });
}

absl::Status LoadGpt2(const SafetensorsCheckpoint& ckpt, ModelWeights& w) {
  const ModelConfig& c = w.config;
  const int64_t e = c.hidden_size, f = c.ffn_size;
  TensorSource src(ckpt);
  // GPT2LMHeadModel nests the decoder as `transformer.`; the official `gpt2`
  // checkpoint (saved from GPT2Model) has no prefix.
  const std::string p = ckpt.Contains("transformer.wte.weight") ? "transformer." : "";
  LLMSERVE_ASSIGN_OR_RETURN(w.token_embedding, src.Take(p + "wte.weight", {c.vocab_size, e}));
  LLMSERVE_ASSIGN_OR_RETURN(w.position_embedding,
                                src.Take(p + "wpe.weight", {c.max_context, e}));
  LLMSERVE_ASSIGN_OR_RETURN(w.final_norm_weight, src.Take(p + "ln_f.weight", {e}));
  LLMSERVE_ASSIGN_OR_RETURN(w.final_norm_bias, src.Take(p + "ln_f.bias", {e}));
  if (absl::Status s = TakeLmHead(src, w); !s.ok()) return s;
  w.layers.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    DecoderLayerWeights& l = w.layers[i];
    const std::string lp = absl::StrCat(p, "h.", i, ".");
    LLMSERVE_ASSIGN_OR_RETURN(l.attn_norm_weight, src.Take(lp + "ln_1.weight", {e}));
    LLMSERVE_ASSIGN_OR_RETURN(l.attn_norm_bias, src.Take(lp + "ln_1.bias", {e}));
    // Conv1D: y = x W + b with W [in, out]; the fused output is q | k | v.
    HostTensor c_attn, c_attn_bias, attn_proj, fc, mlp_proj;
    LLMSERVE_ASSIGN_OR_RETURN(c_attn, src.Take(lp + "attn.c_attn.weight", {e, 3 * e}));
    LLMSERVE_ASSIGN_OR_RETURN(c_attn_bias, src.Take(lp + "attn.c_attn.bias", {3 * e}));
    l.wq = TransposeColumns(c_attn, 0, e);
    l.wk = TransposeColumns(c_attn, e, e);
    l.wv = TransposeColumns(c_attn, 2 * e, e);
    l.bq = Slice(c_attn_bias, 0, e);
    l.bk = Slice(c_attn_bias, e, e);
    l.bv = Slice(c_attn_bias, 2 * e, e);
    LLMSERVE_ASSIGN_OR_RETURN(attn_proj, src.Take(lp + "attn.c_proj.weight", {e, e}));
    l.wo = TransposeColumns(attn_proj, 0, e);
    LLMSERVE_ASSIGN_OR_RETURN(l.bo, src.Take(lp + "attn.c_proj.bias", {e}));
    LLMSERVE_ASSIGN_OR_RETURN(l.mlp_norm_weight, src.Take(lp + "ln_2.weight", {e}));
    LLMSERVE_ASSIGN_OR_RETURN(l.mlp_norm_bias, src.Take(lp + "ln_2.bias", {e}));
    LLMSERVE_ASSIGN_OR_RETURN(fc, src.Take(lp + "mlp.c_fc.weight", {e, f}));
    l.w_up = TransposeColumns(fc, 0, f);
    LLMSERVE_ASSIGN_OR_RETURN(l.b_up, src.Take(lp + "mlp.c_fc.bias", {f}));
    LLMSERVE_ASSIGN_OR_RETURN(mlp_proj, src.Take(lp + "mlp.c_proj.weight", {f, e}));
    l.w_down = TransposeColumns(mlp_proj, 0, e);
    LLMSERVE_ASSIGN_OR_RETURN(l.b_down, src.Take(lp + "mlp.c_proj.bias", {e}));
  }
  // Attention-mask buffers saved by older transformers versions.
  return src.CheckAllUsed([&](const std::string& name) {
    return IsLayerName(name, p + "h.", ".attn.bias") ||
           IsLayerName(name, p + "h.", ".attn.masked_bias");
  });
}

}  // namespace

absl::StatusOr<ModelWeights> LoadHfCheckpoint(const std::string& model_dir) {
  HfConfig config;
  LLMSERVE_ASSIGN_OR_RETURN(config, ReadHfConfig(model_dir));
  absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(model_dir);
  if (!ckpt.ok()) return ckpt.status();
  ModelWeights w;
  w.config = config.config;
  const absl::Status s =
      config.family == HfFamily::kGpt2 ? LoadGpt2(*ckpt, w) : LoadLlama(*ckpt, w);
  if (!s.ok()) return s;
  if (absl::Status v = w.Validate(); !v.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, ": ", v.message()));
  }
  return w;
}


}  // namespace llmserve
