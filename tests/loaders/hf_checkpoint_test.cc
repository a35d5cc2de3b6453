#include "engine/loaders/hf_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/loaders/hf_config.h"
#include "nlohmann/json.hpp"
#include "tests/loaders/tiny_configs.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::TinyLlamaConfig;

using ::llmserve::testing::MakeTempDir;
using ::llmserve::testing::ReadFile;
using ::llmserve::testing::SharedPath;
using ::llmserve::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// --- Independent readers ------------------------------------------------------

// The raw bytes of each tensor of a safetensors file, read with nlohmann alone.
struct RawTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};
std::map<std::string, RawTensor> ReadRawSafetensors(const std::string& path) {
  const std::string raw = ReadFile(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(raw.substr(8, n));
  std::map<std::string, RawTensor> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const uint64_t begin = info["data_offsets"][0], end = info["data_offsets"][1];
    out[name] = {info["dtype"], info["shape"].get<std::vector<int64_t>>(),
                 raw.substr(8 + n + begin, end - begin)};
  }
  return out;
}

uint16_t Bits16(const std::string& bytes, int64_t index) {
  uint16_t v;
  std::memcpy(&v, bytes.data() + index * 2, 2);
  return v;
}
uint16_t Bits16(const HostTensor& t, int64_t index) {
  uint16_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(t.data) + index * 2, 2);
  return v;
}

std::vector<float> Floats(const HostTensor& t) { return t.ToFloat(); }

// llama2.c legacy v0 (run.c: config header of 7 int32, then f32 tensors in
// order token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final).
struct Llama2c {
  int dim, hidden, layers, heads, kv_heads, vocab, seq_len;
  std::vector<float> embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final;
};
Llama2c ReadLlama2c(const std::string& path) {
  const std::string raw = ReadFile(path);
  Llama2c m;
  int32_t h[7];
  std::memcpy(h, raw.data(), sizeof(h));
  m.dim = h[0], m.hidden = h[1], m.layers = h[2], m.heads = h[3], m.kv_heads = h[4],
  m.vocab = h[5], m.seq_len = h[6];
  const int kv_dim = m.dim / m.heads * m.kv_heads;
  std::size_t offset = sizeof(h);
  auto take = [&](std::vector<float>& v, std::size_t n) {
    v.resize(n);
    std::memcpy(v.data(), raw.data() + offset, n * 4);
    offset += n * 4;
  };
  const std::size_t L = m.layers, D = m.dim, F = m.hidden;
  take(m.embedding, m.vocab * D);
  take(m.rms_att, L * D);
  take(m.wq, L * D * D);
  take(m.wk, L * kv_dim * D);
  take(m.wv, L * kv_dim * D);
  take(m.wo, L * D * D);
  take(m.rms_ffn, L * D);
  take(m.w1, L * F * D);
  take(m.w2, L * D * F);
  take(m.w3, L * F * D);
  take(m.rms_final, D);
  return m;
}

std::vector<float> Part(const std::vector<float>& all, int layer, std::size_t per_layer) {
  return std::vector<float>(all.begin() + layer * per_layer, all.begin() + (layer + 1) * per_layer);
}

// HF's convert_llama_weights_to_hf.py `permute`: row (head h, pair i, member j)
// of the interleaved layout moves to h*hd + j*hd/2 + i.
std::vector<float> PermuteForRotateHalf(const std::vector<float>& w, int heads, int rows,
                                        int cols) {
  const int hd = rows / heads;
  std::vector<float> out(w.size());
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < hd / 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const int src = h * hd + 2 * i + j, dst = h * hd + j * hd / 2 + i;
        std::copy(w.begin() + src * cols, w.begin() + (src + 1) * cols, out.begin() + dst * cols);
      }
    }
  }
  return out;
}

// --- Real checkpoints ---------------------------------------------------------

