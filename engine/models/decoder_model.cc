#include "engine/models/decoder_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/common/mapped_file.h"
#include "engine/primitives/cpu_kernels.h"

namespace llmserve {
namespace {

// True when every part is quantized with one and the same ggml block type.
bool ShareQuantizedDType(std::initializer_list<const HostTensor*> parts) {
  const DType first = (*parts.begin())->dtype;
  for (const HostTensor* p : parts) {
    if (p->dtype != first) return false;
  }
  return IsQuantized(first);
}

// True when some part is quantized and the parts' dtypes differ (a Q4_K_M
// file stores attn_v in Q6_K beside Q4_K attn_q/attn_k): such parts get one
// Linear each instead of a fused one (StackedLinear).
bool MixedQuantized(std::initializer_list<const HostTensor*> parts) {
  bool quantized = false;
  for (const HostTensor* p : parts) quantized = quantized || IsQuantized(p->dtype);
  return quantized && !ShareQuantizedDType(parts);
}

// Rows of `parts` (each [rows_i, cols]) stacked into one [sum rows_i, cols]
// tensor. Parts sharing a quantized dtype keep it: a row is whole blocks, so
// stacking rows concatenates their bytes. Otherwise the rows become f32.
HostTensor StackRows(std::initializer_list<const HostTensor*> parts) {
  int64_t rows = 0, cols = 0;
  for (const HostTensor* p : parts) {
    rows += p->shape[0];
    cols = p->shape.size() > 1 ? p->shape[1] : 0;
  }
  if (ShareQuantizedDType(parts)) {
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    for (const HostTensor* p : parts) {
      const auto* b = static_cast<const uint8_t*>(p->data);
      bytes->insert(bytes->end(), b, b + p->num_bytes());
      // A part in a mapped checkpoint is not read again: its pages leave RSS.
      ReleaseMappedPages(b, static_cast<std::size_t>(p->num_bytes()));
    }
    const void* data = bytes->data();
    return HostTensor::View((*parts.begin())->dtype, {rows, cols}, data,
                            std::shared_ptr<const void>(bytes, bytes->data()));
  }
  std::vector<float> values;
  for (const HostTensor* p : parts) {
    std::vector<float> v = p->ToFloat();
    values.insert(values.end(), v.begin(), v.end());
  }
  return HostTensor::FromFloats(std::move(values),
                                cols > 0 ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{rows});
}

// A fused projection over `parts` (one Linear over the stacked rows), or, for
// mixed quantized dtypes, one Linear per part (biases in `biases`, same order).
absl::StatusOr<StackedLinear> CreateStacked(std::initializer_list<const HostTensor*> parts,
                                            std::initializer_list<const HostTensor*> biases,
                                            DType wdt) {
  StackedLinear out;
  if (!MixedQuantized(parts)) {
    bool any_bias = false, all_bias = true;
    for (const HostTensor* b : biases) {
      any_bias = any_bias || !b->empty();
      all_bias = all_bias && !b->empty();
    }
    // One part is used as it is (no stacked copy).
    const bool one = parts.size() == 1;
    const HostTensor bias = !(any_bias && all_bias) ? HostTensor()
                            : one                   ? **biases.begin()
                                                    : StackRows(biases);
    auto fused = Linear::Create(one ? **parts.begin() : StackRows(parts), bias, wdt,
                                /*accumulate=*/false);
    if (!fused.ok()) return fused.status();
    out.fused = *std::move(fused);
    return out;
  }
  auto bias = biases.begin();
  for (const HostTensor* p : parts) {
    const HostTensor none;
    auto part = Linear::Create(*p, bias != biases.end() ? **bias : none, wdt, /*accumulate=*/false);
    if (!part.ok()) return part.status();
    out.parts.push_back(*std::move(part));
    if (bias != biases.end()) ++bias;
  }
  return out;
}

}  // namespace

int64_t StackedLinear::out_features() const {
  if (fused) return fused->out_features();
  int64_t n = 0;
  for (const auto& p : parts) n += p->out_features();
  return n;
}

int64_t StackedLinear::weight_bytes() const {
  if (fused) return fused->weight_bytes();
  int64_t n = 0;
  for (const auto& p : parts) n += p->weight_bytes();
  return n;
}

std::string StackedLinear::implementation() const {
  if (fused) return fused->implementation();
  std::string s;
  for (const auto& p : parts) absl::StrAppend(&s, s.empty() ? "" : " + ", p->implementation());
  return s;
}

absl::StatusOr<std::unique_ptr<DecoderModel>> DecoderModel::Create(
    const ModelWeights& weights, const DecoderModelOptions& options) {
  if (auto s = weights.Validate(); !s.ok()) return s;
  if (options.max_num_tokens <= 0 || options.max_num_logits <= 0) {
    return absl::InvalidArgumentError("max_num_tokens and max_num_logits must be positive");
  }
  if (options.weight_dtype != DType::kF32 && options.weight_dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported weight dtype ",
                                                   std::string(DTypeName(options.weight_dtype))));
  }
  const ModelConfig& c = weights.config;
  std::unique_ptr<DecoderModel> m(new DecoderModel(c, options));
  // --quantization (issue #20): the storage dtype of a linear layer with `in` inputs.
  const auto ldt = [&options](int64_t in) {
    return options.quantization && in % 32 == 0 ? *options.quantization : options.weight_dtype;
  };

  for (const DecoderLayerWeights& lw : weights.layers) {
    Layer layer;
    layer.attn_norm_weight = lw.attn_norm_weight.ToFloat();
    layer.attn_norm_bias = lw.attn_norm_bias.ToFloat();
    layer.mlp_norm_weight = lw.mlp_norm_weight.ToFloat();
    layer.mlp_norm_bias = lw.mlp_norm_bias.ToFloat();
    auto qkv = CreateStacked({&lw.wq, &lw.wk, &lw.wv}, {&lw.bq, &lw.bk, &lw.bv}, ldt(c.hidden_size));
    if (!qkv.ok()) return qkv.status();
    layer.qkv = *std::move(qkv);
    auto o = Linear::Create(lw.wo, lw.bo, ldt(lw.wo.shape.back()), /*accumulate=*/true);
    if (!o.ok()) return o.status();
    layer.o = *std::move(o);
    auto gate_up = c.mlp == MlpKind::kSwiGLU
                       ? CreateStacked({&lw.w_gate, &lw.w_up}, {}, ldt(c.hidden_size))
                       : CreateStacked({&lw.w_up}, {&lw.b_up}, ldt(c.hidden_size));
    if (!gate_up.ok()) return gate_up.status();
    layer.gate_up = *std::move(gate_up);
    auto down = Linear::Create(lw.w_down, lw.b_down, ldt(lw.w_down.shape.back()),
                              /*accumulate=*/true);
    if (!down.ok()) return down.status();
    layer.down = *std::move(down);
    m->layers_.push_back(std::move(layer));
  }
  {
    const HostTensor& e = weights.token_embedding;
    const auto* bytes = static_cast<const uint8_t*>(e.data);
    m->token_embedding_.assign(bytes, bytes + e.num_bytes());
    // The copy is what the model reads (a tied LM head re-reads the mapping once, below).
    ReleaseMappedPages(bytes, static_cast<std::size_t>(e.num_bytes()));
    m->token_embedding_dtype_ = e.dtype;
    m->token_embedding_row_bytes_ = DTypeRowBytes(e.dtype, c.hidden_size);
  }
  m->position_embedding_ = weights.position_embedding.ToFloat();
  m->final_norm_weight_ = weights.final_norm_weight.ToFloat();
  m->final_norm_bias_ = weights.final_norm_bias.ToFloat();
  auto lm_head = Linear::Create(c.tied_lm_head ? weights.token_embedding : weights.lm_head,
                                HostTensor(), ldt(c.hidden_size), /*accumulate=*/false);
  if (!lm_head.ok()) return lm_head.status();
  m->lm_head_ = *std::move(lm_head);
  if (c.position == PositionKind::kRotary) {
    m->rope_table_.resize(static_cast<std::size_t>(c.max_context) * c.head_dim);
    RopeTable(c.max_context, c.head_dim, c.rope_theta, m->rope_table_.data());
  }

  const std::size_t t = static_cast<std::size_t>(options.max_num_tokens);
  const std::size_t mlp_width = static_cast<std::size_t>(c.ffn_size) * (c.mlp == MlpKind::kSwiGLU ? 2 : 1);
  m->x_.resize(t * c.hidden_size);
  m->h_.resize(t * c.hidden_size);
  m->qkv_.resize(t * c.qkv_size());
  m->attn_.resize(t * c.num_heads * c.head_dim);
  m->mlp_.resize(t * mlp_width);
  m->act_.resize(t * c.ffn_size);
  m->final_.resize(static_cast<std::size_t>(options.max_num_logits) * c.hidden_size);
  m->act16_.resize(t * std::max<std::size_t>(c.hidden_size, c.ffn_size));
  for (const Layer& l : m->layers_) {
    if (!l.qkv.fused || !l.gate_up.fused) {
      m->part_out_.resize(t * std::max<std::size_t>(c.qkv_size(), c.ffn_size));
      break;
    }
  }
  return m;
}

