// Errors of the Jinja subset: Compile names the line and the construct;
// Render passes raise_exception's message through verbatim and names what
// failed otherwise; a hostile template hits a bound instead of hanging or
// exhausting memory. Plus concurrent rendering of one compiled template.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "engine/chat_template/chat_template.h"
#include "engine/chat_template/jinja_template.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using chat_template::Dict;
using chat_template::JinjaTemplate;
using chat_template::RenderLimits;
using ::testing::HasSubstr;

absl::Status CompileError(const std::string& source) {
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Compile(source);
  return t.ok() ? absl::OkStatus() : t.status();
}

TEST(ChatTemplateErrorsTest, CompileNamesLineAndConstruct) {
  struct Case {
    std::string source;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{% if x %}abc", "chat template line 1: 'if' is missing 'endif'"},
      {"a\nb\n{% for x in y %}{{ x }}", "chat template line 3: 'for' is missing 'endfor'"},
      {"{% if a %}\n{% for x in y %}{% endif %}",
       "chat template line 2: 'for' is missing 'endfor' (found 'endif' at line 2)"},
      {"x\n{% endif %}", "chat template line 2: unexpected 'endif' outside its block"},
      {"{% include 'other.jinja' %}", "chat template line 1: unknown or unsupported tag 'include'"},
      {"\n{{ x | nosuchfilter }}", "chat template line 2: no filter named 'nosuchfilter'"},
      {"{% if x is nosuchtest %}{% endif %}", "chat template line 1: no test named 'nosuchtest'"},
      {"\n\n{{ 1 + }}", "chat template line 3: unexpected end of tag in expression"},
      {"{{ x", "chat template line 1: unclosed expression '{{'"},
      {"a\n{% if x", "chat template line 2: unclosed statement '{%'"},
      {"{# never closed", "chat template line 1: unclosed comment '{#'"},
      {"{{ a ; b }}", "chat template line 1: unexpected character ';'"},
      {"{% for x y %}{% endfor %}", "chat template line 1: expected 'in' in 'for', got 'y'"},
      {"{% set %}", "chat template line 1: expected a variable name after 'set', got end of tag"},
      {"{{ f(a=1, 2) }}", "chat template line 1: positional argument after a keyword argument"},
      {"{{ x[1 }}", "chat template line 1: unclosed expression '{{'"},
      {"{{ x[1) }}", "chat template line 1: expected ']', got ')'"},
      {"{% for x in y recursive %}{% endfor %}", "chat template line 1: recursive 'for' loops are not supported"},
      {"{% raw %}never ended", "chat template line 1: 'raw' without 'endraw'"},
      {"{% if x %}{% break %}{% endif %}", "chat template line 1: 'break' outside a 'for' loop"},
      {"{% for x in y %}{% else %}{% continue %}{% endfor %}", "chat template line 1: 'continue' outside a 'for' loop"},
      {"{{ 'abc\\u12' }}", "chat template line 1: truncated \\u escape in a string literal"},
  };
  for (const Case& c : cases) {
    absl::Status s = CompileError(c.source);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.source;
    EXPECT_EQ(std::string(s.message()), c.message) << c.source;
  }
}

TEST(ChatTemplateErrorsTest, DeepNestingIsACompileErrorNotAStackOverflow) {
  const std::string parens = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_THAT(CompileError(parens).message(), HasSubstr("nesting deeper than 128"));
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_THAT(CompileError(ifs).message(), HasSubstr("nesting deeper than 128"));
  std::string nots = "{{ ";
  for (int i = 0; i < 100000; ++i) nots += "not ";
  EXPECT_THAT(CompileError(nots + "x }}").message(), HasSubstr("nesting deeper than 128"));
  // Long chains parse iteratively but evaluate recursively: bounded too.
  std::string chain = "{{ x";
  for (int i = 0; i < 100000; ++i) chain += " + x | trim";
  EXPECT_THAT(CompileError(chain + " }}").message(), HasSubstr("expression nesting deeper than 256"));
  std::string ok_chain = "{{ 'a'";
  for (int i = 0; i < 100; ++i) ok_chain += " ~ 'b' | upper";
  EXPECT_TRUE(CompileError(ok_chain + " }}").ok());
}