TEST(HfCheckpointTest, Stories260KConfig) {
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(SharedPath("models/stories260K-hf"));
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelConfig& c = w->config;
  EXPECT_EQ(c.name, "stories260K-hf");
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.ffn_size, 172);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_context, 512);
  EXPECT_EQ(c.norm, NormKind::kRMSNorm);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.position, PositionKind::kRotary);
  EXPECT_EQ(c.rope_style, RopeStyle::kHalf);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.mlp, MlpKind::kSwiGLU);
  EXPECT_TRUE(c.tied_lm_head);
  EXPECT_FALSE(c.linear_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2));
  EXPECT_TRUE(w->lm_head.empty());
  EXPECT_TRUE(w->position_embedding.empty());
  EXPECT_TRUE(w->layers[0].bq.empty());
  EXPECT_TRUE(w->Validate().ok());
}

TEST(HfCheckpointTest, Stories260KEqualsLlama2cUnderRotateHalfPermutation) {
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(SharedPath("models/stories260K-hf"));
  ASSERT_TRUE(w.ok()) << w.status();
  const Llama2c m = ReadLlama2c(SharedPath("models/stories260K/stories260K.bin"));
  ASSERT_EQ(m.dim, 64);
  ASSERT_EQ(m.layers, 5);
  const int D = m.dim, F = m.hidden, KV = D / m.heads * m.kv_heads;
  EXPECT_EQ(Floats(w->token_embedding), m.embedding);
  EXPECT_EQ(Floats(w->final_norm_weight), m.rms_final);
  bool permutation_matters = false;
  for (int l = 0; l < m.layers; ++l) {
    SCOPED_TRACE(l);
    const DecoderLayerWeights& L = w->layers[l];
    EXPECT_EQ(Floats(L.attn_norm_weight), Part(m.rms_att, l, D));
    EXPECT_EQ(Floats(L.wq), PermuteForRotateHalf(Part(m.wq, l, D * D), m.heads, D, D));
    EXPECT_EQ(Floats(L.wk), PermuteForRotateHalf(Part(m.wk, l, KV * D), m.kv_heads, KV, D));
    permutation_matters |= Floats(L.wq) != Part(m.wq, l, D * D);
    EXPECT_EQ(Floats(L.wv), Part(m.wv, l, KV * D));
    EXPECT_EQ(Floats(L.wo), Part(m.wo, l, D * D));
    EXPECT_EQ(Floats(L.mlp_norm_weight), Part(m.rms_ffn, l, D));
    EXPECT_EQ(Floats(L.w_gate), Part(m.w1, l, F * D));
    EXPECT_EQ(Floats(L.w_down), Part(m.w2, l, D * F));
    EXPECT_EQ(Floats(L.w_up), Part(m.w3, l, F * D));
  }
  EXPECT_TRUE(permutation_matters);
}

