// Structured output (issue #23) through the gRPC server with real models:
// stories260K (the tok512 SentencePiece vocabulary with byte fallback) and
// gpt2-tiny-random (random weights, GPT-2's 50,257-token byte-level BPE). The
// models' own preferences fight the constraint; the constraint must win:
//  - the schema corpus (tests/structured_schemas: 61 real-world shapes),
//    greedy and sampled: every completed output is JSON valid against its
//    schema according to Debian's python3-jsonschema (not llmserve's
//    matcher); an output cut by max_tokens has finish reason LENGTH and is a
//    prefix of the same request's output with a larger max_tokens (which,
//    when complete, validates too);
//  - regex and choice outputs match (std::regex, ECMAScript);
//  - constraints that do not compile are INVALID_ARGUMENT naming the field
//    and the keyword.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cctype>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/server_app.h"
#include "tests/server/structured_output_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CallResult;
using ::llmserve::testing::ChoiceConstraint;
using ::llmserve::testing::ConstrainedRequest;
using ::llmserve::testing::GenerateAll;
using ::llmserve::testing::JsonSchemaConstraint;
using ::llmserve::testing::ReadFile;
using ::llmserve::testing::RegexConstraint;
using ::llmserve::testing::SchemaCase;
using ::llmserve::testing::SharedPath;

// A served model and the token budgets its context allows.
struct ServedModel {
  const char* name;
  ServerApp* app = nullptr;
  std::shared_ptr<v1::Generation::Stub> stub;
  int max_tokens;       // the corpus run
  int long_max_tokens;  // the rerun of outputs cut by max_tokens
};

class StructuredOutputServerTest : public ::testing::Test {
 protected:
  static ServerApp* Start(const EngineOptions& options) {
    auto engine = LLMEngine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return nullptr;
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    auto app = ServerApp::Start(*std::move(engine), server_options);
    EXPECT_TRUE(app.ok()) << app.status();
    return app.ok() ? app->release() : nullptr;
  }
  static void SetUpTestSuite() {
    EngineOptions stories;
    stories.model_path = SharedPath("models/stories260K/stories260K.bin");
    stories.num_threads = 2;
    stories_ = Start(stories);
    EngineOptions gpt2;
    gpt2.model_path = SharedPath("models/gpt2-tiny-random");
    gpt2.tokenizer_path = SharedPath("models/gpt2-tokenizer/encoder.json");
    gpt2.num_threads = 2;
    gpt2_ = Start(gpt2);
  }
  static void TearDownTestSuite() {
    delete stories_;
    delete gpt2_;
    stories_ = gpt2_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(stories_, nullptr);
    ASSERT_NE(gpt2_, nullptr);
  }
  static std::shared_ptr<v1::Generation::Stub> StubOf(ServerApp* app) {
    return v1::Generation::NewStub(
        grpc::CreateChannel(app->address(), grpc::InsecureChannelCredentials()));
  }
  // stories260K: 512 positions; gpt2-tiny-random: 128.
  ServedModel Stories() { return {"stories260K", stories_, StubOf(stories_), 160, 400}; }
  ServedModel Gpt2() { return {"gpt2-tiny-random", gpt2_, StubOf(gpt2_), 60, 110}; }

  static ServerApp* stories_;
  static ServerApp* gpt2_;
};

ServerApp* StructuredOutputServerTest::stories_ = nullptr;
ServerApp* StructuredOutputServerTest::gpt2_ = nullptr;

constexpr char kPrompt[] = "The answer as JSON:";

bool Completed(const v1::GenerateResponse& r) {
  return r.finish_reason() == v1::FINISH_REASON_STOP || r.finish_reason() == v1::FINISH_REASON_EOS;
}

