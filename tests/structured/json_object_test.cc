// The json_object constraint: byte-level accept/reject, the token mask against
// brute force on the real stories260K and GPT-2 vocabularies, and random
// generations parsed by Python's json module (an independent parser).

#include <gtest/gtest.h>

#include <random>

#include "nlohmann/json.hpp"
#include "tests/structured/structured_test_util.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {
namespace {

TEST(JsonObjectTest, AcceptsObjectsOnly) {
  const StructuredOutputParams p = JsonObjectParams();
  for (const char* s : {"{}", "{ }", "{\"a\":1}", "{\"a\": 1, \"b\": [true, null, -0.5e+3, \"x\\u00e9\\n\"]}",
                        "{\"k\": {\"n\": {}}}", "{\"é\":\"😀\"}", "{ \"a\" : [ ] }"}) {
    EXPECT_TRUE(FullMatch(p, s)) << s;
  }
  for (const char* s : {"", "[]", "1", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{'a':1}", "{\"a\":01}",
                        "{\"a\":1.}", "{  }", "{\n}", "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{} "}) {
    EXPECT_FALSE(FullMatch(p, s)) << s;
  }
  EXPECT_TRUE(PrefixMatch(p, "{\"a\": [1, {\"b\""));
  EXPECT_FALSE(PrefixMatch(p, "{\"a\": [1, {\"b\"]"));
}

constexpr char kPythonJsonCheck[] = R"(
import json, sys
outs = json.load(open(sys.argv[1], encoding='utf-8'))
bad = 0
for o in outs:
    try:
        v = json.loads(o)
        if not isinstance(v, dict):
            raise ValueError('not an object')
    except Exception as e:
        bad += 1
        print('invalid:', repr(o), e)
print('checked', len(outs))
sys.exit(1 if bad else 0)
)";

// Random walks on a real vocabulary, masks compared with brute force at every
// step of the first walks; completed outputs (and cut ones, completed byte by
// byte) parsed by Python.
void CheckRandomWalks(const std::shared_ptr<const StructuredVocabulary>& vocab, int walks, int checked_walks,
                      int max_tokens) {
  std::mt19937 rng(11);
  auto matcher = NewMatcher(MustCompile(vocab, JsonObjectParams()));
  ASSERT_NE(matcher, nullptr);
  nlohmann::json outputs = nlohmann::json::array();
  int complete = 0;
  for (int i = 0; i < walks; ++i) {
    matcher->Reset();
    Walk w = RandomWalk(*matcher, *vocab, rng, max_tokens, /*check_masks=*/i < checked_walks);
    ASSERT_FALSE(w.dead_end) << w.text;
    complete += w.complete;
    outputs.push_back(w.complete ? w.text : CompleteWithBytes(JsonObjectParams(), w.text, rng));
  }
  EXPECT_GT(complete, 0);
  const std::string dir = llmserve::testing::MakeTempDir("json-object-outputs");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/outputs.json",
                                           outputs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  PythonResult r = RunPython(kPythonJsonCheck, dir + "/outputs.json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("checked " + std::to_string(walks)), std::string::npos) << r.out;
}

TEST(JsonObjectTest, Stories260KMaskEqualsBruteForceAndOutputsParse) {
  CheckRandomWalks(Stories260KVocabulary(), 40, 10, 60);
}

TEST(JsonObjectTest, Gpt2MaskEqualsBruteForceAndOutputsParse) { CheckRandomWalks(Gpt2Vocabulary(), 30, 2, 40); }

}  // namespace
}  // namespace llmserve::structured::testing
