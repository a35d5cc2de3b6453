#include "engine/loaders/hf_chat_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "engine/loaders/hf_config.h"
#include "nlohmann/json.hpp"
#include "tests/loaders/tiny_configs.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::MakeTempDir;
using ::llmserve::testing::ReadFile;
using ::llmserve::testing::SourcePath;
using ::llmserve::testing::TinyLlamaConfig;
using ::llmserve::testing::WriteFile;
using ::testing::HasSubstr;

constexpr const char* kPath = "/m/tokenizer_config.json";

TEST(HfChatTemplateTest, StringForm) {
  nlohmann::json config = {{"bos_token", "<s>"}, {"chat_template", "{{ bos_token }}{{ messages }}"}};
  absl::StatusOr<std::string> t = ParseHfChatTemplate(config.dump(), kPath);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "{{ bos_token }}{{ messages }}");
}

TEST(HfChatTemplateTest, ListFormTakesDefault) {
  nlohmann::json config = {{"chat_template",
                            {{{"name", "tool_use"}, {"template", "T"}},
                             {{"name", "default"}, {"template", "D"}},
                             {{"name", "rag"}, {"template", "R"}}}}};
  absl::StatusOr<std::string> t = ParseHfChatTemplate(config.dump(), kPath);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "D");
  config = {{"chat_template", {{{"name", "tool_use"}, {"template", "T"}}}}};
  t = ParseHfChatTemplate(config.dump(), kPath);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "");
}

TEST(HfChatTemplateTest, AbsentOrNullIsEmpty) {
  absl::StatusOr<std::string> t = ParseHfChatTemplate(R"({"eos_token": "</s>"})", kPath);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "");
  t = ParseHfChatTemplate(R"({"chat_template": null})", kPath);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "");
}

TEST(HfChatTemplateTest, BadValuesNameTheFileAndField) {
  for (const char* bad : {R"({"chat_template": 3})", R"({"chat_template": [{"name": "default"}]})",
                          R"({"chat_template": ["x"]})"}) {
    absl::StatusOr<std::string> t = ParseHfChatTemplate(bad, kPath);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("/m/tokenizer_config.json: chat_template")) << bad;
  }
  absl::StatusOr<std::string> t = ParseHfChatTemplate("{", kPath);
  EXPECT_THAT(t.status().message(), HasSubstr("/m/tokenizer_config.json: not valid JSON"));
  t = ParseHfChatTemplate("[]", kPath);
  EXPECT_THAT(t.status().message(), HasSubstr("not a JSON object"));
}

// A Hugging Face directory: ReadHfConfig fills ModelConfig::chat_template from
// tokenizer_config.json, and chat_template.jinja takes precedence.
TEST(HfChatTemplateTest, ReadHfConfigLoadsTheTemplate) {
  const std::string dir = MakeTempDir("hf-chat-template");
  ASSERT_TRUE(WriteFile(dir + "/config.json", TinyLlamaConfig().dump()));
  absl::StatusOr<HfConfig> c = ReadHfConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.chat_template, "");

  const std::string zephyr = ReadFile(SourcePath("tests/chat_templates/zephyr-7b-beta.jinja"));
  ASSERT_FALSE(zephyr.empty());
  nlohmann::json tokenizer_config = {{"bos_token", "<s>"}, {"eos_token", "</s>"},
                                     {"chat_template", zephyr}};
  ASSERT_TRUE(WriteFile(dir + "/tokenizer_config.json", tokenizer_config.dump()));
  c = ReadHfConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.chat_template, zephyr);

  ASSERT_TRUE(WriteFile(dir + "/chat_template.jinja", "{{ messages[0].content }}"));
  c = ReadHfConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.chat_template, "{{ messages[0].content }}");

  ASSERT_TRUE(WriteFile(dir + "/chat_template.jinja", ""));
  ASSERT_TRUE(WriteFile(dir + "/tokenizer_config.json", R"({"chat_template": {"a": 1}})"));
  absl::StatusOr<std::string> direct = ReadHfChatTemplate(dir);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(*direct, "");  // the (empty) chat_template.jinja wins
  std::filesystem::remove(dir + "/chat_template.jinja");
  c = ReadHfConfig(dir);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("tokenizer_config.json: chat_template"));
}

}  // namespace
}  // namespace llmserve