TEST(ChatTemplateErrorsTest, RaiseExceptionMessageIsTheStatusMessage) {
  const std::string gemma =
      testing::ReadFile(testing::SourcePath("tests/chat_templates/gemma-2-2b-it.jinja"));
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Compile(gemma);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::string> out =
      (*t)->Render({{"user", "a"}, {"user", "b"}}, true, "<bos>", "<eos>");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(out.status().message()), "Conversation roles must alternate user/assistant/user/assistant/...");
  out = (*t)->Render({{"system", "s"}, {"user", "a"}}, true, "<bos>", "<eos>");
  EXPECT_EQ(std::string(out.status().message()), "System role not supported");
  out = (*t)->Render({{"user", "a"}}, true, "<bos>", "<eos>");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "<bos><start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateErrorsTest, RenderErrorsNameLineAndCause) {
  struct Case {
    std::string source;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"\n{{ x.y.z }}", "chat template line 2: 'x' is undefined"},
      {"{{ messages[0].role.x.y }}", "chat template line 1: 'str object' has no attribute 'x'"},
      {"{{ 'a' + 1 }}", "chat template line 1: can only concatenate str (not \"int\") to str"},
      {"{{ 1 + 'a' }}", "chat template line 1: unsupported operand type(s) for +: 'int' and 'str'"},
      {"{{ 1 // 0 }}", "chat template line 1: integer division or modulo by zero"},
      {"{{ 9223372036854775807 + 1 }}", "chat template line 1: integer overflow"},
      {"{% for a, b in messages %}{% endfor %}", "chat template line 1: cannot unpack 2 values into 2 names"},
      {"{{ nope() }}", "chat template line 1: 'nope' is undefined"},
      {"{{ 'x'() }}", "chat template line 1: 'str' object is not callable"},
      {"{% set n = 3 %}{% set n.a = 1 %}", "chat template line 1: cannot assign attribute 'a' on non-namespace object 'n'"},
      {"{{ none | items }}", "chat template line 1: filter 'items': can only get item pairs from a mapping, not NoneType"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Compile(c.source);
    ASSERT_TRUE(t.ok()) << c.source << ": " << t.status();
    absl::StatusOr<std::string> out = (*t)->Render({{"user", "hi"}}, false, "", "");
    if (c.message == "chat template line 1: cannot unpack 2 values into 2 names") {
      // A {role, content} dict iterates as its two keys, so this one unpacks fine.
      EXPECT_TRUE(out.ok()) << out.status();
      continue;
    }
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << c.source;
    EXPECT_EQ(std::string(out.status().message()), c.message) << c.source;
  }
}

absl::StatusOr<std::string> RenderHostile(const std::string& source, RenderLimits limits = {}) {
  absl::StatusOr<std::unique_ptr<JinjaTemplate>> t = JinjaTemplate::Parse(source);
  if (!t.ok()) return t.status();
  return (*t)->Render(Dict(), 0, limits);
}

TEST(ChatTemplateErrorsTest, HostileTemplatesHitABound) {
  // Nested loops: 10^10 iterations would never end.
  absl::StatusOr<std::string> out = RenderHostile(
      "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}");
  EXPECT_THAT(out.status().message(), HasSubstr("render exceeded 2000000 evaluation steps"));
  // A string doubled 100 times.
  out = RenderHostile(
      "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
  EXPECT_THAT(out.status().message(), HasSubstr("exceeds 8388608 bytes"));
  out = RenderHostile("{{ 'x' * 1000000000000 }}");
  EXPECT_THAT(out.status().message(), HasSubstr("exceeds 8388608 bytes"));
  out = RenderHostile("{{ [1, 2] * 1000000000000 }}");
  EXPECT_THAT(out.status().message(), HasSubstr("exceeds 8388608 bytes"));
  // Unbounded recursion.
  out = RenderHostile("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_THAT(out.status().message(), HasSubstr("macro calls nested deeper than 64"));
  // Deep recursion through nested blocks and expressions: the total depth is
  // bounded before the stack is, even with a generous macro bound.
  std::string deep = "{% macro f(n) %}";
  for (int i = 0; i < 100; ++i) deep += "{% if true %}";
  deep += "{{ " + std::string(10, '(') + "f(n + 1)" + std::string(10, ')') + " }}";
  for (int i = 0; i < 100; ++i) deep += "{% endif %}";
  deep += "{% endmacro %}{{ f(0) }}";
  RenderLimits many_calls;
  many_calls.max_call_depth = 100000;
  out = RenderHostile(deep, many_calls);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("evaluation nested deeper than 500 levels"));
  // Output larger than the limit.
  out = RenderHostile("{% for i in range(1000000) %}0123456789abcdef0123456789abcdef{% endfor %}");
  EXPECT_THAT(out.status().message(), HasSubstr("output exceeds 8388608 bytes"));
  out = RenderHostile("{{ range(1000000000) | length }}");
  EXPECT_THAT(out.status().message(), HasSubstr("range() longer than"));
  // Limits are configurable.
  RenderLimits small;
  small.max_steps = 50;
  out = RenderHostile("{% for i in range(100) %}{{ i }}{% endfor %}", small);
  EXPECT_THAT(out.status().message(), HasSubstr("render exceeded 50 evaluation steps"));
  small = RenderLimits();
  small.max_bytes = 10;
  out = RenderHostile("{{ 'abcdefghijklmnop' }}", small);
  EXPECT_THAT(out.status().message(), HasSubstr("output exceeds 10 bytes"));
}

TEST(ChatTemplateErrorsTest, ConcurrentRendersOfOneTemplateAgree) {
  const std::string qwen =
      testing::ReadFile(testing::SourcePath("tests/chat_templates/qwen2.5-7b-instruct.jinja"));
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Compile(qwen);
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<ChatMessage> messages = {{"system", "S"}, {"user", "U"}, {"assistant", "A"}};
  const std::string expected =
      "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
      "<|im_start|>assistant\n";
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<std::string> out = (*t)->Render(messages, true, "", "");
        if (!out.ok() || *out != expected) ++mismatches[static_cast<size_t>(k)];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace llmserve
