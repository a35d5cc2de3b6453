// Structured output (issue #23) through the OpenAI-compatible HTTP front, on
// the real engine serving stories260K in process with the ChatML template
// (tests/node/chatml.jinja), greedy (the gRPC test runs the corpus sampled and
// on a second model):
//  - the schema corpus (tests/structured_schemas) as response_format
//    json_schema on /v1/completions: every completed output (finish_reason
//    "stop") is valid against its schema according to Debian's
//    python3-jsonschema; a cut one has finish_reason "length" and
//    max_tokens completion tokens;
//  - regex and choice through vLLM's guided_regex / guided_choice and
//    structured_outputs: the text matches (std::regex) or is one of the
//    choices, and both spellings give the same text;
//  - response_format json_object (and structured_outputs.json_object) on
//    /v1/chat/completions: the message parses as a JSON object (nlohmann) of
//    at least one member;
//  - a constraint the engine cannot compile is a 400 naming the HTTP field and
//    the keyword; two constraints are a 400 naming both;
//  - streaming with a constraint gives the non-streaming text.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "engine/llm_engine.h"
#include "server/server_app.h"
#include "tests/server/http_client.h"
#include "tests/server/structured_output_calls.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using llmserve::testing::HttpReply;
using llmserve::testing::HttpRequest;
using llmserve::testing::SchemaCase;
using llmserve::testing::SseData;
using nlohmann::json;

class HttpStructuredOutputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 2;
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.http.listen_address = "127.0.0.1:0";
    server_options.http.chat_template_source =
        llmserve::testing::ReadFile(llmserve::testing::SourcePath("tests/node/chatml.jinja"));
    server_options.service.logger = [](const RequestLogEntry&) {};
    auto engine = LLMEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto app = ServerApp::Start(*std::move(engine), server_options);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = app->release();
  }
  static void TearDownTestSuite() {
    delete app_;
    app_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(app_, nullptr); }

  static HttpReply Post(const std::string& target, const json& body) {
    return HttpRequest(app_->http_port(), "POST", target, body.dump());
  }
  /// POSTs every body to `target`, `parallel` at a time (so the engine batches
  /// them); the replies in request order.
  static std::vector<HttpReply> PostAll(const std::string& target, const std::vector<json>& bodies,
                                        int parallel = 8) {
    std::vector<HttpReply> replies(bodies.size());
    llmserve::testing::ForEachIndexInParallel(bodies.size(), parallel,
                                              [&](std::size_t i) { replies[i] = Post(target, bodies[i]); });
    return replies;
  }

  static ServerApp* app_;
};

ServerApp* HttpStructuredOutputTest::app_ = nullptr;

json Completion(json fields, const std::string& prompt = "The answer as JSON:", int max_tokens = 60) {
  fields["model"] = "stories260K";
  fields["prompt"] = prompt;
  fields["max_tokens"] = max_tokens;
  fields["temperature"] = 0;
  return fields;
}

json JsonSchemaFormat(const json& schema) {
  return {{"type", "json_schema"},
          {"json_schema", {{"name", "answer"}, {"schema", schema}, {"strict", true}}}};
}

TEST_F(HttpStructuredOutputTest, SchemaCorpusThroughResponseFormatValidates) {
  constexpr int kMaxTokens = 160;
  const std::vector<std::string> files = llmserve::testing::SchemaCorpus();
  ASSERT_GE(files.size(), 50u);
  std::vector<json> bodies;
  for (const std::string& file : files) {
    const json schema = llmserve::testing::ReadJsonFile(file);
    ASSERT_TRUE(schema.is_object()) << file;
    bodies.push_back(Completion({{"response_format", JsonSchemaFormat(schema)}},
                                "The answer as JSON:", kMaxTokens));
  }
  const std::vector<HttpReply> replies = PostAll("/v1/completions", bodies);
  std::vector<SchemaCase> cases;
  int cut = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string id = std::filesystem::path(files[i]).filename().string();
    ASSERT_EQ(replies[i].status, 200) << id << ": " << replies[i].body << replies[i].error;
    const json body = json::parse(replies[i].body);
    const json& choice = body["choices"][0];
    if (choice["finish_reason"] == "stop") {
      cases.push_back({id, files[i], choice["text"].get<std::string>()});
    } else {
      EXPECT_EQ(choice["finish_reason"], "length") << id;
      EXPECT_EQ(body["usage"]["completion_tokens"], kMaxTokens) << id;
      ++cut;
    }
  }
  const std::map<std::string, std::string> verdicts = llmserve::testing::ValidateWithJsonSchema(cases);
  ASSERT_EQ(verdicts.size(), cases.size());
  for (const SchemaCase& c : cases) {
    EXPECT_EQ(verdicts.at(c.id), "") << c.id << " output: " << c.output;
  }
  std::printf("stories260K over HTTP: %zu schemas, %zu complete and valid, %d cut at %d tokens\n",
              files.size(), cases.size(), cut, kMaxTokens);
  // Most outputs complete (the gRPC test's bound on the same corpus).
  EXPECT_GE(cases.size(), files.size() * 3 / 4);
}