TEST(HfCheckpointTest, Gpt2TinyRandomConfigAndConv1DTransposes) {
  const std::string dir = SharedPath("models/gpt2-tiny-random");
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelConfig& c = w->config;
  EXPECT_EQ(c.architecture, "gpt2");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.ffn_size, 256);
  EXPECT_EQ(c.vocab_size, 50257);
  EXPECT_EQ(c.max_context, 128);
  EXPECT_EQ(c.norm, NormKind::kLayerNorm);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.position, PositionKind::kLearned);
  EXPECT_EQ(c.mlp, MlpKind::kGelu);
  EXPECT_TRUE(c.linear_bias);
  EXPECT_TRUE(c.tied_lm_head);
  EXPECT_EQ(c.bos_token_id, 50256);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(50256));

  const auto raw = ReadRawSafetensors(dir + "/model.safetensors");
  const int E = 64, F = 256;
  EXPECT_EQ(w->token_embedding.dtype, DType::kF16);
  EXPECT_EQ(w->token_embedding.shape, (std::vector<int64_t>{50257, E}));
  EXPECT_EQ(std::memcmp(w->token_embedding.data, raw.at("wte.weight").bytes.data(),
                        raw.at("wte.weight").bytes.size()),
            0);
  EXPECT_EQ(std::memcmp(w->position_embedding.data, raw.at("wpe.weight").bytes.data(),
                        raw.at("wpe.weight").bytes.size()),
            0);
  for (int l = 0; l < 2; ++l) {
    SCOPED_TRACE(l);
    const DecoderLayerWeights& L = w->layers[l];
    const std::string p = "h." + std::to_string(l) + ".";
    const std::string& c_attn = raw.at(p + "attn.c_attn.weight").bytes;  // [E, 3E]
    const std::string& c_attn_b = raw.at(p + "attn.c_attn.bias").bytes;
    const std::string& attn_proj = raw.at(p + "attn.c_proj.weight").bytes;  // [E, E]
    const std::string& fc = raw.at(p + "mlp.c_fc.weight").bytes;            // [E, F]
    const std::string& mlp_proj = raw.at(p + "mlp.c_proj.weight").bytes;    // [F, E]
    for (const HostTensor* t : {&L.wq, &L.wk, &L.wv, &L.wo}) {
      EXPECT_EQ(t->dtype, DType::kF16);
      EXPECT_EQ(t->shape, (std::vector<int64_t>{E, E}));
    }
    EXPECT_EQ(L.w_up.shape, (std::vector<int64_t>{F, E}));
    EXPECT_EQ(L.w_down.shape, (std::vector<int64_t>{E, F}));
    int mismatches = 0;
    for (int r = 0; r < E; ++r) {
      for (int k = 0; k < E; ++k) {
        mismatches += Bits16(L.wq, r * E + k) != Bits16(c_attn, k * 3 * E + r);
        mismatches += Bits16(L.wk, r * E + k) != Bits16(c_attn, k * 3 * E + E + r);
        mismatches += Bits16(L.wv, r * E + k) != Bits16(c_attn, k * 3 * E + 2 * E + r);
        mismatches += Bits16(L.wo, r * E + k) != Bits16(attn_proj, k * E + r);
      }
      mismatches += Bits16(L.bq, r) != Bits16(c_attn_b, r);
      mismatches += Bits16(L.bk, r) != Bits16(c_attn_b, E + r);
      mismatches += Bits16(L.bv, r) != Bits16(c_attn_b, 2 * E + r);
      for (int k = 0; k < F; ++k) {
        mismatches += Bits16(L.w_up, k * E + r) != Bits16(fc, r * F + k);
        mismatches += Bits16(L.w_down, r * F + k) != Bits16(mlp_proj, k * E + r);
      }
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(std::memcmp(L.b_up.data, raw.at(p + "mlp.c_fc.bias").bytes.data(), F * 2), 0);
    EXPECT_EQ(std::memcmp(L.attn_norm_bias.data, raw.at(p + "ln_1.bias").bytes.data(), E * 2), 0);
  }
}

// --- Synthetic checkpoints ----------------------------------------------------

struct Tensor {
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::string bytes;
};
using TensorMap = std::map<std::string, Tensor>;

// Values seed*1000 + k, exactly representable in f32.
Tensor F32Tensor(std::vector<int64_t> shape, int seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(n);
  for (int64_t k = 0; k < n; ++k) v[k] = static_cast<float>(seed * 1000 + k);
  return {"F32", shape, std::string(reinterpret_cast<const char*>(v.data()), n * 4)};
}

