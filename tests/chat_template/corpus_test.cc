// The published chat templates of tests/chat_templates/ rendered by the C++
// Jinja subset and by Debian's python3-jinja2 (render_reference.py, set up as
// Hugging Face's apply_chat_template), for every message set of
// message_sets.json with and without the generation prompt: the text must be
// byte-equal, or both must fail (a raise_exception with the same message).
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/chat_template/chat_template.h"
#include "engine/chat_template/jinja_template.h"
#include "nlohmann/json.hpp"
#include "tests/chat_template/reference_renderer.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using chat_template::Dict;
using chat_template::JinjaTemplate;
using chat_template::Value;
using chat_template::ValueFromJson;
using nlohmann::ordered_json;

constexpr std::time_t kNow = 1722000000;  // 2024-07-26, for strftime_now
constexpr const char* kBos = "<s>";
constexpr const char* kEos = "</s>";

struct Case {
  std::string template_name;
  std::string message_set;
  bool add_generation_prompt;
  ordered_json messages;
};

std::vector<std::filesystem::path> CorpusTemplates() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::SourcePath("tests/chat_templates"))) {
    if (entry.path().extension() == ".jinja") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ChatTemplateCorpusTest, EqualsPythonJinja2OnEveryTemplateAndMessageSet) {
  const std::vector<std::filesystem::path> templates = CorpusTemplates();
  ASSERT_GE(templates.size(), 41u);
  const ordered_json sets = ordered_json::parse(
      testing::ReadFile(testing::SourcePath("tests/chat_templates/message_sets.json")));
  ASSERT_GE(sets.size(), 10u);

  std::map<std::string, std::string> sources;
  std::vector<Case> cases;
  ordered_json requests = ordered_json::array();
  for (const auto& path : templates) {
    const std::string name = path.filename().string();
    sources[name] = testing::ReadFile(path.string());
    for (const auto& set : sets) {
      for (bool agp : {false, true}) {
        cases.push_back({name, set["name"].get<std::string>(), agp, set["messages"]});
        requests.push_back({{"template", sources[name]},
                            {"messages", set["messages"]},
                            {"add_generation_prompt", agp},
                            {"bos_token", kBos},
                            {"eos_token", kEos},
                            {"now", kNow}});
      }
    }
  }
  const ordered_json results = testing::RenderWithPythonJinja2(requests);
  ASSERT_TRUE(results.is_array());
  ASSERT_EQ(results.size(), cases.size());

  std::map<std::string, int> rendered_per_template, raised_per_template;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const ordered_json& expected = results[i];
    SCOPED_TRACE(c.template_name + " / " + c.message_set +
                 (c.add_generation_prompt ? " / add_generation_prompt" : ""));
    auto compiled = JinjaTemplate::Parse(sources[c.template_name]);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    Dict variables;
    variables.Set("messages", ValueFromJson(c.messages));
    variables.Set("tools", Value::None());
    variables.Set("documents", Value::None());
    variables.Set("add_generation_prompt", Value::Bool(c.add_generation_prompt));
    variables.Set("bos_token", Value::String(kBos));
    variables.Set("eos_token", Value::String(kEos));
    absl::StatusOr<std::string> got = (*compiled)->Render(variables, kNow);

    // The public interface gives the same (templates without a clock).
    if (sources[c.template_name].find("strftime_now") == std::string::npos) {
      std::vector<ChatMessage> messages;
      for (const auto& m : c.messages) messages.push_back({m["role"], m["content"]});
      auto chat = ChatTemplate::Compile(sources[c.template_name]);
      ASSERT_TRUE(chat.ok()) << chat.status();
      absl::StatusOr<std::string> via_api =
          (*chat)->Render(messages, c.add_generation_prompt, kBos, kEos);
      ASSERT_EQ(via_api.ok(), got.ok());
      if (got.ok()) EXPECT_EQ(*via_api, *got);
    }

    if (expected["ok"].get<bool>()) {
      ASSERT_TRUE(got.ok()) << got.status() << "\nexpected:\n" << expected["text"].get<std::string>();
      EXPECT_EQ(*got, expected["text"].get<std::string>());
      ++rendered_per_template[c.template_name];
    } else {
      ASSERT_FALSE(got.ok()) << "python failed with " << expected["error"] << ", C++ rendered:\n"
                             << *got;
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
      if (expected["raised"].get<bool>()) {
        EXPECT_EQ(got.status().message(), expected["error"].get<std::string>());
        ++raised_per_template[c.template_name];
      }
    }
  }
  // Every template rendered most message sets, and the alternation checks fired.
  for (const auto& [name, source] : sources) {
    EXPECT_GE(rendered_per_template[name], 8) << name;
  }
  for (const char* checks_alternation :
       {"llama-2-7b-chat.jinja", "gemma-2-2b-it.jinja", "mistral-7b-instruct-v0.2-legacy.jinja",
        "mistral-7b-instruct-v1-system.jinja", "mistral-nemo-instruct-2407.jinja"}) {
    EXPECT_GE(raised_per_template[checks_alternation], 2) << checks_alternation;
  }
}

}  // namespace
}  // namespace llmserve