int64_t DecoderModel::weight_bytes_per_step() const {
  int64_t bytes = lm_head_->weight_bytes();
  for (const Layer& l : layers_) {
    bytes += l.qkv.weight_bytes() + l.o->weight_bytes() + l.gate_up.weight_bytes() +
             l.down->weight_bytes();
  }
  return bytes;
}

void DecoderModel::Norm(const float* x, const std::vector<float>& w, const std::vector<float>& b,
                        int64_t rows, float* out) const {
  if (config_.norm == NormKind::kRMSNorm) {
    RmsNorm(x, w.data(), rows, config_.hidden_size, config_.norm_eps, out);
  } else {
    LayerNorm(x, w.data(), b.data(), rows, config_.hidden_size, config_.norm_eps, out);
  }
}

void DecoderModel::NormLinear(const Linear& linear, const float* x, const std::vector<float>& w,
                              const std::vector<float>& b, int64_t rows, float* norm_out,
                              float* y) {
  if (linear.input_dtype() != DType::kBF16) {
    Norm(x, w, b, rows, norm_out);
    linear.Forward(norm_out, rows, y);
    return;
  }
  uint16_t* h = act16_.data();
  if (config_.norm == NormKind::kRMSNorm) {
    RmsNormToBf16(x, w.data(), rows, config_.hidden_size, config_.norm_eps, h);
  } else {
    LayerNormToBf16(x, w.data(), b.data(), rows, config_.hidden_size, config_.norm_eps, h);
  }
  linear.ForwardBf16(h, rows, y);
}

