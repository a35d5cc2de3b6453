// Regex and choice constraints: byte-level accept/reject, errors with their
// offsets, and random generations on GPT-2's vocabulary checked with Python's
// `re` (an independent regex engine).

#include <gtest/gtest.h>

#include <random>

#include "nlohmann/json.hpp"
#include "tests/structured/structured_test_util.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {
namespace {

TEST(RegexTest, AcceptsAndRejects) {
  struct Case {
    const char* pattern;
    std::vector<std::string> yes, no;
  };
  const std::vector<Case> cases = {
      {"abc", {"abc"}, {"", "ab", "abcd", "abd"}},
      {"a|bc|", {"a", "bc", ""}, {"b", "abc"}},
      {"[0-9]{3}-[0-9]{4}", {"555-1234"}, {"55-1234", "5555-1234", "abc-defg"}},
      {"(ab)*c+", {"c", "abccc", "ababc"}, {"ab", "abab", "ac"}},
      {"^x?y{2,}$", {"yy", "xyyy"}, {"y", "xy", "xxyy"}},
      {"[^a-c]+", {"d", "xyz", "é"}, {"a", "dab", ""}},
      {"\\d+\\.\\d*", {"3.", "3.14"}, {".5", "3"}},
      {"\\w\\s\\W", {"a !", "_\t."}, {"ab!", "a a"}},
      {".", {"a", "é", "😀"}, {"\n", "ab", "\xff"}},
      {"(?:a|b){0,2}", {"", "a", "ab", "bb"}, {"abb"}},
      {"a+?b*?", {"a", "aab"}, {"b"}},  // lazy: the same language
      {"(?P<year>[0-9]{4})", {"2024"}, {"202"}},
      {"colou?r", {"color", "colour"}, {"colouur"}},
      {"[\\]\\-a]+", {"]-a"}, {"b"}},
      {"\\x41\\u00e9", {"Aé"}, {"A"}},
      {"a{2}", {"aa"}, {"a", "aaa"}},
      {"a{,3}", {"", "aaa"}, {"aaaa"}},  // Python's {0,3}
      {"a{x}", {"a{x}"}, {"a"}},         // not a quantifier: literal, as in Python
      {"é+", {"é", "éé"}, {"e"}},
  };
  for (const Case& c : cases) {
    for (const std::string& s : c.yes) EXPECT_TRUE(FullMatch(RegexParams(c.pattern), s)) << c.pattern << " / " << s;
    for (const std::string& s : c.no) EXPECT_FALSE(FullMatch(RegexParams(c.pattern), s)) << c.pattern << " / " << s;
  }
  EXPECT_TRUE(PrefixMatch(RegexParams("[0-9]{3}-[0-9]{4}"), "555-1"));
  EXPECT_FALSE(PrefixMatch(RegexParams("[0-9]{3}-[0-9]{4}"), "555-x"));
}

TEST(RegexTest, ErrorsNameTheCauseAndOffset) {
  auto compiler = StructuredOutputCompiler::Create(ByteVocabulary());
  struct Case {
    std::string pattern;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"ab(c", "structured_output.regex: unbalanced parenthesis at offset 2"},
      {"abc)", "structured_output.regex: unbalanced parenthesis at offset 3"},
      {"*a", "structured_output.regex: nothing to repeat at offset 0"},
      {"[a-", "structured_output.regex: unterminated character class at offset 0"},
      {"[z-a]", "structured_output.regex: bad character range at offset 2"},
      {"(a)\\1", "structured_output.regex: backreferences are not supported at offset 3"},
      {"(?=a)", "structured_output.regex: unsupported group construct (lookaround, flags) at offset 0"},
      {"a\\b", "structured_output.regex: unsupported anchor '\\b' at offset 1"},
      {"a{3,1}", "structured_output.regex: repetition {m,n} with n < m at offset 1"},
      {"a{100000}", "structured_output.regex: repetition count 100000 exceeds 10000"},
      {"a**", "structured_output.regex: multiple repeat at offset 2"},
      {"a{2}*", "structured_output.regex: multiple repeat at offset 4"},
      {"a++", "structured_output.regex: possessive quantifier is not supported at offset 2"},
      {std::string(300, '(') + std::string(300, ')'), "structured_output.regex: groups nested too deeply at offset 256"},
  };
  for (const Case& c : cases) {
    auto r = compiler->Compile(RegexParams(c.pattern));
    ASSERT_FALSE(r.ok()) << c.pattern;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(r.status().message()), c.message) << c.pattern;
  }
}

