#include "engine/loaders/gguf_model.h"

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/loaders/gguf_tokenizer.h"

namespace llmserve {
namespace {

// Bounds for hyper-parameters: far above real models, far below overflow.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxLayers = 4096;

// Reads the tensors and hyper-parameters of one file; every error names the
// file and the key or tensor.
class GgufReader {
 public:
  GgufReader(const GgufFile& file, std::string arch) : f_(file), arch_(std::move(arch)) {}

  std::string Key(absl::string_view suffix) const { return absl::StrCat(arch_, ".", suffix); }

  // `{arch}.suffix` as an int in [lo, hi]; `fallback` if absent and fallback >= 0.
  absl::StatusOr<int> Int(absl::string_view suffix, int64_t lo, int64_t hi, int64_t fallback = -1) const {
    const std::string key = Key(suffix);
    if (f_.Find(key) == nullptr && fallback >= 0) return static_cast<int>(fallback);
    auto v = f_.GetInt(key);
    if (!v.ok()) return Invalid(v.status().message());
    if (*v < lo || *v > hi) {
      return Invalid(absl::StrCat("metadata key \"", key, "\" is ", *v, ", outside ", lo, "..", hi));
    }
    return static_cast<int>(*v);
  }

  absl::StatusOr<float> Float(absl::string_view suffix, double fallback) const {
    const std::string key = Key(suffix);
    if (f_.Find(key) == nullptr) return static_cast<float>(fallback);
    auto v = f_.GetFloat(key);
    if (!v.ok()) return Invalid(v.status().message());
    if (!(*v > 0.0) || *v > 1e30) {
      return Invalid(absl::StrCat("metadata key \"", key, "\" is ", *v, ", must be positive"));
    }
    return static_cast<float>(*v);
  }

  // The tensor `name` with row-major shape `want` (error naming both shapes).
  absl::StatusOr<HostTensor> Tensor(const std::string& name, std::vector<int64_t> want) const {
    auto t = f_.GetTensor(name);
    if (!t.ok()) return Invalid(absl::StrCat("missing tensor \"", name, "\" (expected shape ",
                                             ShapeString(want), ")"));
    if (t->shape != want) {
      return Invalid(absl::StrCat("tensor \"", name, "\" has shape ", t->ShapeString(),
                                  ", expected ", ShapeString(want)));
    }
    return t;
  }

  bool Has(const std::string& name) const { return f_.FindTensor(name) != nullptr; }

  absl::Status Invalid(absl::string_view what) const {
    // GgufFile's own messages already start with the file name.
    if (absl::StartsWith(what, f_.name())) return absl::InvalidArgumentError(what);
    return absl::InvalidArgumentError(absl::StrCat(f_.name(), ": ", what));
  }

  const GgufFile& file() const { return f_; }

