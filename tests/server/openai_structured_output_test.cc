// The structured-output fields of the HTTP front (issue #23), without a
// server: every form of OpenAI's response_format and vLLM's guided_* /
// structured_outputs maps to the StructuredOutputParams the gRPC API would
// carry, on both endpoints; wrong types, unknown types, missing members and
// two constraints in one request are 400s naming the fields; the engine's
// messages about the constraint are renamed to the HTTP field.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "engine/chat_template/chat_template.h"
#include "server/http/openai_error.h"
#include "server/http/openai_request.h"
#include "server/http/openai_structured_output.h"
#include "tests/server/fake_engine.h"

namespace llmserve::server::http {
namespace {

using llmserve::testing::FakeTokenizer;
using nlohmann::json;
using Kind = StructuredOutputParams::Kind;

StructuredOutputParams Expected(Kind kind, std::string text = "",
                                std::vector<std::string> choices = {}) {
  StructuredOutputParams p;
  p.kind = kind;
  p.text = std::move(text);
  p.choices = std::move(choices);
  return p;
}

class OpenAIStructuredOutputTest : public ::testing::Test {
 protected:
  OpenAIStructuredOutputTest() : tokenizer_(300) {
    context_.tokenizer = &tokenizer_;
    context_.max_context = 64;
    auto chat = ChatTemplate::Compile(
        "{% for m in messages %}{{ m['content'] }}{% endfor %}");
    EXPECT_TRUE(chat.ok()) << chat.status();
    chat_template_ = *std::move(chat);
    context_.chat_template = chat_template_.get();
  }
  /// `fields` added to a minimal body of `endpoint`.
  absl::StatusOr<OpenAIRequest> Parse(json fields, Endpoint endpoint = Endpoint::kCompletions) {
    if (endpoint == Endpoint::kCompletions) {
      fields["prompt"] = "ab";
    } else {
      fields["messages"] = {{{"role", "user"}, {"content", "ab"}}};
    }
    return ParseOpenAIRequest(fields, endpoint, context_);
  }
  std::string Error(const json& fields, Endpoint endpoint = Endpoint::kCompletions) {
    absl::StatusOr<OpenAIRequest> r = Parse(fields, endpoint);
    EXPECT_FALSE(r.ok()) << fields.dump();
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  }
  FakeTokenizer tokenizer_;
  std::unique_ptr<ChatTemplate> chat_template_;
  PromptContext context_;
};

TEST_F(OpenAIStructuredOutputTest, EveryFormMapsToItsConstraintOnBothEndpoints) {
  const json schema = {{"type", "object"},
                       {"properties", {{"a", {{"type", "integer"}}}}},
                       {"required", {"a"}}};
  const std::string schema_text = schema.dump();
  struct Case {
    json fields;
    StructuredOutputParams params;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"response_format",
         {{"type", "json_schema"},
          {"json_schema", {{"name", "thing"}, {"schema", schema}, {"strict", true}}}}}},
       Expected(Kind::kJsonSchema, schema_text),
       "response_format.json_schema.schema"},
      {{{"response_format", {{"type", "json_object"}}}}, Expected(Kind::kJsonObject),
       "response_format"},
      {{{"guided_json", schema}}, Expected(Kind::kJsonSchema, schema_text), "guided_json"},
      // A schema as text is passed as written (the compiler keeps its key order).
      {{{"guided_json", R"({"type": "string"})"}},
       Expected(Kind::kJsonSchema, R"({"type": "string"})"), "guided_json"},
      {{{"guided_regex", "[0-9]+"}}, Expected(Kind::kRegex, "[0-9]+"), "guided_regex"},
      {{{"guided_choice", {"yes", "no"}}}, Expected(Kind::kChoice, "", {"yes", "no"}),
       "guided_choice"},
      {{{"guided_grammar", "root ::= \"a\""}}, Expected(Kind::kGrammar, "root ::= \"a\""),
       "guided_grammar"},
      {{{"structured_outputs", {{"json", schema}}}}, Expected(Kind::kJsonSchema, schema_text),
       "structured_outputs.json"},
      {{{"structured_outputs", {{"json", "{}"}}}}, Expected(Kind::kJsonSchema, "{}"),
       "structured_outputs.json"},
      {{{"structured_outputs", {{"regex", "a|b"}}}}, Expected(Kind::kRegex, "a|b"),
       "structured_outputs.regex"},
      {{{"structured_outputs", {{"choice", {"x"}}}}}, Expected(Kind::kChoice, "", {"x"}),
       "structured_outputs.choice"},
      {{{"structured_outputs", {{"grammar", "root ::= [a-z]+"}}}},
       Expected(Kind::kGrammar, "root ::= [a-z]+"), "structured_outputs.grammar"},
      {{{"structured_outputs", {{"json_object", true}, {"disable_any_whitespace", true}}}},
       Expected(Kind::kJsonObject), "structured_outputs.json_object"},
      // {"type": "text"} is no constraint, so it combines with one.
      {{{"response_format", {{"type", "text"}}}, {"guided_regex", "a"}},
       Expected(Kind::kRegex, "a"), "guided_regex"},
  };
  for (const Endpoint endpoint : {Endpoint::kCompletions, Endpoint::kChatCompletions}) {
    for (const Case& c : cases) {
      absl::StatusOr<OpenAIRequest> r = Parse(c.fields, endpoint);
      ASSERT_TRUE(r.ok()) << c.fields.dump() << ": " << r.status();
      ASSERT_TRUE(r->engine.sampling.structured_output.has_value()) << c.fields.dump();
      EXPECT_EQ(*r->engine.sampling.structured_output, c.params) << c.fields.dump();
      EXPECT_EQ(r->structured_output_field, c.field);
    }
    // None, and {"type": "text"} alone: no constraint.
    for (const json& fields : {json::object(), json{{"response_format", {{"type", "text"}}}},
                               json{{"guided_json", nullptr}}}) {
      absl::StatusOr<OpenAIRequest> r = Parse(fields, endpoint);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_FALSE(r->engine.sampling.structured_output.has_value()) << fields.dump();
      EXPECT_EQ(r->structured_output_field, "");
    }
  }
}