std::string SafetensorsBytes(const TensorMap& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", t.dtype},
                    {"shape", t.shape},
                    {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return len + text + data;
}


TensorMap TinyLlamaTensors() {
  TensorMap t;
  int seed = 1;
  t["model.embed_tokens.weight"] = F32Tensor({16, 8}, seed++);
  t["model.norm.weight"] = F32Tensor({8}, seed++);
  t["lm_head.weight"] = F32Tensor({16, 8}, seed++);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = F32Tensor({8}, seed++);
    t[p + "self_attn.q_proj.weight"] = F32Tensor({8, 8}, seed++);
    t[p + "self_attn.k_proj.weight"] = F32Tensor({4, 8}, seed++);
    t[p + "self_attn.v_proj.weight"] = F32Tensor({4, 8}, seed++);
    t[p + "self_attn.o_proj.weight"] = F32Tensor({8, 8}, seed++);
    t[p + "post_attention_layernorm.weight"] = F32Tensor({8}, seed++);
    t[p + "mlp.gate_proj.weight"] = F32Tensor({12, 8}, seed++);
    t[p + "mlp.up_proj.weight"] = F32Tensor({12, 8}, seed++);
    t[p + "mlp.down_proj.weight"] = F32Tensor({8, 12}, seed++);
  }
  return t;
}

// Tiny GPT-2 with the `transformer.` prefix and the old attention-mask buffers:
// n_embd 8, 2 heads, 2 layers, 16 positions, vocab 20, n_inner null (→ 32).
nlohmann::json TinyGpt2Config() {
  return {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"n_embd", 8},
          {"n_head", 2},  {"n_layer", 2},  {"n_positions", 16},  {"vocab_size", 20},
          {"n_inner", nullptr}, {"activation_function", "gelu_new"},
          {"layer_norm_epsilon", 1e-5}, {"bos_token_id", 19}, {"eos_token_id", 19}};
}

TensorMap TinyGpt2Tensors() {
  TensorMap t;
  int seed = 1;
  t["transformer.wte.weight"] = F32Tensor({20, 8}, seed++);
  t["transformer.wpe.weight"] = F32Tensor({16, 8}, seed++);
  t["transformer.ln_f.weight"] = F32Tensor({8}, seed++);
  t["transformer.ln_f.bias"] = F32Tensor({8}, seed++);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    t[p + "ln_1.weight"] = F32Tensor({8}, seed++);
    t[p + "ln_1.bias"] = F32Tensor({8}, seed++);
    t[p + "attn.c_attn.weight"] = F32Tensor({8, 24}, 0);  // value = in * 24 + out
    t[p + "attn.c_attn.bias"] = F32Tensor({24}, seed++);
    t[p + "attn.c_proj.weight"] = F32Tensor({8, 8}, seed++);
    t[p + "attn.c_proj.bias"] = F32Tensor({8}, seed++);
    t[p + "ln_2.weight"] = F32Tensor({8}, seed++);
    t[p + "ln_2.bias"] = F32Tensor({8}, seed++);
    t[p + "mlp.c_fc.weight"] = F32Tensor({8, 32}, seed++);
    t[p + "mlp.c_fc.bias"] = F32Tensor({32}, seed++);
    t[p + "mlp.c_proj.weight"] = F32Tensor({32, 8}, seed++);
    t[p + "mlp.c_proj.bias"] = F32Tensor({8}, seed++);
    t[p + "attn.bias"] = F32Tensor({1, 1, 16, 16}, seed++);
    t[p + "attn.masked_bias"] = F32Tensor({}, seed++);
  }
  return t;
}

std::string WriteModelDir(const nlohmann::json& config, const TensorMap& tensors,
                          const std::string& generation_config = "") {
  const std::string dir = MakeTempDir("hf-checkpoint");
  EXPECT_TRUE(WriteFile(dir + "/config.json", config.dump(2)));
  EXPECT_TRUE(WriteFile(dir + "/model.safetensors", SafetensorsBytes(tensors)));
  if (!generation_config.empty()) {
    EXPECT_TRUE(WriteFile(dir + "/generation_config.json", generation_config));
  }
  return dir;
}

