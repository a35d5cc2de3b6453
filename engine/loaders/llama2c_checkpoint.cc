#include "engine/loaders/llama2c_checkpoint.h"

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/common/mapped_file.h"

namespace llmserve {
namespace {

constexpr int64_t kHeaderBytes = 7 * 4;
// Generous bounds that keep every size product far from int64 overflow.
constexpr int64_t kMaxDim = 1 << 20;

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": invalid llama2.c checkpoint: ", what));
}

}  // namespace

absl::StatusOr<ModelWeights> LoadLlama2cCheckpoint(const std::string& path) {
  auto file_or = MappedFile::Open(path);
  if (!file_or.ok()) return file_or.status();
  std::shared_ptr<const MappedFile> file = *std::move(file_or);
  const int64_t file_size = static_cast<int64_t>(file->size());
  if (file_size < kHeaderBytes) {
    return Invalid(path, absl::StrCat("file is ", file_size, " bytes, shorter than the ",
                                      kHeaderBytes, "-byte header"));
  }
  int32_t header[7];
  std::memcpy(header, file->data(), sizeof(header));
  const int64_t dim = header[0], hidden = header[1], layers = header[2], heads = header[3],
                kv_heads = header[4], seq_len = header[6];
  const bool shared_classifier = header[5] > 0;
  const int64_t vocab = header[5] < 0 ? -static_cast<int64_t>(header[5]) : header[5];

  const std::pair<const char*, int64_t> fields[] = {
      {"dim", dim},           {"hidden_dim", hidden}, {"n_layers", layers}, {"n_heads", heads},
      {"n_kv_heads", kv_heads}, {"vocab_size", vocab}, {"seq_len", seq_len}};
  for (const auto& [name, v] : fields) {
    if (v <= 0 || v > kMaxDim) {
      return Invalid(path, absl::StrCat("header field ", name, " = ", v, " is out of range (1..",
                                        kMaxDim, ")"));
    }
  }
  if (layers > 4096) return Invalid(path, absl::StrCat("n_layers = ", layers, " is out of range"));
  if (dim % heads != 0) {
    return Invalid(path, absl::StrCat("dim ", dim, " is not divisible by n_heads ", heads));
  }
  if (kv_heads > heads || heads % kv_heads != 0) {
    return Invalid(path,
                   absl::StrCat("n_heads ", heads, " is not divisible by n_kv_heads ", kv_heads));
  }
  const int64_t head_dim = dim / heads;
  if (head_dim % 2 != 0) {
    return Invalid(path, absl::StrCat("head size ", head_dim, " is odd; RoPE needs it even"));
  }
  const int64_t kv_dim = kv_heads * head_dim;

  // Element counts in file order.
  const int64_t per_layer_elems = dim /*rms_att*/ + dim * dim /*wq*/ + 2 * kv_dim * dim /*wk,wv*/ +
                                  dim * dim /*wo*/ + dim /*rms_ffn*/ + 3 * hidden * dim /*w1,w2,w3*/;
  const int64_t total_elems = vocab * dim + layers * per_layer_elems + dim +
                              seq_len * head_dim /*two half tables*/ +
                              (shared_classifier ? 0 : vocab * dim);
  const int64_t expected = kHeaderBytes + total_elems * 4;
  if (file_size != expected) {
    return Invalid(path, absl::StrCat("the header (dim ", dim, ", hidden_dim ", hidden,
                                      ", n_layers ", layers, ", n_heads ", heads, ", n_kv_heads ",
                                      kv_heads, ", vocab_size ", header[5], ", seq_len ", seq_len,
                                      ") implies ", expected, " bytes but the file has ", file_size,
                                      file_size < expected ? " (truncated)" : " (trailing bytes)"));
  }

  ModelWeights w;
  ModelConfig& c = w.config;
  c.name = std::filesystem::path(path).stem().string();
  c.architecture = "llama";
  c.hidden_size = static_cast<int>(dim);
  c.num_layers = static_cast<int>(layers);
  c.num_heads = static_cast<int>(heads);
  c.num_kv_heads = static_cast<int>(kv_heads);
  c.head_dim = static_cast<int>(head_dim);
  c.ffn_size = static_cast<int>(hidden);
  c.vocab_size = static_cast<int>(vocab);
  c.max_context = static_cast<int>(seq_len);
  c.norm = NormKind::kRMSNorm;
  c.norm_eps = 1e-5f;
  c.position = PositionKind::kRotary;
  c.rope_style = RopeStyle::kInterleaved;
  c.rope_theta = 10000.0f;
  c.mlp = MlpKind::kSwiGLU;
  c.tied_lm_head = shared_classifier;
  c.linear_bias = false;
  c.bos_token_id = vocab > 1 ? 1 : -1;
  // run.c ends a sample when BOS (1) is produced: TinyStories-style models
  // separate documents with BOS. EOS (2) ends it too.
  for (int id : {1, 2}) {
    if (id < vocab) c.eos_token_ids.push_back(id);
  }

  const float* p = reinterpret_cast<const float*>(file->data() + kHeaderBytes);
  auto take = [&](std::vector<int64_t> shape) {
    HostTensor t = HostTensor::View(DType::kF32, std::move(shape), p, file);
    p += t.num_elements();
    return t;
  };
  // Per-layer tensors are stored layer-major per kind: [L, ...] blocks.
  auto take_layers = [&](std::vector<int64_t> shape, HostTensor DecoderLayerWeights::*member) {
    for (int64_t l = 0; l < layers; ++l) w.layers[l].*member = take(shape);
  };
  w.layers.resize(static_cast<std::size_t>(layers));
  w.token_embedding = take({vocab, dim});
  take_layers({dim}, &DecoderLayerWeights::attn_norm_weight);
  take_layers({dim, dim}, &DecoderLayerWeights::wq);
  take_layers({kv_dim, dim}, &DecoderLayerWeights::wk);
  take_layers({kv_dim, dim}, &DecoderLayerWeights::wv);
  take_layers({dim, dim}, &DecoderLayerWeights::wo);
  take_layers({dim}, &DecoderLayerWeights::mlp_norm_weight);
  take_layers({hidden, dim}, &DecoderLayerWeights::w_gate);
  take_layers({dim, hidden}, &DecoderLayerWeights::w_down);
  take_layers({hidden, dim}, &DecoderLayerWeights::w_up);
  w.final_norm_weight = take({dim});
  p += seq_len * head_dim;  // freq_cis_real, freq_cis_imag: unused (recomputed)
  if (!shared_classifier) w.lm_head = take({vocab, dim});

  if (auto s = w.Validate(); !s.ok()) {
    return Invalid(path, std::string(s.message()));
  }
  return w;
}

}  // namespace llmserve