TEST_F(OpenAIStructuredOutputTest, SchemaObjectsKeepTheClientsKeyOrder) {
  // Not alphabetical: a sorted map would put "alpha" first.
  const std::string schema =
      R"({"type":"object","properties":{"zeta":{"type":"integer"},"alpha":{"type":"string"}},)"
      R"("required":["zeta","alpha"]})";
  for (const std::string& field :
       {R"("response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": )" +
            schema + "}}",
        R"("guided_json": )" + schema, R"("structured_outputs": {"json": )" + schema + "}"}) {
    const std::string raw = R"({"prompt": "ab", "logit_bias": {"5": 1}, )" + field + "}";
    absl::StatusOr<OpenAIRequest> r =
        ParseOpenAIRequest(json::parse(raw), Endpoint::kCompletions, context_, raw);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->engine.sampling.structured_output->text, schema) << field;
    // Without the text, the parsed body's (sorted) serialization.
    r = ParseOpenAIRequest(json::parse(raw), Endpoint::kCompletions, context_);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->engine.sampling.structured_output->text, json::parse(schema).dump()) << field;
  }
}

TEST_F(OpenAIStructuredOutputTest, WrongTypesAndMissingMembersNameTheField) {
  const json schema = {{"type", "object"}};
  EXPECT_EQ(Error({{"response_format", "json"}}), "response_format must be an object, got string");
  EXPECT_EQ(Error({{"response_format", json::object()}}), "response_format.type is required");
  EXPECT_EQ(Error({{"response_format", {{"type", 1}}}}),
            "response_format.type must be a string, got number");
  EXPECT_EQ(Error({{"response_format", {{"type", "xml"}}}}),
            "response_format.type must be one of text, json_object, json_schema, got \"xml\"");
  EXPECT_EQ(Error({{"response_format", {{"type", "json_schema"}}}}),
            "response_format.json_schema is required with type json_schema");
  EXPECT_EQ(Error({{"response_format", {{"type", "json_schema"}, {"json_schema", {1}}}}}),
            "response_format.json_schema must be an object, got array");
  EXPECT_EQ(Error({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", schema}}}}}}),
            "response_format.json_schema.name is required");
  EXPECT_EQ(Error({{"response_format",
                    {{"type", "json_schema"}, {"json_schema", {{"name", 3}, {"schema", schema}}}}}}),
            "response_format.json_schema.name must be a string, got number");
  EXPECT_EQ(Error({{"response_format",
                    {{"type", "json_schema"},
                     {"json_schema", {{"name", "n"}, {"schema", schema}, {"strict", "yes"}}}}}}),
            "response_format.json_schema.strict must be a boolean, got string");
  EXPECT_EQ(Error({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "n"}}}}}}),
            "response_format.json_schema.schema is required");
  EXPECT_EQ(Error({{"response_format",
                    {{"type", "json_schema"}, {"json_schema", {{"name", "n"}, {"schema", "{}"}}}}}}),
            "response_format.json_schema.schema must be a JSON Schema object, got string");
  EXPECT_EQ(Error({{"guided_json", 5}}), "guided_json must be a JSON Schema object or string, got number");
  EXPECT_EQ(Error({{"guided_regex", {"a"}}}), "guided_regex must be a string, got array");
  EXPECT_EQ(Error({{"guided_choice", "yes"}}), "guided_choice must be an array of strings, got string");
  EXPECT_EQ(Error({{"guided_choice", {"yes", 1}}}), "guided_choice[1] must be a string, got number");
  EXPECT_EQ(Error({{"guided_grammar", false}}), "guided_grammar must be a string, got boolean");
  EXPECT_EQ(Error({{"guided_whitespace_pattern", " "}, {"guided_json", schema}}),
            "guided_whitespace_pattern is not supported");
  EXPECT_EQ(Error({{"structured_outputs", "json"}}),
            "structured_outputs must be an object, got string");
  EXPECT_EQ(Error({{"structured_outputs", json::object()}}),
            "structured_outputs: one of json, regex, choice, grammar or json_object must be set");
  EXPECT_EQ(Error({{"structured_outputs", {{"regex", 1}}}}),
            "structured_outputs.regex must be a string, got number");
  EXPECT_EQ(Error({{"structured_outputs", {{"choice", {{"a", 1}}}}}}),
            "structured_outputs.choice must be an array of strings, got object");
  EXPECT_EQ(Error({{"structured_outputs", {{"json_object", "yes"}}}}),
            "structured_outputs.json_object must be a boolean, got string");
  EXPECT_EQ(Error({{"structured_outputs", {{"json_object", false}}}}),
            "structured_outputs.json_object must be true when set");
  EXPECT_EQ(Error({{"structured_outputs", {{"structural_tag", "{}"}}}}),
            "structured_outputs.structural_tag is not supported");
  // The chat endpoint reads the same fields.
  EXPECT_EQ(Error({{"guided_regex", 1}}, Endpoint::kChatCompletions),
            "guided_regex must be a string, got number");
}