std::vector<float> Expected(const TensorMap& t, const std::string& name) {
  const std::string& b = t.at(name).bytes;
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

TEST(HfCheckpointTest, TinyLlamaLoadsUntiedHeadAsViews) {
  const TensorMap tensors = TinyLlamaTensors();
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyLlamaConfig(), tensors));
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelConfig& c = w->config;
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_FALSE(c.tied_lm_head);
  EXPECT_EQ(Floats(w->lm_head), Expected(tensors, "lm_head.weight"));
  EXPECT_EQ(Floats(w->layers[1].wk), Expected(tensors, "model.layers.1.self_attn.k_proj.weight"));
  EXPECT_EQ(Floats(w->layers[1].w_down), Expected(tensors, "model.layers.1.mlp.down_proj.weight"));
  EXPECT_EQ(Floats(w->layers[0].w_gate), Expected(tensors, "model.layers.0.mlp.gate_proj.weight"));
  // Zero-copy: one mapping holds both tensors, so they share the owner.
  EXPECT_EQ(w->layers[0].wq.owner, w->token_embedding.owner);
}

TEST(HfCheckpointTest, TiedConfigDropsLmHeadTensor) {
  nlohmann::json config = TinyLlamaConfig();
  config["tie_word_embeddings"] = true;
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(config, TinyLlamaTensors()));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(w->config.tied_lm_head);
  EXPECT_TRUE(w->lm_head.empty());

  // ... but it must still have the right shape.
  TensorMap tensors = TinyLlamaTensors();
  tensors["lm_head.weight"] = F32Tensor({16, 4}, 7);
  absl::StatusOr<ModelWeights> bad = LoadHfCheckpoint(WriteModelDir(config, tensors));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'lm_head.weight' has shape [16, 4], expected [16, 8]"));
}

TEST(HfCheckpointTest, KeepsHalfPrecisionDtypes) {
  TensorMap tensors = TinyLlamaTensors();
  tensors["model.layers.0.self_attn.q_proj.weight"] = {"BF16", {8, 8}, std::string(128, '\x3f')};
  tensors["model.norm.weight"] = {"F16", {8}, std::string(16, '\x3c')};
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyLlamaConfig(), tensors));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->layers[0].wq.dtype, DType::kBF16);
  EXPECT_EQ(w->final_norm_weight.dtype, DType::kF16);
  EXPECT_EQ(Bits16(w->layers[0].wq, 5), 0x3f3f);
}

