// JSON Schema constraints: errors naming the keyword, byte-level accept /
// reject, and for a corpus of 52 schemas of real-world shapes
// (data/json_schema_corpus.json) random generations on the real stories260K
// and GPT-2 vocabularies — masks compared with brute force, every output (cut
// ones completed byte by byte) validated by Python's jsonschema (Debian's
// python3-jsonschema, an independent validator, with its format checker).

#include <gtest/gtest.h>

#include <random>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "tests/structured/structured_test_util.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {
namespace {

absl::Status CompileError(const std::string& schema) {
  auto compiler = StructuredOutputCompiler::Create(ByteVocabulary());
  auto r = compiler->Compile(SchemaParams(schema));
  return r.ok() ? absl::OkStatus() : r.status();
}

TEST(JsonSchemaTest, ErrorsNameTheKeyword) {
  struct Case {
    std::string schema;
    const char* message;
  };
  std::vector<Case> cases = {
      {R"({"type":"object","patternProperties":{"^a":{}}})",
       "structured_output.json_schema: unsupported keyword 'patternProperties'"},
      {R"({"type":"object","properties":{"a":{"type":"string","contentEncoding":"base64"}}})",
       "structured_output.json_schema: unsupported keyword 'contentEncoding'"},
      {R"({"oneOf":[{"type":"string"}]})", "structured_output.json_schema: unsupported keyword 'oneOf'"},
      {R"({"type":"object")", "structured_output.json_schema: not valid JSON"},
      {R"({"type":"text"})", "structured_output.json_schema: unsupported type 'text' at #"},
      {R"({"type":"string","format":"hostname"})", "structured_output.json_schema: unsupported format 'hostname'"},
      {R"({"$ref":"#/$defs/missing"})", "structured_output.json_schema: $ref '#/$defs/missing' does not resolve"},
      {R"({"$ref":"https://example.com/s.json"})",
       "structured_output.json_schema: unsupported $ref 'https://example.com/s.json' (only '#...' pointers)"},
      {R"({"type":"string","pattern":"a(b"})",
       "structured_output.json_schema: 'pattern' at #: unbalanced parenthesis at offset 1"},
      {R"({"type":"array","minItems":3,"maxItems":2})", "structured_output.json_schema: 'maxItems' < 'minItems' at #"},
      {R"({"type":"integer","minimum":5,"maximum":4})",
       "structured_output.json_schema: no number satisfies the bounds at #"},
      {R"({"type":"string","minLength":-1})",
       "structured_output.json_schema: 'minLength' at # must be a non-negative integer"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
       "structured_output.json_schema: the grammar matches no string"},
      {R"({"$defs":{"a":{"type":"array","items":{"$ref":"#/$defs/a"},"minItems":1}},"$ref":"#/$defs/a"})",
       "structured_output.json_schema: the grammar matches no string"},
  };
  std::string deep = R"({"type":"integer"})";
  for (int i = 0; i < 200; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  cases.push_back({deep, ""});
  for (Case& c : cases) {
    if (c.schema == deep) {
      absl::Status s = CompileError(c.schema);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(absl::StartsWith(s.message(), "structured_output.json_schema: schema nested deeper than 128 at #"))
          << s.message();
      continue;
    }
    absl::Status s = CompileError(c.schema);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.schema;
    EXPECT_EQ(std::string(s.message()), c.message) << c.schema;
  }
}

TEST(JsonSchemaTest, AcceptsAndRejects) {
  const StructuredOutputParams person = SchemaParams(
      R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},
          "email":{"type":"string","format":"email"}},"required":["name","age"],"additionalProperties":false})");
  for (const char* s : {R"({"name":"Ann","age":31})", R"({ "name": "Ann", "age": 0, "email": "a@b.org" })",
                        R"({"name":"","age":150})"}) {
    EXPECT_TRUE(FullMatch(person, s)) << s;
  }
  for (const char* s : {R"({"age":31,"name":"Ann"})", R"({"name":"Ann"})", R"({"name":"Ann","age":151})",
                        R"({"name":"Ann","age":-1})", R"({"name":"Ann","age":31,"x":1})",
                        R"({"name":"Ann","age":031})", R"({"name":"Ann","age":3,"email":"nope"})"}) {
    EXPECT_FALSE(FullMatch(person, s)) << s;
  }
  const StructuredOutputParams ints = SchemaParams(R"({"type":"integer","minimum":-12,"maximum":305})");
  for (int v = -30; v <= 400; ++v) {
    EXPECT_EQ(FullMatch(ints, std::to_string(v)), v >= -12 && v <= 305) << v;
  }
  const StructuredOutputParams nums = SchemaParams(R"({"type":"number","exclusiveMinimum":-3,"maximum":2})");
  for (const char* s : {"-2", "0", "0.5", "1.999", "2", "-0.5", "-1.25"}) EXPECT_TRUE(FullMatch(nums, s)) << s;
  // The exclusive bound -3 becomes -2 (integer bounds): -2.99 is valid JSON
  // Schema but never generated.
  for (const char* s : {"-3", "-3.5", "-2.99", "2.5", "3", "-0", "2.0e1"}) EXPECT_FALSE(FullMatch(nums, s)) << s;
  const StructuredOutputParams arr = SchemaParams(R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2})");
  for (const char* s : {"[true]", "[true, false]", "[ false ]"}) EXPECT_TRUE(FullMatch(arr, s)) << s;
  for (const char* s : {"[]", "[true,true,true]", "[1]"}) EXPECT_FALSE(FullMatch(arr, s)) << s;
}