TEST_F(HttpStructuredOutputTest, RegexAndChoiceThroughGuidedAndStructuredOutputsMatch) {
  const std::vector<std::string> regexes = {
      "[0-9]{3}-[0-9]{4}",
      "[a-z]{2,8}@[a-z]{2,8}\\.(com|org)",
      "(Once|The) [a-z]{1,10}( [a-z]{1,10}){0,3}\\.",
  };
  const std::vector<std::vector<std::string>> choices = {{"red", "green", "blue"},
                                                         {"Once upon a time", "The end"}};
  std::vector<json> bodies;
  for (const std::string& r : regexes) {
    bodies.push_back(Completion({{"guided_regex", r}}, "Once upon a time"));
    bodies.push_back(Completion({{"structured_outputs", {{"regex", r}}}}, "Once upon a time"));
  }
  for (const std::vector<std::string>& c : choices) {
    bodies.push_back(Completion({{"guided_choice", c}}, "Once upon a time"));
    bodies.push_back(Completion({{"structured_outputs", {{"choice", c}}}}, "Once upon a time"));
  }
  const std::vector<HttpReply> replies = PostAll("/v1/completions", bodies);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    ASSERT_EQ(replies[i].status, 200) << bodies[i].dump() << ": " << replies[i].body;
    const json choice = json::parse(replies[i].body)["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "stop") << bodies[i].dump();
    const std::string text = choice["text"];
    if (i < 2 * regexes.size()) {
      EXPECT_TRUE(std::regex_match(text, std::regex(regexes[i / 2])))
          << bodies[i].dump() << ": '" << text << "'";
    } else {
      const std::vector<std::string>& options = choices[(i - 2 * regexes.size()) / 2];
      EXPECT_NE(std::find(options.begin(), options.end(), text), options.end())
          << bodies[i].dump() << ": '" << text << "'";
    }
    // The two spellings of one constraint: the same greedy text.
    if (i % 2 == 1) {
      EXPECT_EQ(text, json::parse(replies[i - 1].body)["choices"][0]["text"]) << bodies[i].dump();
    }
  }
}

TEST_F(HttpStructuredOutputTest, ChatJsonObjectParsesAsAnObject) {
  const json messages = {{{"role", "user"}, {"content", "Tell me about Lily and her dog."}}};
  // stories260K's greedy object never closes by itself (every value is
  // followed by ',' and a new story-text key) and a cut output is no object:
  // '}' (tok512's byte-fallback token <0x7D>, id 3 + 0x7D) gets a logit bias
  // (applied after the mask, so only where '}' is allowed) so it closes.
  constexpr int32_t kCloseBrace = 3 + '}';
  ASSERT_EQ(app_->engine().tokenizer().TokenBytes(kCloseBrace, kCloseBrace), "}");
  for (const json& constraint :
       {json{{"response_format", {{"type", "json_object"}}}},
        json{{"structured_outputs", {{"json_object", true}}}}}) {
    json body = constraint;
    body["messages"] = messages;
    body["temperature"] = 0;
    body["max_tokens"] = 300;
    body["logit_bias"] = {{std::to_string(kCloseBrace), 10}};
    const HttpReply reply = Post("/v1/chat/completions", body);
    ASSERT_EQ(reply.status, 200) << reply.body << reply.error;
    const json choice = json::parse(reply.body)["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "stop") << reply.body;
    const std::string content = choice["message"]["content"];
    const json parsed = json::parse(content, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(parsed.is_object()) << constraint.dump() << ": '" << content << "'";
    EXPECT_FALSE(parsed.empty()) << content;
  }
}

TEST_F(HttpStructuredOutputTest, BadConstraintsAre400NamingTheFieldAndKeyword) {
  struct Case {
    json fields;
    std::string message_prefix;
    std::string keyword;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"response_format",
         JsonSchemaFormat({{"type", "object"}, {"patternProperties", {{"^a", json::object()}}}})}},
       "response_format.json_schema.schema: ",
       "patternProperties",
       "response_format.json_schema.schema"},
      {{{"guided_json", R"({"type": "integer", "multipleOf": 3})"}}, "guided_json: ", "multipleOf",
       "guided_json"},
      {{{"structured_outputs", {{"json", {{"type", "strin"}}}}}}, "structured_outputs.json: ",
       "strin", "structured_outputs.json"},
      {{{"guided_regex", "(ab"}}, "guided_regex: ", "", "guided_regex"},
      {{{"guided_choice", {"a", ""}}}, "guided_choice[1] must not be empty", "", "guided_choice"},
      {{{"structured_outputs", {{"grammar", "expr ::= \"a\""}}}}, "structured_outputs.grammar: ",
       "root", "structured_outputs.grammar"},
      {{{"response_format", {{"type", "json_object"}}}, {"guided_regex", "a"}},
       "guided_regex: conflicts with response_format", "", "guided_regex"},
  };
  for (const Case& c : cases) {
    const HttpReply reply = Post("/v1/completions", Completion(c.fields));
    EXPECT_EQ(reply.status, 400) << c.fields.dump() << ": " << reply.body;
    const json error = json::parse(reply.body)["error"];
    const std::string message = error["message"];
    EXPECT_TRUE(absl::StartsWith(message, c.message_prefix))
        << "'" << message << "' does not start with '" << c.message_prefix << "'";
    EXPECT_TRUE(absl::StrContains(message, c.keyword)) << message;
    EXPECT_EQ(error["type"], "invalid_request_error");
    EXPECT_EQ(error["param"], c.param) << message;
  }
  // The server still serves constrained requests after the refusals.
  const HttpReply ok = Post("/v1/completions", Completion({{"guided_choice", {"x"}}}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["choices"][0]["text"], "x");
}