TEST(HfCheckpointTest, IgnoresRotaryBuffersAndAcceptsShards) {
  TensorMap tensors = TinyLlamaTensors();
  tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = F32Tensor({2}, 99);
  const std::string dir = MakeTempDir("hf-sharded");
  TensorMap shard1, shard2;
  nlohmann::json weight_map = nlohmann::json::object();
  for (const auto& [name, t] : tensors) {
    const bool first = name.find("layers.1.") == std::string::npos;
    (first ? shard1 : shard2)[name] = t;
    weight_map[name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  ASSERT_TRUE(WriteFile(dir + "/config.json", TinyLlamaConfig().dump()));
  ASSERT_TRUE(WriteFile(dir + "/model-00001-of-00002.safetensors", SafetensorsBytes(shard1)));
  ASSERT_TRUE(WriteFile(dir + "/model-00002-of-00002.safetensors", SafetensorsBytes(shard2)));
  ASSERT_TRUE(WriteFile(dir + "/model.safetensors.index.json",
                        nlohmann::json{{"weight_map", weight_map}}.dump()));
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(Floats(w->layers[1].wv), Expected(tensors, "model.layers.1.self_attn.v_proj.weight"));

  // The index now names a shard that is not there.
  weight_map["model.layers.1.self_attn.v_proj.weight"] = "model-00003-of-00003.safetensors";
  ASSERT_TRUE(WriteFile(dir + "/model.safetensors.index.json",
                        nlohmann::json{{"weight_map", weight_map}}.dump()));
  absl::StatusOr<ModelWeights> bad = LoadHfCheckpoint(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("model-00003-of-00003.safetensors"));
  EXPECT_THAT(bad.status().message(), HasSubstr("model.layers.1.self_attn.v_proj.weight"));
}

TEST(HfCheckpointTest, RejectsBadTensorsNamingThem) {
  struct Case {
    std::string label;
    std::function<void(TensorMap&)> mutate;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"missing tensor",
       [](TensorMap& t) { t.erase("model.layers.1.mlp.up_proj.weight"); },
       {"missing tensor 'model.layers.1.mlp.up_proj.weight'", "[12, 8]"}},
      {"missing untied head", [](TensorMap& t) { t.erase("lm_head.weight"); },
       {"missing tensor 'lm_head.weight'"}},
      {"extra layer",
       [](TensorMap& t) { t["model.layers.2.input_layernorm.weight"] = F32Tensor({8}, 5); },
       {"unexpected tensor 'model.layers.2.input_layernorm.weight'"}},
      {"unknown tensor", [](TensorMap& t) { t["model.layers.0.self_attn.q_proj.bias"] = F32Tensor({8}, 5); },
       {"unexpected tensor 'model.layers.0.self_attn.q_proj.bias'"}},
      {"wrong shape",
       [](TensorMap& t) { t["model.layers.0.self_attn.k_proj.weight"] = F32Tensor({8, 8}, 5); },
       {"'model.layers.0.self_attn.k_proj.weight' has shape [8, 8], expected [4, 8]",
        "model.safetensors"}},
      {"transposed",
       [](TensorMap& t) { t["model.layers.0.mlp.down_proj.weight"] = F32Tensor({12, 8}, 5); },
       {"'model.layers.0.mlp.down_proj.weight' has shape [12, 8], expected [8, 12]"}},
      {"unsupported dtype",
       [](TensorMap& t) { t["model.norm.weight"] = {"I32", {8}, std::string(32, '\0')}; },
       {"'model.norm.weight'", "I32"}},
      {"f64", [](TensorMap& t) { t["model.norm.weight"] = {"F64", {8}, std::string(64, '\0')}; },
       {"'model.norm.weight'", "F64"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TensorMap tensors = TinyLlamaTensors();
    c.mutate(tensors);
    absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyLlamaConfig(), tensors));
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << w.status();
    for (const std::string& s : c.expected) EXPECT_THAT(w.status().message(), HasSubstr(s));
  }
}

TEST(HfCheckpointTest, FileErrors) {
  const std::string dir = MakeTempDir("hf-files");
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("config.json"));

  ASSERT_TRUE(WriteFile(dir + "/config.json", TinyLlamaConfig().dump()));
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("model.safetensors"));

  ASSERT_TRUE(WriteFile(dir + "/model.safetensors", std::string("\x10\0\0\0", 4)));
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("too short"));

  // Config errors pass through, naming the file and the field.
  nlohmann::json config = TinyLlamaConfig();
  config["hidden_act"] = "relu";
  ASSERT_TRUE(WriteFile(dir + "/config.json", config.dump()));
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("config.json: field 'hidden_act'"));
}