TEST_F(OpenAIStructuredOutputTest, TwoConstraintsAreRefusedNamingBoth) {
  const json json_object = {{"type", "json_object"}};
  EXPECT_EQ(Error({{"response_format", json_object}, {"guided_regex", "a"}}),
            "guided_regex: conflicts with response_format: give one structured-output "
            "constraint per request");
  EXPECT_EQ(Error({{"guided_json", "{}"}, {"guided_choice", {"a"}}}),
            "guided_choice: conflicts with guided_json: give one structured-output constraint "
            "per request");
  EXPECT_EQ(Error({{"guided_grammar", "root ::= \"a\""}, {"structured_outputs", {{"regex", "a"}}}}),
            "structured_outputs.regex: conflicts with guided_grammar: give one structured-output "
            "constraint per request");
  EXPECT_EQ(Error({{"structured_outputs", {{"json", "{}"}, {"regex", "a"}}}}),
            "structured_outputs.regex: conflicts with structured_outputs.json: give one "
            "structured-output constraint per request");
  EXPECT_EQ(Error({{"response_format",
                    {{"type", "json_schema"},
                     {"json_schema", {{"name", "n"}, {"schema", json::object()}}}}},
                   {"structured_outputs", {{"json_object", true}}}},
                  Endpoint::kChatCompletions),
            "structured_outputs.json_object: conflicts with response_format.json_schema.schema: "
            "give one structured-output constraint per request");
}

TEST(RenameStructuredOutputFieldTest, EngineMessagesNameTheHttpField) {
  auto renamed = [](const char* message, const char* field) {
    return std::string(
        RenameStructuredOutputField(absl::InvalidArgumentError(message), field).message());
  };
  EXPECT_EQ(renamed("sampling_params.structured_output.json_schema: unsupported keyword "
                    "'patternProperties'",
                    "response_format.json_schema.schema"),
            "response_format.json_schema.schema: unsupported keyword 'patternProperties'");
  EXPECT_EQ(renamed("sampling_params.structured_output.choice.choices[1] must not be empty",
                    "guided_choice"),
            "guided_choice[1] must not be empty");
  EXPECT_EQ(renamed("sampling_params.structured_output.choice.choices must not be empty",
                    "structured_outputs.choice"),
            "structured_outputs.choice must not be empty");
  EXPECT_EQ(renamed("sampling_params.structured_output.regex: position 3: unbalanced ')'",
                    "guided_regex"),
            "guided_regex: position 3: unbalanced ')'");
  EXPECT_EQ(renamed("sampling_params.structured_output is not available for this model: x",
                    "guided_regex"),
            "guided_regex is not available for this model: x");
  // Other messages, and requests without a constraint, are left alone.
  EXPECT_EQ(renamed("sampling_params.top_p must be in (0, 1], got 0", "guided_regex"),
            "sampling_params.top_p must be in (0, 1], got 0");
  EXPECT_EQ(renamed("sampling_params.structured_output.regex must not be empty", ""),
            "sampling_params.structured_output.regex must not be empty");
  const absl::Status unimplemented = RenameStructuredOutputField(
      absl::UnimplementedError("sampling_params.structured_output is not available"), "guided_json");
  EXPECT_EQ(unimplemented.code(), absl::StatusCode::kUnimplemented);
  // OpenAI's `param` is the HTTP field.
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError(
                                "response_format.json_schema.schema: unsupported keyword 'x'"))
                .param,
            "response_format.json_schema.schema");
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError("guided_choice[1] must not be empty")).param,
            "guided_choice");
}

}  // namespace
}  // namespace llmserve::server::http