// The corpus on one model, greedy and sampled (see the file comment).
void RunSchemaCorpus(const ServedModel& model) {
  const std::vector<std::string> files = llmserve::testing::SchemaCorpus();
  ASSERT_GE(files.size(), 50u);
  std::vector<v1::GenerateRequest> requests;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string schema = ReadFile(files[i]);
    ASSERT_FALSE(schema.empty()) << files[i];
    for (const bool greedy : {true, false}) {
      requests.push_back(ConstrainedRequest(kPrompt, JsonSchemaConstraint(schema),
                                            greedy ? 0.0f : 1.0f, 1000 + i, model.max_tokens));
      ids.push_back(std::string(model.name) + (greedy ? " greedy " : " sampled ") +
                    std::filesystem::path(files[i]).filename().string());
    }
  }
  const std::vector<CallResult> results = GenerateAll(*model.stub, requests);

  std::vector<SchemaCase> cases;
  std::vector<std::size_t> cut;
  for (std::size_t k = 0; k < results.size(); ++k) {
    const std::string& file = files[k / 2];
    const CallResult& r = results[k];
    ASSERT_TRUE(r.status.ok()) << ids[k] << ": " << r.status.error_message();
    if (Completed(r.response)) {
      cases.push_back({ids[k], file, r.response.text()});
    } else {
      EXPECT_EQ(r.response.finish_reason(), v1::FINISH_REASON_LENGTH) << ids[k];
      EXPECT_EQ(r.response.token_ids_size(), model.max_tokens) << ids[k];
      cut.push_back(k);
    }
  }
  // A cut output is the prefix of the same (deterministic) request with more room.
  std::vector<v1::GenerateRequest> longer;
  for (std::size_t k : cut) {
    longer.push_back(requests[k]);
    longer.back().mutable_sampling_params()->set_max_tokens(model.long_max_tokens);
  }
  const std::vector<CallResult> reruns = GenerateAll(*model.stub, longer);
  int completed_on_rerun = 0;
  for (std::size_t j = 0; j < cut.size(); ++j) {
    const std::size_t k = cut[j];
    const CallResult& r = reruns[j];
    ASSERT_TRUE(r.status.ok()) << ids[k] << ": " << r.status.error_message();
    const auto& short_ids = results[k].response.token_ids();
    ASSERT_GE(r.response.token_ids_size(), short_ids.size()) << ids[k];
    EXPECT_TRUE(std::equal(short_ids.begin(), short_ids.end(), r.response.token_ids().begin()))
        << ids[k] << ": the cut output is not a prefix of the longer one";
    EXPECT_TRUE(absl::StartsWith(r.response.text(), results[k].response.text())) << ids[k];
    if (Completed(r.response)) {
      ++completed_on_rerun;
      cases.push_back({ids[k] + " (rerun)", files[k / 2], r.response.text()});
    }
  }
  const std::map<std::string, std::string> verdicts = llmserve::testing::ValidateWithJsonSchema(cases);
  ASSERT_EQ(verdicts.size(), cases.size());
  for (const SchemaCase& c : cases) {
    EXPECT_EQ(verdicts.at(c.id), "") << c.id << " output: " << c.output;
  }
  std::printf("%s: %zu outputs, %zu complete, %zu cut at %d tokens (%d of them complete at %d)\n",
              model.name, results.size(), results.size() - cut.size(), cut.size(),
              model.max_tokens, completed_on_rerun, model.long_max_tokens);
  // Most outputs complete: the constraint steers even a model that never saw JSON.
  EXPECT_GE(results.size() - cut.size() + completed_on_rerun, results.size() * 3 / 4) << model.name;
}

TEST_F(StructuredOutputServerTest, SchemaCorpusOnStories260K) { RunSchemaCorpus(Stories()); }

TEST_F(StructuredOutputServerTest, SchemaCorpusOnGpt2Vocabulary) { RunSchemaCorpus(Gpt2()); }