constexpr char kPythonSchemaCheck[] = R"(
import datetime, json, sys
import jsonschema
# Draft 2020-12's format checkers (date, email, uuid); time and date-time are
# checked with datetime.fromisoformat (jsonschema's own need rfc3339-validator,
# which Debian does not package).
fc = jsonschema.Draft202012Validator.FORMAT_CHECKER
@fc.checks('date-time', raises=ValueError)
def date_time(s):
    return not isinstance(s, str) or bool(datetime.datetime.fromisoformat(s))
@fc.checks('time', raises=ValueError)
def time(s):
    return not isinstance(s, str) or bool(datetime.datetime.fromisoformat('1970-01-01T' + s))
cases = json.load(open(sys.argv[1], encoding='utf-8'))
bad = 0
n = 0
for c in cases:
    validator = jsonschema.Draft202012Validator(c['schema'], format_checker=fc)
    for out in c['outputs']:
        n += 1
        try:
            validator.validate(json.loads(out))
        except Exception as e:
            bad += 1
            print('invalid:', c['name'], repr(out), str(e).splitlines()[0])
print('checked', n)
sys.exit(1 if bad else 0)
)";

// Random walks for every corpus schema on `vocab`; masks compared with brute
// force on the first `checked_walks` walks; outputs validated by Python.
void CheckCorpus(const std::shared_ptr<const StructuredVocabulary>& vocab, int schema_stride, int walks,
                 int checked_walks, int max_tokens) {
  nlohmann::json corpus = llmserve::testing::ReadJsonFile(
      std::string(LLMSERVE_TEST_SOURCE_DIR) + "/tests/structured/data/json_schema_corpus.json");
  ASSERT_TRUE(corpus.is_array());
  ASSERT_GE(corpus.size(), 50u);
  std::mt19937 rng(5);
  nlohmann::json cases = nlohmann::json::array();
  int complete = 0, total = 0;
  for (std::size_t i = 0; i < corpus.size(); i += schema_stride) {
    const std::string name = corpus[i]["name"];
    const StructuredOutputParams params = SchemaParams(corpus[i]["schema"].dump());
    auto compiled = MustCompile(vocab, params);
    ASSERT_NE(compiled, nullptr) << name;
    auto matcher = NewMatcher(compiled);
    nlohmann::json outputs = nlohmann::json::array();
    for (int k = 0; k < walks; ++k) {
      matcher->Reset();
      Walk w = RandomWalk(*matcher, *vocab, rng, max_tokens, /*check_masks=*/k < checked_walks);
      ASSERT_FALSE(w.dead_end) << name << ": " << w.text;
      complete += w.complete;
      ++total;
      outputs.push_back(w.complete ? w.text : CompleteWithBytes(params, w.text, rng));
    }
    cases.push_back({{"name", name}, {"schema", corpus[i]["schema"]}, {"outputs", outputs}});
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(complete, total / 4) << complete << " of " << total;
  const std::string dir = llmserve::testing::MakeTempDir("json-schema-outputs");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/cases.json",
                                           cases.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  PythonResult r = RunPython(kPythonSchemaCheck, dir + "/cases.json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("checked " + std::to_string(total)), std::string::npos) << r.out;
}

TEST(JsonSchemaTest, CorpusOnStories260K) { CheckCorpus(Stories260KVocabulary(), 1, 6, 2, 80); }

TEST(JsonSchemaTest, CorpusOnGpt2) { CheckCorpus(Gpt2Vocabulary(), 4, 3, 1, 60); }

}  // namespace
}  // namespace llmserve::structured::testing
