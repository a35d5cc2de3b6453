// GBNF grammars (llama.cpp's syntax): parsing errors with line and column,
// byte-level accept / reject, and random generations on the real GPT-2 and
// stories260K vocabularies (masks compared with brute force) checked by
// independent parsers: Python's `re` for regular grammars, Python's `ast`
// for an arithmetic grammar and `json` for a JSON grammar.

#include <gtest/gtest.h>

#include <random>

#include "nlohmann/json.hpp"
#include "tests/structured/structured_test_util.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {
namespace {

constexpr char kArithmetic[] = R"gbnf(# integer arithmetic
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= [1-9] [0-9]{0,2} | "(" expr ")"
)gbnf";

constexpr char kJson[] = R"gbnf(
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null")
object ::=
  "{" (
            string ":" value
    ("," string ":" value)*
  )? "}"
array  ::=
  "[" (
            value
    ("," value)*
  )? "]"
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\""
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})?
)gbnf";

TEST(GbnfTest, AcceptsAndRejects) {
  const StructuredOutputParams arith = GrammarParams(kArithmetic);
  for (const char* s : {"1", "12+3", "(1+2)*345/6", "((7))", "1-2-3"}) EXPECT_TRUE(FullMatch(arith, s)) << s;
  for (const char* s : {"", "0", "1+", "(1", "1)", "1234", "1 + 2"}) EXPECT_FALSE(FullMatch(arith, s)) << s;
  const StructuredOutputParams json = GrammarParams(kJson);
  for (const char* s : {"{}", R"({"a":[1,2.5,{"b":null}],"c":"\u00e9x"})", R"({"ü":"😀"})"}) {
    EXPECT_TRUE(FullMatch(json, s)) << s;
  }
  for (const char* s : {"[]", R"({"a":})", R"({"a" :1})"}) EXPECT_FALSE(FullMatch(json, s)) << s;
  const StructuredOutputParams misc = GrammarParams(
      "root ::= greeting \" \" [A-Z] [a-z]+ \"!\"? tail\n"
      "greeting ::= \"Hello\" | \"Hi\" |\n   \"Hey\"  # continues after |\n"
      "tail ::= ( \"\\n\" | \"\\t\"\n | \"\\x41\" | \"\\u00e9\" )?\n");
  for (const char* s : {"Hi Bob", "Hey Ann!", "Hello Zoe!\n", "Hi Al\t", "Hi AlA", "Hi Alé"}) {
    EXPECT_TRUE(FullMatch(misc, s)) << s;
  }
  for (const char* s : {"Hi bob", "Ho Bob", "Hi B", "Hi Bob!!"}) EXPECT_FALSE(FullMatch(misc, s)) << s;
  const StructuredOutputParams any = GrammarParams("root ::= [^a-z] . \"x\"{2,3}");
  for (const char* s : {"A\nxx", "éüxxx", "1😀xx"}) EXPECT_TRUE(FullMatch(any, s)) << s;
  for (const char* s : {"aAxx", "AAx", "AAxxxx"}) EXPECT_FALSE(FullMatch(any, s)) << s;
}

TEST(GbnfTest, ErrorsNameLineAndColumn) {
  auto compiler = StructuredOutputCompiler::Create(ByteVocabulary());
  struct Case {
    std::string grammar;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"root = \"a\"", "structured_output.grammar: line 1, column 6: expected '::='"},
      {"root ::= a\n", "structured_output.grammar: line 1, column 10: undefined rule 'a'"},
      {"a ::= \"x\"\n", "structured_output.grammar: no rule 'root'"},
      {"root ::= \"x\"\nroot ::= \"y\"", "structured_output.grammar: line 2, column 1: rule 'root' is defined twice"},
      {"root ::= (\"x\"", "structured_output.grammar: line 1, column 14: expected ')'"},
      {"root ::= \"x\")", "structured_output.grammar: line 1, column 13: unbalanced ')'"},
      {"root ::= \"abc", "structured_output.grammar: line 1, column 10: unterminated literal"},
      {"root ::= [a-", "structured_output.grammar: line 1, column 10: unterminated character class"},
      {"root ::= [z-a]", "structured_output.grammar: line 1, column 12: bad character range"},
      {"root ::= \"\\q\"", "structured_output.grammar: line 1, column 11: unknown escape '\\q'"},
      {"root ::= \"a\"{3,1}", "structured_output.grammar: line 1, column 13: repetition {m,n} with n < m"},
      {"root ::= \"a\" b ::= \"c\"", "structured_output.grammar: line 1, column 14: missing newline before rule 'b'"},
      {"root ::= root \"a\" | \"b\"", "structured_output.grammar: rule 'root' is left-recursive"},
      {"root ::= [^\\x00-\\U0010FFFF]", "structured_output.grammar: the grammar matches no string"},
      {"root ::= " + std::string(300, '(') + "\"a\"" + std::string(300, ')'),
       "structured_output.grammar: line 1, column 266: groups nested too deeply"},
      {"root ::= \"a\"" + std::string(300, '?'), "structured_output.grammar: line 1, column 269: too many repetition operators in a row"},
  };
  for (const Case& c : cases) {
    auto r = compiler->Compile(GrammarParams(c.grammar));
    ASSERT_FALSE(r.ok()) << c.grammar;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(r.status().message()), c.message) << c.grammar;
  }
}