TEST_F(StructuredOutputServerTest, RegexAndChoiceOutputsMatch) {
  // Bounded patterns: every output completes within max_tokens (>= 1 byte per token).
  const std::vector<std::string> regexes = {
      "[0-9]{3}-[0-9]{4}",
      "(yes|no|maybe)",
      "[a-z]{2,8}@[a-z]{2,8}\\.(com|org)",
      "[0-9]{4}-(0[1-9]|1[0-2])-[0-2][0-9]",
      "(Once|The) [a-z]{1,10}( [a-z]{1,10}){0,3}\\.",
      "[A-Z][a-z]{0,12}",
      "-?(0|[1-9][0-9]{0,5})(\\.[0-9]{1,3})?",
  };
  const std::vector<std::vector<std::string>> choices = {
      {"red", "green", "blue"}, {"Once upon a time", "The end"}, {"yes", "no"}, {"a", "ab", "abc"}};
  for (const ServedModel& model : {Stories(), Gpt2()}) {
    std::vector<v1::GenerateRequest> requests;
    std::vector<std::string> what;
    for (std::size_t i = 0; i < regexes.size() + choices.size(); ++i) {
      const bool is_regex = i < regexes.size();
      const v1::StructuredOutput so =
          is_regex ? RegexConstraint(regexes[i]) : ChoiceConstraint(choices[i - regexes.size()]);
      for (const bool greedy : {true, false}) {
        for (uint64_t seed : {1u, 2u, 3u}) {
          if (greedy && seed > 1) continue;
          requests.push_back(ConstrainedRequest("Once upon a time", so, greedy ? 0.0f : 1.0f, seed, 60));
          what.push_back(std::string(model.name) + " " + so.ShortDebugString() + " seed " +
                         std::to_string(seed) + (greedy ? " greedy" : ""));
        }
      }
    }
    const std::vector<CallResult> results = GenerateAll(*model.stub, requests);
    for (std::size_t k = 0; k < results.size(); ++k) {
      const CallResult& r = results[k];
      ASSERT_TRUE(r.status.ok()) << what[k] << ": " << r.status.error_message();
      EXPECT_TRUE(Completed(r.response)) << what[k] << " finish " << r.response.finish_reason();
      const v1::StructuredOutput& so = requests[k].sampling_params().structured_output();
      const std::string& text = r.response.text();
      if (so.has_regex()) {
        EXPECT_TRUE(std::regex_match(text, std::regex(so.regex()))) << what[k] << ": '" << text << "'";
      } else {
        const auto& options = so.choice().choices();
        EXPECT_NE(std::find(options.begin(), options.end(), text), options.end())
            << what[k] << ": '" << text << "'";
      }
    }
  }
}

// An independent recognizer of kArithmeticGrammar's language:
// expr := term (('+' | '-') term)*, term := [0-9]{1,3} | '(' expr ')'.
bool ParseExpr(const std::string& s, std::size_t& i);
bool ParseTerm(const std::string& s, std::size_t& i) {
  if (i < s.size() && s[i] == '(') {
    ++i;
    if (!ParseExpr(s, i) || i >= s.size() || s[i] != ')') return false;
    ++i;
    return true;
  }
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0 && digits < 3) ++i, ++digits;
  return digits > 0;
}
bool ParseExpr(const std::string& s, std::size_t& i) {
  if (!ParseTerm(s, i)) return false;
  while (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    ++i;
    if (!ParseTerm(s, i)) return false;
  }
  return true;
}
bool IsArithmetic(const std::string& s) {
  std::size_t i = 0;
  return ParseExpr(s, i) && i == s.size();
}

constexpr char kArithmeticGrammar[] = R"gbnf(# arithmetic over small numbers
root ::= expr
expr ::= term (("+" | "-") term)*
term ::= num | "(" expr ")"
num  ::= [0-9] | [0-9] [0-9] | [0-9] [0-9] [0-9]
)gbnf";
constexpr char kListGrammar[] = R"gbnf(root ::= "- " item ("\n- " item){0,3}
item ::= [a-z]{1,8} (" " [a-z]{1,8})?
)gbnf";

