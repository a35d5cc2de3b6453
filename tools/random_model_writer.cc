#include "tools/random_model_writer.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace llmserve::tools {
namespace {

// Fast reproducible N(0, stddev²)-ish values: sum of uniforms (Irwin–Hall, 4
// terms), good enough for weights whose values do not matter.
class WeightSource {
 public:
  explicit WeightSource(uint64_t seed) : rng_(seed) {}
  float Next(float stddev) {
    float s = 0;
    for (int i = 0; i < 4; ++i) s += static_cast<float>(rng_() >> 40) * (1.0f / 16777216.0f);
    return (s - 2.0f) * 1.7320508f * stddev;  // variance of the sum is 4/12
  }

 private:
  std::mt19937_64 rng_;
};

class Writer {
 public:
  explicit Writer(const std::string& path) : out_(path, std::ios::binary | std::ios::trunc) {}
  bool ok() const { return static_cast<bool>(out_); }
  void Raw(const void* p, std::size_t n) { out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); }
  // Writes n values in `dtype`: random N(0, stddev²), or `constant` if stddev == 0.
  void Values(WeightSource& src, int64_t n, float stddev, float constant, DType dtype) {
    std::vector<float> buf;
    std::vector<uint16_t> half;
    constexpr int64_t kChunk = 1 << 20;
    for (int64_t done = 0; done < n; done += kChunk) {
      const int64_t m = std::min(kChunk, n - done);
      buf.resize(static_cast<std::size_t>(m));
      for (float& v : buf) v = stddev > 0 ? src.Next(stddev) : constant;
      if (dtype == DType::kBF16) {
        half.resize(buf.size());
        for (std::size_t i = 0; i < buf.size(); ++i) half[i] = FloatToBFloat16(buf[i]);
        Raw(half.data(), half.size() * 2);
      } else {
        Raw(buf.data(), buf.size() * 4);
      }
    }
  }

 private:
  std::ofstream out_;
};

}  // namespace

absl::Status WriteRandomLlama2c(const RandomModelShape& s, const std::string& path) {
  Writer w(path);
  if (!w.ok()) return absl::InternalError(absl::StrCat("cannot write ", path));
  const int32_t header[7] = {s.hidden, s.ffn, s.layers, s.heads, s.kv_heads, s.vocab, s.context};
  w.Raw(header, sizeof(header));
  WeightSource src(s.seed);
  const int64_t d = s.hidden, kv = int64_t{s.hidden} / s.heads * s.kv_heads, f = s.ffn, l = s.layers;
  const int64_t head_dim = d / s.heads;
  w.Values(src, int64_t{s.vocab} * d, 0.02f, 0, DType::kF32);  // token embedding
  w.Values(src, l * d, 0, 1.0f, DType::kF32);                   // rms_att
  w.Values(src, l * d * d, 0.02f, 0, DType::kF32);              // wq
  w.Values(src, 2 * l * kv * d, 0.02f, 0, DType::kF32);         // wk, wv
  w.Values(src, l * d * d, 0.02f, 0, DType::kF32);              // wo
  w.Values(src, l * d, 0, 1.0f, DType::kF32);                   // rms_ffn
  w.Values(src, 3 * l * f * d, 0.02f, 0, DType::kF32);          // w1, w2, w3
  w.Values(src, d, 0, 1.0f, DType::kF32);                       // rms_final
  w.Values(src, int64_t{s.context} * head_dim, 0, 0.0f, DType::kF32);  // unused RoPE tables
  if (!w.ok()) return absl::InternalError(absl::StrCat("write failed: ", path));
  return absl::OkStatus();
}

absl::Status WriteRandomGpt2(const RandomModelShape& s, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const int64_t d = s.hidden, inner = s.ffn > 0 ? s.ffn : 4 * s.hidden;
  nlohmann::json config = {{"architectures", {"GPT2LMHeadModel"}},
                           {"model_type", "gpt2"},
                           {"activation_function", "gelu_new"},
                           {"n_embd", s.hidden},
                           {"n_head", s.heads},
                           {"n_layer", s.layers},
                           {"n_positions", s.context},
                           {"n_ctx", s.context},
                           {"n_inner", inner},
                           {"vocab_size", s.vocab},
                           {"layer_norm_epsilon", 1e-5},
                           {"bos_token_id", s.vocab - 1},
                           {"eos_token_id", s.vocab - 1},
                           {"tie_word_embeddings", true},
                           {"torch_dtype", s.dtype == DType::kBF16 ? "bfloat16" : "float32"}};
  std::ofstream(dir + "/config.json") << config.dump(2) << "\n";

  // (name, shape, stddev, constant) in file order.
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    float stddev, constant;
  };
  std::vector<Tensor> tensors = {{"wte.weight", {s.vocab, d}, 0.02f, 0},
                                 {"wpe.weight", {s.context, d}, 0.01f, 0}};
  for (int i = 0; i < s.layers; ++i) {
    const std::string p = absl::StrCat("h.", i, ".");
    tensors.push_back({p + "ln_1.weight", {d}, 0, 1});
    tensors.push_back({p + "ln_1.bias", {d}, 0, 0});
    tensors.push_back({p + "attn.c_attn.weight", {d, 3 * d}, 0.02f, 0});
    tensors.push_back({p + "attn.c_attn.bias", {3 * d}, 0, 0});
    tensors.push_back({p + "attn.c_proj.weight", {d, d}, 0.02f, 0});
    tensors.push_back({p + "attn.c_proj.bias", {d}, 0, 0});
    tensors.push_back({p + "ln_2.weight", {d}, 0, 1});
    tensors.push_back({p + "ln_2.bias", {d}, 0, 0});
    tensors.push_back({p + "mlp.c_fc.weight", {d, inner}, 0.02f, 0});
    tensors.push_back({p + "mlp.c_fc.bias", {inner}, 0, 0});
    tensors.push_back({p + "mlp.c_proj.weight", {inner, d}, 0.02f, 0});
    tensors.push_back({p + "mlp.c_proj.bias", {d}, 0, 0});
  }
  tensors.push_back({"ln_f.weight", {d}, 0, 1});
  tensors.push_back({"ln_f.bias", {d}, 0, 0});

  const int64_t elem = static_cast<int64_t>(DTypeSize(s.dtype));
  nlohmann::json header = nlohmann::json::object();
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    int64_t n = 1;
    for (int64_t x : t.shape) n *= x;
    header[t.name] = {{"dtype", s.dtype == DType::kBF16 ? "BF16" : "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + n * elem}}};
    offset += n * elem;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // align the data section
  const std::string path = dir + "/model.safetensors";
  Writer w(path);
  if (!w.ok()) return absl::InternalError(absl::StrCat("cannot write ", path));
  const uint64_t header_len = header_text.size();
  w.Raw(&header_len, 8);
  w.Raw(header_text.data(), header_text.size());
  WeightSource src(s.seed);
  for (const Tensor& t : tensors) {
    int64_t n = 1;
    for (int64_t x : t.shape) n *= x;
    w.Values(src, n, t.stddev, t.constant, s.dtype);
  }
  if (!w.ok()) return absl::InternalError(absl::StrCat("write failed: ", path));
  return absl::OkStatus();
}

}  // namespace llmserve::tools