TEST_F(HttpStructuredOutputTest, PropertiesComeInTheSchemasOrder) {
  // "zeta" before "alpha": the body's order, not a sorted map's.
  const std::string body =
      R"({"prompt": "The answer as JSON:", "max_tokens": 100, "temperature": 0,)"
      R"( "response_format": {"type": "json_schema", "json_schema": {"name": "order", "schema":)"
      R"( {"type": "object", "properties": {"zeta": {"type": "integer"},)"
      R"( "alpha": {"type": "string", "maxLength": 8}}, "required": ["zeta", "alpha"]}}}})";
  const HttpReply reply = HttpRequest(app_->http_port(), "POST", "/v1/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json choice = json::parse(reply.body)["choices"][0];
  ASSERT_EQ(choice["finish_reason"], "stop") << reply.body;
  const nlohmann::ordered_json output = nlohmann::ordered_json::parse(choice["text"].get<std::string>());
  ASSERT_EQ(output.size(), 2u) << output.dump();
  EXPECT_EQ(output.begin().key(), "zeta") << output.dump();
}

TEST_F(HttpStructuredOutputTest, StreamingGivesTheNonStreamingText) {
  const json schema = llmserve::testing::ReadJsonFile(
      llmserve::testing::SourcePath("tests/structured_schemas/01_person.json"));
  for (const json& fields :
       {json{{"response_format", JsonSchemaFormat(schema)}},
        json{{"guided_regex", "(Once|The) [a-z]{1,10}( [a-z]{1,10}){0,3}\\."}},
        json{{"structured_outputs", {{"choice", {"red", "green", "blue"}}}}}}) {
    const json request = Completion(fields, "The answer as JSON:", 160);
    const HttpReply whole = Post("/v1/completions", request);
    ASSERT_EQ(whole.status, 200) << whole.body;
    const json choice = json::parse(whole.body)["choices"][0];
    json stream_request = request;
    stream_request["stream"] = true;
    const HttpReply streamed = Post("/v1/completions", stream_request);
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    std::string text;
    json finish_reason;
    for (const std::string& data : SseData(streamed.body)) {
      if (data == "[DONE]") break;
      const json chunk = json::parse(data);
      ASSERT_FALSE(chunk.contains("error")) << data;
      for (const json& c : chunk["choices"]) {
        text += c["text"].get<std::string>();
        if (!c["finish_reason"].is_null()) finish_reason = c["finish_reason"];
      }
    }
    EXPECT_EQ(text, choice["text"]) << fields.dump();
    EXPECT_EQ(finish_reason, choice["finish_reason"]) << fields.dump();
    EXPECT_EQ(finish_reason, "stop") << fields.dump();
  }
}

}  // namespace
}  // namespace llmserve::server