TEST_F(StructuredOutputServerTest, GrammarOutputsParse) {
  const std::regex list("- [a-z]{1,8}( [a-z]{1,8})?(\n- [a-z]{1,8}( [a-z]{1,8})?){0,3}");
  for (const ServedModel& model : {Stories(), Gpt2()}) {
    std::vector<v1::GenerateRequest> requests;
    for (const char* grammar : {kArithmeticGrammar, kListGrammar}) {
      v1::StructuredOutput so;
      so.set_grammar(grammar);
      for (uint64_t seed = 0; seed < 8; ++seed) {
        requests.push_back(ConstrainedRequest("Once", so, seed == 0 ? 0.0f : 1.0f, seed, 60));
      }
    }
    const std::vector<CallResult> results = GenerateAll(*model.stub, requests);
    int complete = 0;
    for (std::size_t k = 0; k < results.size(); ++k) {
      const CallResult& r = results[k];
      ASSERT_TRUE(r.status.ok()) << model.name << " " << k << ": " << r.status.error_message();
      const bool arithmetic = k < 8;
      const std::string& text = r.response.text();
      if (!Completed(r.response)) continue;  // recursion may run past max_tokens
      ++complete;
      if (arithmetic) {
        EXPECT_TRUE(IsArithmetic(text)) << model.name << " " << k << ": '" << text << "'";
      } else {
        EXPECT_TRUE(std::regex_match(text, list)) << model.name << " " << k << ": '" << text << "'";
      }
    }
    EXPECT_GE(complete, 12) << model.name;  // the list grammar is bounded: all 8 complete
  }
}

// The status of one unary call with `so` on stories260K.
grpc::Status CallWith(v1::Generation::Stub& stub, const v1::StructuredOutput& so) {
  grpc::ClientContext context;
  v1::GenerateResponse response;
  return stub.Generate(&context, ConstrainedRequest("Hi", so, 0.0f, 1, 8), &response);
}

TEST_F(StructuredOutputServerTest, ConstraintsThatDoNotCompileAreInvalidArgumentNamingTheKeyword) {
  auto stub = StubOf(stories_);
  struct Case {
    v1::StructuredOutput so;
    std::string prefix;   // the field the message starts with
    std::string keyword;  // what the message must name
  };
  const std::string schema_field = "sampling_params.structured_output.json_schema";
  std::vector<Case> cases = {
      {JsonSchemaConstraint(R"({"type": "object", "patternProperties": {"^a": {}}})"), schema_field,
       "patternProperties"},
      {JsonSchemaConstraint(R"({"type": "string", "not": {"const": "a"}})"), schema_field, "not"},
      {JsonSchemaConstraint(R"({"type": "integer", "multipleOf": 3})"), schema_field, "multipleOf"},
      {JsonSchemaConstraint(R"({"type": "object", "if": {}, "then": {}})"), schema_field, "if"},
      {JsonSchemaConstraint(R"({"type": "strin"})"), schema_field, "strin"},
      {JsonSchemaConstraint(R"({"$ref": "#/$defs/missing"})"), schema_field, "missing"},
      {JsonSchemaConstraint(R"({"type": "object",)"), schema_field, ""},
      {RegexConstraint("(ab"), "sampling_params.structured_output.regex", ""},
      {RegexConstraint(""), "sampling_params.structured_output.regex must not be empty", ""},
      {ChoiceConstraint({}), "sampling_params.structured_output.choice.choices must not be empty", ""},
      {ChoiceConstraint({"a", ""}), "sampling_params.structured_output.choice.choices[1]", ""},
  };
  v1::StructuredOutput json_object_false;
  json_object_false.set_json_object(false);
  cases.push_back({json_object_false, "sampling_params.structured_output.json_object", ""});
  cases.push_back({v1::StructuredOutput(), "sampling_params.structured_output: one of", ""});
  for (const Case& c : cases) {
    const grpc::Status status = CallWith(*stub, c.so);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.so.ShortDebugString();
    EXPECT_TRUE(absl::StartsWith(status.error_message(), c.prefix))
        << c.so.ShortDebugString() << ": '" << status.error_message() << "' does not start with '"
        << c.prefix << "'";
    EXPECT_TRUE(absl::StrContains(status.error_message(), c.keyword))
        << c.so.ShortDebugString() << ": " << status.error_message();
  }
  // The server still serves constrained requests after the refusals.
  EXPECT_TRUE(CallWith(*stub, ChoiceConstraint({"x"})).ok());
}

}  // namespace
}  // namespace llmserve::server