// A grammar whose stacks double with every byte is cut at
// StackRecognizer::kMaxStacks instead of taking exponential time.
TEST(GbnfTest, ExponentiallyAmbiguousGrammarIsBounded) {
  const StructuredOutputParams p = GrammarParams("root ::= \"x\" root \"y\" | \"x\" root \"z\" | \"\"\n");
  EXPECT_TRUE(FullMatch(p, "xxyz"));
  EXPECT_TRUE(PrefixMatch(p, "xxxxxxxxxx"));                        // 2^10 stacks
  EXPECT_FALSE(PrefixMatch(p, std::string(40, 'x')));               // cut, not 2^40
  auto m = NewMatcher(MustCompile(Gpt2Vocabulary(), p));
  std::vector<uint32_t> mask(m->bitmask_words());
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_TRUE(m->CanAcceptBytes("xxxx"));
}

constexpr char kPythonCheck[] = R"(
import ast, json, re, sys
cases = json.load(open(sys.argv[1], encoding='utf-8'))
bad = 0
n = 0
def arithmetic_ok(s):
    tree = ast.parse(s, mode='eval')
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div)):
            return False
        if isinstance(node, ast.Constant) and not (isinstance(node.value, int) and 1 <= node.value <= 999):
            return False
    return True
for c in cases:
    for out in c['outputs']:
        n += 1
        try:
            if c['check'] == 'regex':
                ok = re.fullmatch(c['regex'], out, re.ASCII) is not None
            elif c['check'] == 'arithmetic':
                ok = arithmetic_ok(out)
            else:
                ok = isinstance(json.loads(out), dict)
        except Exception as e:
            ok = False
        if not ok:
            bad += 1
            print('invalid:', c['name'], repr(out))
print('checked', n)
sys.exit(1 if bad else 0)
)";

TEST(GbnfTest, RandomGenerationsPassIndependentParsers) {
  struct Case {
    const char* name;
    std::string grammar;
    const char* check;
    const char* regex;
  };
  const std::vector<Case> cases = {
      {"arithmetic", kArithmetic, "arithmetic", ""},
      {"json", kJson, "json", ""},
      {"list", "root ::= (\"- \" item \"\\n\")+\nitem ::= [a-z ]{1,12}\n", "regex", "(- [a-z ]{1,12}\\n)+"},
      {"date_or_word", "root ::= date | word\ndate ::= [0-9]{4} \"-\" [0-9]{2}\nword ::= [A-Za-z]+\n", "regex",
       "[0-9]{4}-[0-9]{2}|[A-Za-z]+"},
      {"yes_no", "root ::= (\"yes\" | \"no\") (\", \" (\"yes\" | \"no\"))*\n", "regex", "(yes|no)(, (yes|no))*"},
  };
  std::mt19937 rng(9);
  nlohmann::json out_cases = nlohmann::json::array();
  int complete = 0, total = 0;
  for (const Case& c : cases) {
    const StructuredOutputParams params = GrammarParams(c.grammar);
    nlohmann::json outputs = nlohmann::json::array();
    for (const auto& vocab : {Stories260KVocabulary(), Gpt2Vocabulary()}) {
      auto matcher = NewMatcher(MustCompile(vocab, params));
      ASSERT_NE(matcher, nullptr) << c.name;
      const bool small = vocab->vocab_size() < 1000;
      for (int k = 0; k < (small ? 8 : 4); ++k) {
        matcher->Reset();
        Walk w = RandomWalk(*matcher, *vocab, rng, 40, /*check_masks=*/small || k == 0);
        ASSERT_FALSE(w.dead_end) << c.name << ": " << w.text;
        complete += w.complete;
        ++total;
        outputs.push_back(w.complete ? w.text : CompleteWithBytes(params, w.text, rng));
      }
    }
    out_cases.push_back({{"name", c.name}, {"check", c.check}, {"regex", c.regex}, {"outputs", outputs}});
  }
  EXPECT_GT(complete, total / 4) << complete << " of " << total;
  const std::string dir = llmserve::testing::MakeTempDir("gbnf-outputs");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/cases.json",
                                           out_cases.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  PythonResult r = RunPython(kPythonCheck, dir + "/cases.json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("checked " + std::to_string(total)), std::string::npos) << r.out;
}

}  // namespace
}  // namespace llmserve::structured::testing