TEST(ChoiceTest, ExactlyOneOfTheChoices) {
  const StructuredOutputParams p = ChoiceParams({"yes", "no", "maybe", "yes!"});
  for (const char* s : {"yes", "no", "maybe", "yes!"}) EXPECT_TRUE(FullMatch(p, s)) << s;
  for (const char* s : {"", "y", "yesno", "No", "maybe "}) EXPECT_FALSE(FullMatch(p, s)) << s;
  auto compiler = StructuredOutputCompiler::Create(ByteVocabulary());
  auto r = compiler->Compile(ChoiceParams({}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "structured_output.choice: no choices given");
}

constexpr char kPythonRegexCheck[] = R"(
import json, re, sys
cases = json.load(open(sys.argv[1], encoding='utf-8'))
bad = 0
for c in cases:
    for out in c['outputs']:
        if re.fullmatch(c['pattern'], out, re.ASCII) is None:
            bad += 1
            print('no match:', repr(c['pattern']), repr(out))
print('checked', sum(len(c['outputs']) for c in cases))
sys.exit(1 if bad else 0)
)";

TEST(RegexTest, RandomGenerationsMatchPythonRe) {
  const std::vector<std::string> patterns = {
      "[0-9]{3}-[0-9]{4}", "(cat|dog|bird)s?( and (cat|dog|bird)s?)*", "[A-Z][a-z]+, [A-Z]{2} [0-9]{5}",
      "\\d+(\\.\\d{1,2})?", "(true|false)", "[a-z]+@[a-z]+\\.(com|org)", "\"[^\"\\n]{0,20}\"",
      "(é|ü|[a-c])+x",
  };
  std::mt19937 rng(7);
  nlohmann::json cases = nlohmann::json::array();
  int complete = 0;
  for (const std::string& pattern : patterns) {
    const StructuredOutputParams params = RegexParams(pattern);
    auto compiled = MustCompile(Gpt2Vocabulary(), params);
    ASSERT_NE(compiled, nullptr);
    auto matcher = NewMatcher(compiled);
    nlohmann::json outputs = nlohmann::json::array();
    for (int i = 0; i < 8; ++i) {
      matcher->Reset();
      Walk w = RandomWalk(*matcher, *Gpt2Vocabulary(), rng, 24, /*check_masks=*/i < 2);
      ASSERT_FALSE(w.dead_end) << pattern << ": " << w.text;
      complete += w.complete;
      outputs.push_back(w.complete ? w.text : CompleteWithBytes(params, w.text, rng));
    }
    cases.push_back({{"pattern", pattern}, {"outputs", outputs}});
  }
  EXPECT_GT(complete, 16);
  const std::string dir = llmserve::testing::MakeTempDir("regex-outputs");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/cases.json", cases.dump()));
  PythonResult r = RunPython(kPythonRegexCheck, dir + "/cases.json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("checked 64"), std::string::npos) << r.out;
}

TEST(ChoiceTest, MaskOnStories260KEqualsBruteForce) {
  std::mt19937 rng(3);
  const StructuredOutputParams params = ChoiceParams({"Once upon a time", "Lily", "Tom and Lily", "Ben"});
  auto compiled = MustCompile(Stories260KVocabulary(), params);
  auto matcher = NewMatcher(compiled);
  for (int i = 0; i < 20; ++i) {
    matcher->Reset();
    Walk w = RandomWalk(*matcher, *Stories260KVocabulary(), rng, 40, /*check_masks=*/true);
    ASSERT_TRUE(w.complete) << w.text;
    EXPECT_TRUE(w.text == "Once upon a time" || w.text == "Lily" || w.text == "Tom and Lily" || w.text == "Ben")
        << w.text;
  }
}

}  // namespace
}  // namespace llmserve::structured::testing