void DecoderModel::NormStacked(const StackedLinear& stacked, const float* x,
                               const std::vector<float>& w, const std::vector<float>& b,
                               int64_t rows, float* norm_out, float* y) {
  if (stacked.fused) {
    NormLinear(*stacked.fused, x, w, b, rows, norm_out, y);
    return;
  }
  Norm(x, w, b, rows, norm_out);
  const int64_t total = stacked.out_features();
  int64_t column = 0;
  for (const std::unique_ptr<Linear>& part : stacked.parts) {
    const int64_t n = part->out_features();
    part->Forward(norm_out, rows, part_out_.data());
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(part_out_.data() + r * n, n, y + r * total + column);
    }
    column += n;
  }
}

void DecoderModel::EmbedTokens(const int32_t* ids, const int32_t* positions, int64_t rows,
                               float* out) const {
  const int64_t n = config_.hidden_size;
  const bool learned = config_.position == PositionKind::kLearned;
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * n;
    ConvertToFloat(token_embedding_dtype_,
                   token_embedding_.data() + int64_t{ids[r]} * token_embedding_row_bytes_,
                   static_cast<std::size_t>(n), o);
    if (learned) {
      const float* p = position_embedding_.data() + int64_t{positions[r]} * n;
      for (int64_t i = 0; i < n; ++i) o[i] += p[i];
    }
  }
}

std::vector<std::string> DecoderModel::DescribeKernels() const {
  const ModelConfig& c = config_;
  std::vector<std::string> lines;
  // "<kind> [in -> out] <weight dtype>: <implementation>" for layer 0, then
  // "layer <i> <kind> ..." for any later layer that differs (mixed-type files).
  const auto add = [&](const std::string& name, int64_t in, int64_t out, const std::string& dtype,
                       const std::string& impl) {
    lines.push_back(absl::StrCat(name, " [", in, " -> ", out, "] ", dtype, ": ", impl));
  };
  const auto add_linear = [&](const std::string& name, const Linear& l) {
    add(name, l.in_features(), l.out_features(), std::string(DTypeName(l.weight_dtype())),
        l.implementation());
  };
  const auto add_stacked = [&](const std::string& name, const StackedLinear& l) {
    std::string dtype;
    if (l.fused) {
      dtype = std::string(DTypeName(l.fused->weight_dtype()));
    } else {
      for (const auto& p : l.parts) {
        absl::StrAppend(&dtype, dtype.empty() ? "" : " + ", std::string(DTypeName(p->weight_dtype())));
      }
    }
    add(name, l.in_features(), l.out_features(), dtype, l.implementation());
  };
  const char* up = c.mlp == MlpKind::kSwiGLU ? "gate_up" : "mlp_up";
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const Layer& first = layers_[0];
    const std::string prefix = i == 0 ? "" : absl::StrCat("layer ", i, " ");
    if (i == 0 || l.qkv.implementation() != first.qkv.implementation()) add_stacked(prefix + "qkv", l.qkv);
    if (i == 0 || l.o->implementation() != first.o->implementation()) add_linear(prefix + "attn_out", *l.o);
    if (i == 0 || l.gate_up.implementation() != first.gate_up.implementation()) {
      add_stacked(prefix + up, l.gate_up);
    }
    if (i == 0 || l.down->implementation() != first.down->implementation()) {
      add_linear(prefix + "mlp_down", *l.down);
    }
  }
  add_linear("lm_head", *lm_head_);
  lines.push_back(absl::StrCat("attention: paged ", PagedAttentionKernelName()));
  return lines;
}

