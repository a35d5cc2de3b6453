// The GGUF model reader (engine/loaders/gguf_model.h) on the shared files made
// by llama.cpp's tools — hyper-parameters, tensor views and dtypes, the fused
// GPT-2 QKV split, the tokenizer — and on copies of them patched to be wrong:
// an unknown architecture, tokenizer model or tensor type, a missing tensor, a
// tensor of the wrong shape, a truncated file. Each is an INVALID_ARGUMENT
// naming the key or tensor.
#include "engine/loaders/gguf_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::HasSubstr;

const char kStories[] = "models/stories260K-gguf/stories260K-f32.gguf";

std::string FileBytes(const char* relative) {
  return llmserve::testing::ReadFile(SharedPath(relative));
}

absl::StatusOr<GgufModel> FromBytes(const std::string& bytes) {
  auto copy = std::make_shared<std::string>(bytes);
  auto file = GgufFile::Parse(copy, reinterpret_cast<const uint8_t*>(copy->data()), copy->size(),
                              "patched.gguf");
  if (!file.ok()) return file.status();
  return GgufModelFromFile(*file);
}

// Replaces the first occurrence of `from` by `to` (same length) in `bytes`.
std::string Patch(std::string bytes, const std::string& from, const std::string& to) {
  EXPECT_EQ(from.size(), to.size());
  const std::size_t at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) bytes.replace(at, from.size(), to);
  return bytes;
}

// Overwrites a field of tensor info `name`: `field_offset` bytes after the end
// of its name (0: n_dims, 4: ne[0], 12: ne[1], ...).
template <typename T>
std::string PatchTensorField(std::string bytes, const std::string& name, std::size_t field_offset,
                             T value) {
  std::string needle = name;
  const std::size_t at = bytes.find(needle);
  EXPECT_NE(at, std::string::npos) << name;
  if (at != std::string::npos) {
    std::memcpy(bytes.data() + at + needle.size() + field_offset, &value, sizeof(T));
  }
  return bytes;
}

TEST(GgufModelTest, ReadsStoriesLlama) {
  auto m = LoadGgufModel(SharedPath(kStories));
  ASSERT_TRUE(m.ok()) << m.status();
  const ModelConfig& c = m->weights.config;
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.name, "stories260K-f32");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.ffn_size, 192);  // zero-padded from 172 (../shared/README.md)
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_context, 128);
  EXPECT_EQ(c.norm, NormKind::kRMSNorm);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tied_lm_head);  // the converter writes a separate output.weight
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(m->weights.layers[0].wk.shape, (std::vector<int64_t>{32, 64}));
  ASSERT_NE(m->tokenizer, nullptr);
  EXPECT_EQ(m->tokenizer->vocab_size(), 512);
  auto ids = m->tokenizer->Encode("Once upon a time", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 403, 407, 261, 378}));  // stories260K-greedy.json
}

TEST(GgufModelTest, KeepsQuantizedDTypesIncludingMixedOnes) {
  auto m = LoadGgufModel(SharedPath("models/random-llama-256-gguf/random-llama-256-q4_k_m.gguf"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->weights.token_embedding.dtype, DType::kQ4_K);
  EXPECT_EQ(m->weights.lm_head.dtype, DType::kQ6_K);
  bool mixed_qkv = false;
  for (const DecoderLayerWeights& l : m->weights.layers) {
    EXPECT_EQ(l.wq.dtype, DType::kQ4_K);
    mixed_qkv = mixed_qkv || l.wv.dtype != l.wq.dtype;
  }
  EXPECT_TRUE(mixed_qkv) << "Q4_K_M stores some attn_v in Q6_K";
}

TEST(GgufModelTest, SplitsGpt2FusedQkv) {
  auto m = LoadGgufModel(SharedPath("models/gpt2-tiny-random-gguf/gpt2-tiny-random-f16.gguf"));
  ASSERT_TRUE(m.ok()) << m.status();
  const ModelConfig& c = m->weights.config;
  EXPECT_EQ(c.architecture, "gpt2");
  EXPECT_EQ(c.norm, NormKind::kLayerNorm);
  EXPECT_EQ(c.position, PositionKind::kLearned);
  EXPECT_TRUE(c.linear_bias);
  EXPECT_EQ(c.vocab_size, 50257);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{50256});
  const DecoderLayerWeights& l = m->weights.layers[1];
  EXPECT_EQ(l.wq.shape, (std::vector<int64_t>{64, 64}));
  // q, k, v are consecutive row blocks of attn_qkv: views 64 rows apart.
  EXPECT_EQ(static_cast<const uint8_t*>(l.wk.data) - static_cast<const uint8_t*>(l.wq.data), 64 * 64 * 2);
  EXPECT_EQ(static_cast<const uint8_t*>(l.bv.data) - static_cast<const uint8_t*>(l.bk.data), 64 * 4);
  auto ids = m->tokenizer->Encode("Hello world", false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{15496, 995}));
}