TEST(HfCheckpointTest, TinyGpt2SplitsAndTransposesConv1D) {
  const TensorMap tensors = TinyGpt2Tensors();
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyGpt2Config(), tensors));
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelConfig& c = w->config;
  EXPECT_EQ(c.ffn_size, 32);
  EXPECT_EQ(c.max_context, 16);
  EXPECT_TRUE(c.tied_lm_head);
  EXPECT_EQ(c.bos_token_id, 19);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(19));
  const DecoderLayerWeights& L = w->layers[1];
  // c_attn.weight[in][out] = in * 24 + out: wq[r][k] = k*24 + r, wk: + 8, wv: + 16.
  const std::vector<float> wq = Floats(L.wq), wk = Floats(L.wk), wv = Floats(L.wv);
  for (int r = 0; r < 8; ++r) {
    for (int k = 0; k < 8; ++k) {
      EXPECT_EQ(wq[r * 8 + k], k * 24 + r);
      EXPECT_EQ(wk[r * 8 + k], k * 24 + 8 + r);
      EXPECT_EQ(wv[r * 8 + k], k * 24 + 16 + r);
    }
  }
  const std::vector<float> bias = Expected(tensors, "transformer.h.1.attn.c_attn.bias");
  EXPECT_EQ(Floats(L.bq), std::vector<float>(bias.begin(), bias.begin() + 8));
  EXPECT_EQ(Floats(L.bk), std::vector<float>(bias.begin() + 8, bias.begin() + 16));
  EXPECT_EQ(Floats(L.bv), std::vector<float>(bias.begin() + 16, bias.end()));
  const std::vector<float> fc = Expected(tensors, "transformer.h.1.mlp.c_fc.weight");  // [8, 32]
  const std::vector<float> up = Floats(L.w_up);                                         // [32, 8]
  const std::vector<float> proj = Expected(tensors, "transformer.h.1.mlp.c_proj.weight");  // [32, 8]
  const std::vector<float> down = Floats(L.w_down);                                          // [8, 32]
  const std::vector<float> aproj = Expected(tensors, "transformer.h.1.attn.c_proj.weight");
  const std::vector<float> wo = Floats(L.wo);
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(up[j * 8 + i], fc[i * 32 + j]);
      EXPECT_EQ(down[i * 32 + j], proj[j * 8 + i]);
    }
    for (int j = 0; j < 8; ++j) EXPECT_EQ(wo[j * 8 + i], aproj[i * 8 + j]);
  }
  EXPECT_EQ(Floats(L.b_down), Expected(tensors, "transformer.h.1.mlp.c_proj.bias"));
  EXPECT_EQ(Floats(w->position_embedding), Expected(tensors, "transformer.wpe.weight"));
  EXPECT_EQ(Floats(w->final_norm_bias), Expected(tensors, "transformer.ln_f.bias"));
}

TEST(HfCheckpointTest, TinyGpt2Errors) {
  {
    TensorMap tensors = TinyGpt2Tensors();
    tensors.erase("transformer.ln_f.bias");
    absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyGpt2Config(), tensors));
    ASSERT_FALSE(w.ok());
    EXPECT_THAT(w.status().message(), HasSubstr("missing tensor 'transformer.ln_f.bias'"));
  }
  {
    TensorMap tensors = TinyGpt2Tensors();
    // A Conv1D weight in nn.Linear orientation is a shape error, not a silent transpose.
    tensors["transformer.h.0.mlp.c_fc.weight"] = F32Tensor({32, 8}, 3);
    absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyGpt2Config(), tensors));
    ASSERT_FALSE(w.ok());
    EXPECT_THAT(w.status().message(),
                HasSubstr("'transformer.h.0.mlp.c_fc.weight' has shape [32, 8], expected [8, 32]"));
  }
  {
    TensorMap tensors = TinyGpt2Tensors();
    tensors["transformer.h.0.attn.extra"] = F32Tensor({1}, 3);
    absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(TinyGpt2Config(), tensors));
    ASSERT_FALSE(w.ok());
    EXPECT_THAT(w.status().message(), HasSubstr("unexpected tensor 'transformer.h.0.attn.extra'"));
  }
  {
    nlohmann::json config = TinyGpt2Config();
    config["tie_word_embeddings"] = false;
    TensorMap tensors = TinyGpt2Tensors();
    absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(WriteModelDir(config, tensors));
    ASSERT_FALSE(w.ok());
    EXPECT_THAT(w.status().message(), HasSubstr("missing tensor 'lm_head.weight'"));
    tensors["lm_head.weight"] = F32Tensor({20, 8}, 77);
    w = LoadHfCheckpoint(WriteModelDir(config, tensors));
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(Floats(w->lm_head), Expected(tensors, "lm_head.weight"));
  }
}

}  // namespace
}  // namespace llmserve
