// The llama2.c checkpoint loader on the real stories260K file and on broken
// copies of it: every defect gives an INVALID_ARGUMENT naming the file and the
// problem, never a crash or a read past the end.
#include "engine/loaders/llama2c_checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::MakeTempDir;
using ::llmserve::testing::ReadFile;
using ::llmserve::testing::SharedPath;
using ::llmserve::testing::WriteFile;

class Llama2cCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    original_ = ReadFile(SharedPath("models/stories260K/stories260K.bin"));
    ASSERT_FALSE(original_.empty());
    dir_ = MakeTempDir("llama2c");
  }
  // Writes `bytes` to a temp file and loads it.
  absl::StatusOr<ModelWeights> LoadBytes(const std::string& bytes) {
    const std::string path = dir_ + "/model.bin";
    EXPECT_TRUE(WriteFile(path, bytes));
    return LoadLlama2cCheckpoint(path);
  }
  std::string WithHeaderField(int index, int32_t value) {
    std::string bytes = original_;
    std::memcpy(bytes.data() + 4 * index, &value, 4);
    return bytes;
  }
  std::string original_;
  std::string dir_;
};

TEST_F(Llama2cCheckpointTest, LoadsStories260K) {
  auto w = LoadLlama2cCheckpoint(SharedPath("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelConfig& c = w->config;
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.ffn_size, 172);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_context, 512);
  EXPECT_TRUE(c.tied_lm_head);
  EXPECT_EQ(w->layers.size(), 5u);
  // The embedding is the first tensor after the 28-byte header.
  float first;
  std::memcpy(&first, original_.data() + 28, 4);
  EXPECT_EQ(static_cast<const float*>(w->token_embedding.data)[0], first);
  // rms_final is the last tensor before the RoPE tables (2 × seq_len × head_dim/2 floats).
  float rms_final_last;
  std::memcpy(&rms_final_last, original_.data() + original_.size() - 4 * (512 * 8) - 4, 4);
  EXPECT_EQ(static_cast<const float*>(w->final_norm_weight.data)[63], rms_final_last);
  // 260K parameters as documented.
  int64_t params = w->token_embedding.num_elements() + w->final_norm_weight.num_elements();
  for (const auto& l : w->layers) {
    for (const HostTensor* t : {&l.attn_norm_weight, &l.wq, &l.wk, &l.wv, &l.wo,
                                &l.mlp_norm_weight, &l.w_gate, &l.w_up, &l.w_down}) {
      params += t->num_elements();
    }
  }
  EXPECT_EQ(params, 260032);
}

TEST_F(Llama2cCheckpointTest, MissingFile) {
  auto w = LoadLlama2cCheckpoint(dir_ + "/nope.bin");
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(w.status().message().find("nope.bin"), absl::string_view::npos);
}

TEST_F(Llama2cCheckpointTest, EmptyFile) {
  auto w = LoadBytes("");
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("shorter than the 28-byte header"), absl::string_view::npos)
      << w.status();
}

TEST_F(Llama2cCheckpointTest, TruncatedFile) {
  for (std::size_t size : {std::size_t{27}, std::size_t{28}, std::size_t{1000},
                           original_.size() / 2, original_.size() - 1}) {
    auto w = LoadBytes(original_.substr(0, size));
    ASSERT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << size;
    if (size >= 28) {
      EXPECT_NE(w.status().message().find("truncated"), absl::string_view::npos) << w.status();
      EXPECT_NE(w.status().message().find(std::to_string(original_.size())),
                absl::string_view::npos)
          << "expected size named: " << w.status();
    }
  }
}

TEST_F(Llama2cCheckpointTest, ExtendedFile) {
  auto w = LoadBytes(original_ + std::string(12, '\0'));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("trailing bytes"), absl::string_view::npos) << w.status();
}

TEST_F(Llama2cCheckpointTest, InconsistentHeaders) {
  struct Case {
    int field;
    int32_t value;
    const char* expect;
  } cases[] = {
      {0, 0, "dim = 0"},
      {0, -64, "dim = -64"},
      {1, 0, "hidden_dim = 0"},
      {2, -1, "n_layers = -1"},
      {3, 0, "n_heads = 0"},
      {3, 7, "not divisible by n_heads"},
      {4, 3, "not divisible by n_kv_heads"},
      {4, 16, "not divisible by n_kv_heads"},
      {5, 0, "vocab_size = 0"},
      {6, 0, "seq_len = 0"},
      {0, 0x7fffffff, "out of range"},
      {5, 600, "implies"},  // a plausible header that does not match the size
      {5, -512, "implies"}, // claims a separate classifier that is not there
  };
  for (const Case& c : cases) {
    auto w = LoadBytes(WithHeaderField(c.field, c.value));
    ASSERT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument)
        << "field " << c.field << " = " << c.value;
    EXPECT_NE(w.status().message().find(c.expect), absl::string_view::npos)
        << "field " << c.field << " = " << c.value << ": " << w.status();
    EXPECT_NE(w.status().message().find("model.bin"), absl::string_view::npos) << w.status();
  }
}

TEST_F(Llama2cCheckpointTest, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(rng() % 4096, '\0');
    for (char& ch : bytes) ch = static_cast<char>(rng());
    auto w = LoadBytes(bytes);
    EXPECT_FALSE(w.ok());
  }
}

}  // namespace
}  // namespace llmserve
