#include "engine/loaders/hf_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/loaders/tiny_configs.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::TinyLlamaConfig;

using ::llmserve::testing::MakeTempDir;
using ::llmserve::testing::SharedPath;
using ::llmserve::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;


nlohmann::json TinyGpt2Config() {
  return {{"model_type", "gpt2"}, {"n_embd", 8},      {"n_head", 2},
          {"n_layer", 2},         {"n_positions", 16}, {"vocab_size", 50257}};
}

absl::StatusOr<HfConfig> Parse(const nlohmann::json& config, const std::string& generation = "") {
  return ParseHfConfig("/models/tiny", config.dump(), generation);
}

TEST(HfConfigTest, ReadsStories260KFromDisk) {
  absl::StatusOr<HfConfig> c = ReadHfConfig(SharedPath("models/stories260K-hf"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, HfFamily::kLlama);
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->config.name, "stories260K-hf");
  EXPECT_EQ(c->config.num_kv_heads, 4);
  EXPECT_EQ(c->config.ffn_size, 172);
}

TEST(HfConfigTest, LlamaFieldsAndDefaults) {
  absl::StatusOr<HfConfig> c = Parse(TinyLlamaConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.name, "tiny");
  EXPECT_EQ(c->config.head_dim, 4);
  EXPECT_FLOAT_EQ(c->config.rope_theta, 500000.0f);
  EXPECT_FLOAT_EQ(c->config.norm_eps, 1e-6f);
  EXPECT_FALSE(c->config.tied_lm_head);
  EXPECT_EQ(c->config.rope_style, RopeStyle::kHalf);

  // transformers' LlamaConfig defaults for everything optional.
  nlohmann::json minimal = TinyLlamaConfig();
  for (const char* key : {"num_key_value_heads", "rms_norm_eps", "rope_theta", "hidden_act",
                          "tie_word_embeddings", "bos_token_id", "eos_token_id"}) {
    minimal.erase(key);
  }
  minimal["head_dim"] = nullptr;
  c = Parse(minimal);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.num_kv_heads, 2);
  EXPECT_EQ(c->config.head_dim, 4);
  EXPECT_FLOAT_EQ(c->config.norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c->config.rope_theta, 10000.0f);
  EXPECT_FALSE(c->config.tied_lm_head);
  EXPECT_EQ(c->config.bos_token_id, 1);
  EXPECT_THAT(c->config.eos_token_ids, ElementsAre(2));
}

TEST(HfConfigTest, Gpt2FieldsAndDefaults) {
  absl::StatusOr<HfConfig> c = Parse(TinyGpt2Config());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, HfFamily::kGpt2);
  EXPECT_EQ(c->config.ffn_size, 32);  // n_inner absent → 4 × n_embd
  EXPECT_EQ(c->config.num_kv_heads, 2);
  EXPECT_EQ(c->config.max_context, 16);
  EXPECT_FLOAT_EQ(c->config.norm_eps, 1e-5f);
  EXPECT_TRUE(c->config.tied_lm_head);
  EXPECT_TRUE(c->config.linear_bias);
  EXPECT_EQ(c->config.bos_token_id, 50256);
  EXPECT_THAT(c->config.eos_token_ids, ElementsAre(50256));

  nlohmann::json config = TinyGpt2Config();
  config["n_inner"] = 20;
  config["activation_function"] = "gelu_pytorch_tanh";
  c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.ffn_size, 20);

  // The defaults 50256 do not fit a smaller vocabulary.
  config["vocab_size"] = 20;
  c = Parse(config);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("50256"));
}

TEST(HfConfigTest, FamilyFromArchitecturesWhenModelTypeIsAbsent) {
  nlohmann::json config = TinyLlamaConfig();
  config.erase("model_type");
  config["architectures"] = {"MistralForCausalLM"};
  absl::StatusOr<HfConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "mistral");
  EXPECT_EQ(c->family, HfFamily::kLlama);
}