absl::Status DecoderModel::Forward(const ForwardInput& in, KVCache& cache, float* logits) {
  const ModelConfig& c = config_;
  const int64_t t = in.num_tokens;
  if (t <= 0 || t > options_.max_num_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_tokens ", t, " outside 1..", options_.max_num_tokens));
  }
  if (in.num_logits < 0 || in.num_logits > options_.max_num_logits) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_logits ", in.num_logits, " outside 0..", options_.max_num_logits));
  }
  for (int64_t i = 0; i < t; ++i) {
    if (in.token_ids[i] < 0 || in.token_ids[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", in.token_ids[i],
                                                     " outside the vocabulary (", c.vocab_size, ")"));
    }
    if (in.positions[i] < 0 || in.positions[i] >= c.max_context) {
      return absl::InvalidArgumentError(
          absl::StrCat("position ", in.positions[i], " outside the context (", c.max_context, ")"));
    }
  }
  for (int i = 0; i < in.num_logits; ++i) {
    if (in.logits_indices[i] < 0 || in.logits_indices[i] >= t) {
      return absl::InvalidArgumentError(absl::StrCat("logits index ", in.logits_indices[i],
                                                     " outside the ", t, " tokens"));
    }
  }

  const int64_t hidden = c.hidden_size;
  const int64_t qkv_size = c.qkv_size();
  const int64_t q_size = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv_size = int64_t{c.num_kv_heads} * c.head_dim;
  const AttentionDims dims{c.num_heads, c.num_kv_heads, c.head_dim, cache.shape().block_size,
                           1.0f / std::sqrt(static_cast<float>(c.head_dim))};

  EmbedTokens(in.token_ids, in.positions, t, x_.data());

  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    NormStacked(layer.qkv, x_.data(), layer.attn_norm_weight, layer.attn_norm_bias, t, h_.data(),
               qkv_.data());
    if (c.position == PositionKind::kRotary) {
      ApplyRope(qkv_.data(), qkv_size, t, in.positions, c.num_heads, c.num_kv_heads, c.head_dim,
                c.rope_style, rope_table_.data());
    }
    const int li = static_cast<int>(l);
    if (cache.dtype() == DType::kBF16) {
      uint16_t* key_pool = cache.key_pool_bf16(li);
      uint16_t* value_pool = cache.value_pool_bf16(li);
      WriteKVCache(qkv_.data() + q_size, qkv_.data() + q_size + kv_size, qkv_size,
                   static_cast<int>(t), in.slot_mapping, dims, key_pool, value_pool);
      PagedAttention(qkv_.data(), qkv_size, in.attention, dims, key_pool, value_pool, attn_.data());
    } else {
      float* key_pool = cache.key_pool(li);
      float* value_pool = cache.value_pool(li);
      WriteKVCache(qkv_.data() + q_size, qkv_.data() + q_size + kv_size, qkv_size,
                   static_cast<int>(t), in.slot_mapping, dims, key_pool, value_pool);
      PagedAttention(qkv_.data(), qkv_size, in.attention, dims, key_pool, value_pool, attn_.data());
    }
    layer.o->Forward(attn_.data(), t, x_.data());  // x += attn · Woᵀ (+ b)

    NormStacked(layer.gate_up, x_.data(), layer.mlp_norm_weight, layer.mlp_norm_bias, t,
               h_.data(), mlp_.data());
    const bool down_bf16 = layer.down->input_dtype() == DType::kBF16;
    if (c.mlp == MlpKind::kSwiGLU && down_bf16) {
      SiluAndMulToBf16(mlp_.data(), t, c.ffn_size, act16_.data());
      layer.down->ForwardBf16(act16_.data(), t, x_.data());
    } else if (c.mlp == MlpKind::kSwiGLU) {
      SiluAndMul(mlp_.data(), t, c.ffn_size, act_.data());
      layer.down->Forward(act_.data(), t, x_.data());
    } else if (down_bf16) {
      GeluTanhToBf16(mlp_.data(), t * c.ffn_size, act16_.data());
      layer.down->ForwardBf16(act16_.data(), t, x_.data());
    } else {
      GeluTanh(mlp_.data(), t * c.ffn_size);
      layer.down->Forward(mlp_.data(), t, x_.data());
    }
  }

  if (in.num_logits == 0) return absl::OkStatus();
  for (int i = 0; i < in.num_logits; ++i) {
    std::copy_n(x_.data() + int64_t{in.logits_indices[i]} * hidden, hidden,
                final_.data() + int64_t{i} * hidden);
  }
  NormLinear(*lm_head_, final_.data(), final_norm_weight_, final_norm_bias_, in.num_logits,
             final_.data(), logits);
  return absl::OkStatus();
}

}  // namespace llmserve