 private:
  const GgufFile& f_;
  std::string arch_;
};

// Rows [begin, begin + count) of a 1-D or 2-D tensor, as a view.
HostTensor RowSlice(const HostTensor& t, int64_t begin, int64_t count) {
  std::vector<int64_t> shape = t.shape;
  shape[0] = count;
  const int64_t row_bytes = t.shape.size() == 1 ? DTypeRowBytes(t.dtype, 1)
                                                : DTypeRowBytes(t.dtype, t.shape[1]);
  return HostTensor::View(t.dtype, std::move(shape),
                          static_cast<const uint8_t*>(t.data) + begin * row_bytes, t.owner);
}

}  // namespace

absl::StatusOr<GgufModel> GgufModelFromFile(const GgufFile& file) {
  auto arch_or = file.GetString("general.architecture");
  if (!arch_or.ok()) return arch_or.status();
  const std::string arch = *arch_or;
  if (arch != "llama" && arch != "gpt2") {
    return absl::InvalidArgumentError(absl::StrCat(
        file.name(), ": general.architecture \"", arch,
        "\" is not supported (\"llama\" and \"gpt2\" are)"));
  }
  const bool gpt2 = arch == "gpt2";
  GgufReader r(file, arch);
  GgufModel model;
  ModelWeights& w = model.weights;
  ModelConfig& c = w.config;
  c.name = std::filesystem::path(file.name()).stem().string();
  c.architecture = arch;
  LLMSERVE_ASSIGN_OR_RETURN(c.hidden_size, r.Int("embedding_length", 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_layers, r.Int("block_count", 1, kMaxLayers));
  LLMSERVE_ASSIGN_OR_RETURN(c.ffn_size, r.Int("feed_forward_length", 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_heads, r.Int("attention.head_count", 1, c.hidden_size));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_kv_heads, r.Int("attention.head_count_kv", 1, c.num_heads, c.num_heads));
  LLMSERVE_ASSIGN_OR_RETURN(c.max_context, r.Int("context_length", 1, int64_t{1} << 20));
  if (c.hidden_size % c.num_heads != 0) {
    return r.Invalid(absl::StrCat(r.Key("embedding_length"), " ", c.hidden_size,
                                  " is not divisible by ", r.Key("attention.head_count"), " ",
                                  c.num_heads));
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.Invalid(absl::StrCat(r.Key("attention.head_count"), " ", c.num_heads,
                                  " is not divisible by ", r.Key("attention.head_count_kv"), " ",
                                  c.num_kv_heads));
  }
  c.head_dim = c.hidden_size / c.num_heads;
  if (gpt2) {
    c.norm = NormKind::kLayerNorm;
    LLMSERVE_ASSIGN_OR_RETURN(c.norm_eps, r.Float("attention.layer_norm_epsilon", 1e-5));
    c.position = PositionKind::kLearned;
    c.mlp = MlpKind::kGelu;
    c.linear_bias = true;
  } else {
    c.norm = NormKind::kRMSNorm;
    LLMSERVE_ASSIGN_OR_RETURN(c.norm_eps, r.Float("attention.layer_norm_rms_epsilon", 1e-5));
    c.position = PositionKind::kRotary;
    c.rope_style = RopeStyle::kInterleaved;
    LLMSERVE_ASSIGN_OR_RETURN(c.rope_theta, r.Float("rope.freq_base", 10000.0));
    int rot = 0;
    LLMSERVE_ASSIGN_OR_RETURN(rot, r.Int("rope.dimension_count", 1, kMaxDim, c.head_dim));
    if (rot != c.head_dim) {
      return r.Invalid(absl::StrCat(r.Key("rope.dimension_count"), " is ", rot,
                                    ": partial rotary embeddings are not supported (head size ",
                                    c.head_dim, ")"));
    }
    if (const GgufValue* s = file.Find(r.Key("rope.scaling.type"));
        s != nullptr && !(s->type == GgufValueType::kString && s->s == "none")) {
      return r.Invalid(absl::StrCat(r.Key("rope.scaling.type"), " \"", s->s,
                                    "\": RoPE scaling is not supported"));
    }
    c.mlp = MlpKind::kSwiGLU;
    c.linear_bias = false;
  }

  const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) {
    return r.Invalid("missing 2-D tensor \"token_embd.weight\"");
  }
  if (embd->shape[0] > kMaxDim * 16) return r.Invalid("token_embd.weight: vocabulary too large");
  c.vocab_size = static_cast<int>(embd->shape[0]);
  const int64_t h = c.hidden_size, v = c.vocab_size, f = c.ffn_size;
  const int64_t q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;

  LLMSERVE_ASSIGN_OR_RETURN(w.token_embedding, r.Tensor("token_embd.weight", {v, h}));
  if (gpt2) {
    LLMSERVE_ASSIGN_OR_RETURN(w.position_embedding, r.Tensor("position_embd.weight", {c.max_context, h}));
  }
  LLMSERVE_ASSIGN_OR_RETURN(w.final_norm_weight, r.Tensor("output_norm.weight", {h}));
  if (gpt2) {
    LLMSERVE_ASSIGN_OR_RETURN(w.final_norm_bias, r.Tensor("output_norm.bias", {h}));
  }
  c.tied_lm_head = !r.Has("output.weight");
  if (!c.tied_lm_head) {
    LLMSERVE_ASSIGN_OR_RETURN(w.lm_head, r.Tensor("output.weight", {v, h}));
  }

  w.layers.resize(static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    DecoderLayerWeights& l = w.layers[i];
    const std::string p = absl::StrCat("blk.", i, ".");
    LLMSERVE_ASSIGN_OR_RETURN(l.attn_norm_weight, r.Tensor(p + "attn_norm.weight", {h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.mlp_norm_weight, r.Tensor(p + "ffn_norm.weight", {h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.wo, r.Tensor(p + "attn_output.weight", {h, q}));
    LLMSERVE_ASSIGN_OR_RETURN(l.w_up, r.Tensor(p + "ffn_up.weight", {f, h}));
    LLMSERVE_ASSIGN_OR_RETURN(l.w_down, r.Tensor(p + "ffn_down.weight", {h, f}));
    if (gpt2) {
      HostTensor qkv, qkv_bias;
      LLMSERVE_ASSIGN_OR_RETURN(qkv, r.Tensor(p + "attn_qkv.weight", {q + 2 * kv, h}));
      LLMSERVE_ASSIGN_OR_RETURN(qkv_bias, r.Tensor(p + "attn_qkv.bias", {q + 2 * kv}));
      l.wq = RowSlice(qkv, 0, q);
      l.wk = RowSlice(qkv, q, kv);
      l.wv = RowSlice(qkv, q + kv, kv);
      l.bq = RowSlice(qkv_bias, 0, q);
      l.bk = RowSlice(qkv_bias, q, kv);
      l.bv = RowSlice(qkv_bias, q + kv, kv);
      LLMSERVE_ASSIGN_OR_RETURN(l.attn_norm_bias, r.Tensor(p + "attn_norm.bias", {h}));
      LLMSERVE_ASSIGN_OR_RETURN(l.mlp_norm_bias, r.Tensor(p + "ffn_norm.bias", {h}));
      LLMSERVE_ASSIGN_OR_RETURN(l.bo, r.Tensor(p + "attn_output.bias", {h}));
      LLMSERVE_ASSIGN_OR_RETURN(l.b_up, r.Tensor(p + "ffn_up.bias", {f}));
      LLMSERVE_ASSIGN_OR_RETURN(l.b_down, r.Tensor(p + "ffn_down.bias", {h}));
    } else {
      LLMSERVE_ASSIGN_OR_RETURN(l.wq, r.Tensor(p + "attn_q.weight", {q, h}));
      LLMSERVE_ASSIGN_OR_RETURN(l.wk, r.Tensor(p + "attn_k.weight", {kv, h}));
      LLMSERVE_ASSIGN_OR_RETURN(l.wv, r.Tensor(p + "attn_v.weight", {kv, h}));
      LLMSERVE_ASSIGN_OR_RETURN(l.w_gate, r.Tensor(p + "ffn_gate.weight", {f, h}));
      for (const char* b : {"attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias"}) {
        if (r.Has(p + b)) return r.Invalid(absl::StrCat("tensor \"", p, b, "\": biases are not supported for llama"));
      }
    }
  }
  // Norm weights must be plain floats (the model converts them once).
  for (const GgufTensorInfo& t : file.tensors()) {
    if (t.shape.size() == 1 && IsQuantized(t.dtype)) {
      return r.Invalid(absl::StrCat("tensor \"", t.name, "\" is 1-D but quantized (",
                                    GgmlTypeName(t.ggml_type), ")"));
    }
  }

  auto tokenizer = TokenizerFromGguf(file);
  if (!tokenizer.ok()) return tokenizer.status();
  model.tokenizer = *std::move(tokenizer);
  if (model.tokenizer->vocab_size() > c.vocab_size) {
    return r.Invalid(absl::StrCat("the tokenizer has ", model.tokenizer->vocab_size(),
                                  " tokens, token_embd.weight only ", c.vocab_size, " rows"));
  }
  const auto id_key = [&](const char* key) -> int {
    auto id = file.GetInt(key);
    return id.ok() && *id >= 0 && *id < c.vocab_size ? static_cast<int>(*id) : -1;
  };
  c.bos_token_id = id_key("tokenizer.ggml.bos_token_id");
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    const int id = id_key(key);
    if (id >= 0 && std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end()) {
      c.eos_token_ids.push_back(id);
    }
  }
  if (file.Find("tokenizer.chat_template") != nullptr) {
    LLMSERVE_ASSIGN_OR_RETURN(c.chat_template, file.GetString("tokenizer.chat_template"));
  }

  if (auto s = w.Validate(); !s.ok()) return r.Invalid(s.message());
  return model;
}

absl::StatusOr<GgufModel> LoadGgufModel(const std::string& path) {
  auto file = GgufFile::Open(path);
  if (!file.ok()) return file.status();
  return GgufModelFromFile(*file);
}

}  // namespace llmserve