TEST(HfConfigTest, SlidingWindowCapsContext) {
  nlohmann::json config = TinyLlamaConfig();
  config["model_type"] = "mistral";
  config["sliding_window"] = 24;
  absl::StatusOr<HfConfig> c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.max_context, 24);
  config["sliding_window"] = 4096;  // larger than the context: no effect
  c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.max_context, 32);
}

TEST(HfConfigTest, GenerationConfigOverridesSpecialTokens) {
  absl::StatusOr<HfConfig> c =
      Parse(TinyLlamaConfig(), R"({"bos_token_id": 3, "eos_token_id": [4, 5]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.bos_token_id, 3);
  EXPECT_THAT(c->config.eos_token_ids, ElementsAre(4, 5));

  c = Parse(TinyLlamaConfig(), R"({"eos_token_id": null, "do_sample": true})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->config.eos_token_ids, ElementsAre(2));

  // An explicit null in config.json means "none"; absent means the default.
  nlohmann::json config = TinyLlamaConfig();
  config["bos_token_id"] = nullptr;
  config["eos_token_id"] = nullptr;
  c = Parse(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.bos_token_id, -1);
  EXPECT_TRUE(c->config.eos_token_ids.empty());
  c = Parse(config, R"({"eos_token_id": 2})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->config.eos_token_ids, ElementsAre(2));

  c = Parse(TinyLlamaConfig(), R"({"eos_token_id": "</s>"})");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("generation_config.json: field 'eos_token_id'"));
  c = Parse(TinyLlamaConfig(), R"({"eos_token_id": 99})");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("generation_config.json: field 'eos_token_id'"));
  c = Parse(TinyLlamaConfig(), "[]");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("generation_config.json: not a JSON object"));
}