// tokenizer.ggml.add_bos_token = false: Encode never prepends BOS. The key is
// inserted before the first key/value of a copy, with an empty string key
// "pad" that makes the insertion 64 bytes (a multiple of the alignment, so the
// tensor offsets stay valid).
TEST(GgufModelTest, AddBosTokenFalseIsHonoured) {
  std::string bytes = FileBytes(kStories);
  ASSERT_GT(bytes.size(), 24u);
  std::string kv;
  const auto put = [&](const auto& v) { kv.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  const std::string key = "tokenizer.ggml.add_bos_token";
  put(uint64_t{key.size()});
  kv += key;
  put(uint32_t{7});  // bool
  put(uint8_t{0});
  put(uint64_t{3});
  kv += "pad";
  put(uint32_t{8});  // string
  put(uint64_t{0});
  ASSERT_EQ(kv.size(), 64u);
  uint64_t count;
  std::memcpy(&count, bytes.data() + 16, 8);
  count += 2;
  std::memcpy(bytes.data() + 16, &count, 8);
  bytes.insert(24, kv);
  auto m = FromBytes(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  auto ids = m->tokenizer->Encode("Once upon a time", /*add_bos=*/true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{403, 407, 261, 378}));
}

TEST(GgufModelTest, PatchedFilesGiveErrorsNamingTheKeyOrTensor) {
  const std::string good = FileBytes(kStories);
  ASSERT_FALSE(good.empty());
  ASSERT_TRUE(FromBytes(good).ok());

  // The string value of a key: after the key, its uint32 type and uint64 length.
  const auto patch_value = [&](const std::string& key, const std::string& value) {
    std::string bytes = good;
    const std::size_t at = bytes.find(key);
    EXPECT_NE(at, std::string::npos);
    bytes.replace(at + key.size() + 12, value.size(), value);
    return bytes;
  };
  auto arch = FromBytes(patch_value("general.architecture", "llamb"));
  EXPECT_TRUE(absl::IsInvalidArgument(arch.status()));
  EXPECT_THAT(arch.status().message(), HasSubstr("general.architecture \"llamb\""));

  auto tokenizer = FromBytes(patch_value("tokenizer.ggml.model", "llamx"));
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("tokenizer.ggml.model"));
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("\"llamx\""));

  auto missing = FromBytes(Patch(good, "blk.0.ffn_up.weight", "blk.0.ffn_uq.weight"));
  EXPECT_THAT(missing.status().message(), HasSubstr("missing tensor \"blk.0.ffn_up.weight\""));

  // ne[1] of blk.0.attn_k.weight 32 → 16: a wrong shape (still inside the file).
  auto shape = FromBytes(PatchTensorField<uint64_t>(good, "blk.0.attn_k.weight", 12, 16));
  EXPECT_THAT(shape.status().message(), HasSubstr("\"blk.0.attn_k.weight\" has shape [16, 64]"));

  // Its type → Q4_1 (3), which llmserve does not read.
  auto type = FromBytes(PatchTensorField<uint32_t>(good, "blk.0.attn_k.weight", 20, 3));
  EXPECT_THAT(type.status().message(), HasSubstr("\"blk.0.attn_k.weight\""));
  EXPECT_THAT(type.status().message(), HasSubstr("Q4_1"));

  auto truncated = FromBytes(good.substr(0, good.size() - 100));
  EXPECT_THAT(truncated.status().message(), HasSubstr("runs past the end of the file"));

  // Without head_count_kv the file reads as MHA: attn_k then has the wrong shape.
  auto hparam = FromBytes(Patch(good, "llama.attention.head_count_kv", "llama.attention.head_count_kx"));
  EXPECT_THAT(hparam.status().message(), HasSubstr("\"blk.0.attn_k.weight\" has shape [32, 64], expected [64, 64]"));
}

}  // namespace
}  // namespace llmserve