TEST(HfConfigTest, RejectsBadValuesNamingTheField) {
  struct Case {
    std::string label;
    std::function<void(nlohmann::json&)> mutate;
    std::vector<std::string> expected;
  };
  using J = nlohmann::json;
  const std::vector<Case> cases = {
      {"activation", [](J& c) { c["hidden_act"] = "gelu"; }, {"hidden_act", "gelu"}},
      {"heads as string", [](J& c) { c["num_attention_heads"] = "2"; },
       {"num_attention_heads", "integer"}},
      {"heads fractional", [](J& c) { c["num_attention_heads"] = 2.5; }, {"num_attention_heads"}},
      {"negative hidden", [](J& c) { c["hidden_size"] = -8; }, {"hidden_size", "-8"}},
      {"zero layers", [](J& c) { c["num_hidden_layers"] = 0; }, {"num_hidden_layers", "0"}},
      {"huge hidden", [](J& c) { c["hidden_size"] = 1e30; }, {"hidden_size"}},
      {"hidden at uint64 max", [](J& c) { c["hidden_size"] = 18446744073709551615ull; },
       {"hidden_size", "out of range"}},
      {"hidden over the limit", [](J& c) { c["hidden_size"] = 1 << 21; },
       {"hidden_size", "out of range"}},
      {"missing ffn", [](J& c) { c.erase("intermediate_size"); }, {"intermediate_size", "missing"}},
      {"null vocab", [](J& c) { c["vocab_size"] = nullptr; }, {"vocab_size", "missing"}},
      {"heads do not divide hidden", [](J& c) { c["num_attention_heads"] = 3; }, {"head_dim"}},
      {"kv heads do not divide heads", [](J& c) { c["num_key_value_heads"] = 3; },
       {"num_key_value_heads"}},
      {"head_dim inconsistent", [](J& c) { c["head_dim"] = 8; }, {"head_dim"}},
      {"odd head_dim", [](J& c) {
         c["hidden_size"] = 6;
         c["num_attention_heads"] = 2;
       },
       {"head_dim", "even"}},
      {"rope scaling", [](J& c) { c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; },
       {"rope_scaling"}},
      {"attention bias", [](J& c) { c["attention_bias"] = true; }, {"attention_bias"}},
      {"mlp bias", [](J& c) { c["mlp_bias"] = true; }, {"mlp_bias"}},
      {"negative eps", [](J& c) { c["rms_norm_eps"] = -1.0; }, {"rms_norm_eps"}},
      {"eps overflows float", [](J& c) { c["rms_norm_eps"] = 1e300; }, {"rms_norm_eps"}},
      {"zero theta", [](J& c) { c["rope_theta"] = 0; }, {"rope_theta"}},
      {"tie not bool", [](J& c) { c["tie_word_embeddings"] = "yes"; }, {"tie_word_embeddings"}},
      {"eos outside vocab", [](J& c) { c["eos_token_id"] = 16; }, {"eos_token_id", "16"}},
      {"eos list with string", [](J& c) { c["eos_token_id"] = {2, "x"}; }, {"eos_token_id"}},
      {"bos negative", [](J& c) { c["bos_token_id"] = -3; }, {"bos_token_id"}},
      {"bos list", [](J& c) { c["bos_token_id"] = {1}; }, {"bos_token_id", "single"}},
      {"unknown model type", [](J& c) { c["model_type"] = "bert"; }, {"model_type", "bert"}},
      {"model type not a string", [](J& c) { c["model_type"] = 3; }, {"model_type"}},
      {"unknown architecture", [](J& c) {
         c.erase("model_type");
         c["architectures"] = {"BertModel"};
       },
       {"architectures", "BertModel"}},
      {"no model type or architectures", [](J& c) {
         c.erase("model_type");
         c.erase("architectures");
       },
       {"model_type"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    nlohmann::json config = TinyLlamaConfig();
    c.mutate(config);
    absl::StatusOr<HfConfig> got = Parse(config);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr("/models/tiny/config.json"));
    for (const std::string& s : c.expected) EXPECT_THAT(got.status().message(), HasSubstr(s));
  }
}

TEST(HfConfigTest, RejectsUnsupportedGpt2Options) {
  struct Case {
    std::string key;
    nlohmann::json value;
  };
  const std::vector<Case> cases = {{"activation_function", "gelu"},
                                   {"activation_function", "relu"},
                                   {"scale_attn_weights", false},
                                   {"scale_attn_by_inverse_layer_idx", true},
                                   {"add_cross_attention", true},
                                   {"n_head", 3},
                                   {"layer_norm_epsilon", "1e-5"},
                                   {"n_positions", nullptr}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    nlohmann::json config = TinyGpt2Config();
    config[c.key] = c.value;
    absl::StatusOr<HfConfig> got = Parse(config);
    ASSERT_FALSE(got.ok());
    EXPECT_THAT(got.status().message(), HasSubstr("'" + c.key + "'"));
  }
}

TEST(HfConfigTest, FileErrors) {
  absl::StatusOr<HfConfig> c = ParseHfConfig("/m", "{\"model_type\": ", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("/m/config.json: not valid JSON"));
  c = ParseHfConfig("/m", "[1, 2]", "");
  EXPECT_THAT(c.status().message(), HasSubstr("/m/config.json: not a JSON object"));

  const std::string dir = MakeTempDir("hf-config");
  c = ReadHfConfig(dir);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("config.json"));

  ASSERT_TRUE(WriteFile(dir + "/config.json", TinyLlamaConfig().dump()));
  ASSERT_TRUE(WriteFile(dir + "/generation_config.json", ""));
  c = ReadHfConfig(dir);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("generation_config.json"));
  ASSERT_TRUE(WriteFile(dir + "/generation_config.json", R"({"eos_token_id": [2, 7]})"));
  c = ReadHfConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->config.eos_token_ids, ElementsAre(2, 7));
}

}  // namespace
}  // namespace llmserve
