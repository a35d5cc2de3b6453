// The OpenAI JSON ↔ engine conversion of the HTTP front, without a server:
// ParseOpenAIRequest (names, defaults, type errors naming the field, prompt
// forms, chat rendering), the error mapping, and the response builder's
// shapes (completion object, chat chunk order with n = 2, usage).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/chat_template/chat_template.h"
#include "server/http/openai_error.h"
#include "server/http/openai_request.h"
#include "server/http/openai_response.h"
#include "tests/server/fake_engine.h"

namespace llmserve::server::http {
namespace {

using llmserve::testing::FakeTokenizer;
using nlohmann::json;

class OpenAIConvertTest : public ::testing::Test {
 protected:
  OpenAIConvertTest() : tokenizer_(300) {
    context_.tokenizer = &tokenizer_;
    context_.max_context = 64;
    context_.chat_template_error = "the model has no chat template";
  }
  absl::StatusOr<OpenAIRequest> Completion(const json& body) {
    return ParseOpenAIRequest(body, Endpoint::kCompletions, context_);
  }
  std::string Error(const json& body, Endpoint endpoint = Endpoint::kCompletions) {
    absl::StatusOr<OpenAIRequest> r = ParseOpenAIRequest(body, endpoint, context_);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  }
  FakeTokenizer tokenizer_;
  PromptContext context_;
};

TEST_F(OpenAIConvertTest, OpenAINamesAndDefaults) {
  absl::StatusOr<OpenAIRequest> r = Completion({{"prompt", "ab"}, {"unknown_field", {1, 2}}});
  ASSERT_TRUE(r.ok()) << r.status();
  // OpenAI's defaults are SamplingParams' (max_tokens 16, temperature 1, top_p 1, n 1).
  const SamplingParams defaults;
  EXPECT_EQ(r->engine.sampling.max_tokens, 16);
  EXPECT_EQ(r->engine.sampling.temperature, defaults.temperature);
  EXPECT_EQ(r->engine.sampling.top_p, defaults.top_p);
  EXPECT_EQ(r->engine.sampling.n, 1);
  EXPECT_FALSE(r->engine.sampling.logprobs.has_value());
  EXPECT_FALSE(r->stream);
  // A string prompt gets BOS, as gRPC's prompt.text.
  EXPECT_EQ(r->engine.prompt_token_ids,
            (std::vector<int32_t>{1, FakeTokenizer::ByteId('a'), FakeTokenizer::ByteId('b')}));

  r = Completion({{"prompt", {{5, 6, 7}}},
                  {"max_tokens", 3},
                  {"temperature", 0},
                  {"top_p", 0.5},
                  {"n", 2},
                  {"stop", "x"},
                  {"seed", -1},
                  {"presence_penalty", 0.5},
                  {"frequency_penalty", -0.5},
                  {"logit_bias", {{"7", 3}, {"5", -100}}},
                  {"logprobs", 0},
                  {"stream", true},
                  {"stream_options", {{"include_usage", true}}},
                  {"top_k", -1},
                  {"min_p", 0.1},
                  {"repetition_penalty", 1.2},
                  {"min_tokens", 2},
                  {"ignore_eos", true},
                  {"stop_token_ids", {9}},
                  {"priority", -3}});
  ASSERT_TRUE(r.ok()) << r.status();
  const SamplingParams& p = r->engine.sampling;
  EXPECT_EQ(r->engine.prompt_token_ids, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(p.max_tokens, 3);
  EXPECT_EQ(p.temperature, 0.0f);
  EXPECT_EQ(p.top_p, 0.5f);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(p.seed, static_cast<uint64_t>(-1));
  EXPECT_EQ(p.presence_penalty, 0.5f);
  EXPECT_EQ(p.frequency_penalty, -0.5f);
  EXPECT_EQ(p.logit_bias, (std::vector<std::pair<int32_t, float>>{{5, -100.0f}, {7, 3.0f}}));
  EXPECT_EQ(p.logprobs, 0);
  EXPECT_TRUE(r->logprobs);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(p.top_k, 0);  // vLLM's -1: disabled
  EXPECT_FLOAT_EQ(p.min_p, 0.1f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.2f);
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_EQ(p.stop_token_ids, std::vector<int32_t>{9});
  EXPECT_EQ(r->engine.priority, -3);
}

TEST_F(OpenAIConvertTest, WrongTypesAndUnsupportedValuesNameTheField) {
  EXPECT_EQ(Error({{"prompt", "a"}, {"temperature", "hot"}}),
            "temperature must be a number, got string");
  EXPECT_EQ(Error({{"prompt", "a"}, {"max_tokens", 1.5}}), "max_tokens must be an integer, got number");
  EXPECT_EQ(Error({{"prompt", "a"}, {"n", true}}), "n must be an integer, got boolean");
  EXPECT_EQ(Error({{"prompt", "a"}, {"stop", {1}}}), "stop[0] must be a string, got number");
  EXPECT_EQ(Error({{"prompt", "a"}, {"stream", "yes"}}), "stream must be a boolean, got string");
  EXPECT_EQ(Error({{"prompt", "a"}, {"logit_bias", {{"x", 1}}}}),
            "logit_bias: key \"x\" is not a token id");
  EXPECT_EQ(Error({{"prompt", "a"}, {"max_tokens", 1LL << 40}}),
            "max_tokens must be in [-2147483648, 2147483647], got 1099511627776");
  EXPECT_EQ(Error({{"prompt", {"a", "b"}}}),
            "prompt: a batch of several prompts is not supported; send one request per prompt");
  EXPECT_EQ(Error({{"prompt", {1, "b"}}}), "prompt[1] must be an integer token id, got string");
  EXPECT_EQ(Error({{"prompt", "a"}, {"echo", true}}), "echo is not supported");
  EXPECT_EQ(Error(json::object()), "prompt is required");
  EXPECT_EQ(Error(json::array()), "the request body must be a JSON object, got array");
  EXPECT_EQ(Error({{"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                  Endpoint::kChatCompletions),
            "messages: the model has no chat template");
  EXPECT_EQ(Error({{"messages", {{{"content", "hi"}}}}}, Endpoint::kChatCompletions),
            "messages[0].role must be a string");
  EXPECT_EQ(Error({{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"top_logprobs", 2}},
                  Endpoint::kChatCompletions),
            "top_logprobs needs logprobs: true");
}

TEST_F(OpenAIConvertTest, ChatRendersTheTemplateWithBosHandling) {
  absl::StatusOr<std::unique_ptr<ChatTemplate>> chatml = ChatTemplate::Compile(
      "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}");
  ASSERT_TRUE(chatml.ok()) << chatml.status();
  context_.chat_template = chatml->get();
  context_.bos_token = "B";
  const json messages = {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}}};
  absl::StatusOr<OpenAIRequest> r = ParseOpenAIRequest(
      {{"messages", messages}, {"logprobs", true}, {"top_logprobs", 2}},
      Endpoint::kChatCompletions, context_);
  ASSERT_TRUE(r.ok()) << r.status();
  // "B<user>hi<assistant>": the leading BOS string becomes the BOS id.
  std::vector<int32_t> expected = {FakeTokenizer::kBos};
  for (char c : std::string("<user>hi<assistant>")) expected.push_back(FakeTokenizer::ByteId(c));
  EXPECT_EQ(r->engine.prompt_token_ids, expected);
  EXPECT_EQ(r->engine.sampling.logprobs, 2);
  // Chat without max_tokens: the rest of the context.
  EXPECT_EQ(r->engine.sampling.max_tokens, 64 - static_cast<int>(expected.size()));
  r = ParseOpenAIRequest({{"messages", messages}, {"max_completion_tokens", 5},
                          {"add_generation_prompt", false}},
                         Endpoint::kChatCompletions, context_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->engine.sampling.max_tokens, 5);
  EXPECT_EQ(r->engine.prompt_token_ids.size(), 1 + std::string("<user>hi").size());
}

TEST(OpenAIErrorTest, StatusesMapToOpenAIErrors) {
  OpenAIError e = ErrorFromStatus(
      absl::InvalidArgumentError("sampling_params.top_p must be in (0, 1], got 0"));
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, "top_p");
  EXPECT_EQ(json::parse(ErrorBody(e)),
            json::parse(R"({"error": {"message": "sampling_params.top_p must be in (0, 1], got 0",
                            "type": "invalid_request_error", "param": "top_p", "code": null}})"));
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError("prompt.token_ids[1] = 512 is not < 512")).param,
            "prompt");
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError("the request body is not valid JSON")).param,
            "");
  EXPECT_EQ(ErrorFromStatus(absl::UnauthenticatedError("x")).http_status, 401);
  EXPECT_EQ(ErrorFromStatus(absl::NotFoundError("x")).http_status, 404);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("x")).http_status, 429);
  EXPECT_EQ(ErrorFromStatus(absl::UnavailableError("x")).http_status, 503);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError("x")).http_status, 500);
}

TEST(OpenAIResponseTest, ChatChunksComeInOpenAIsOrderPerChoice) {
  FakeTokenizer tokenizer(300);
  OpenAIRequest request;
  request.endpoint = Endpoint::kChatCompletions;
  request.stream = true;
  request.include_usage = true;
  request.engine.sampling.n = 2;
  request.engine.prompt_token_ids = {1, 5};
  OpenAIResponseBuilder builder(request, &tokenizer, "m", "chatcmpl-1", 7);
  RequestOutput out;
  out.prompt_tokens = 2;
  out.index = 1;
  out.text = "a";
  out.completion_tokens = 1;
  std::string events = builder.Add(out);
  out.index = 0;
  out.text = "b";
  out.finish_reason = FinishReason::kLength;
  events += builder.Add(out);
  out.index = 1;
  out.text = "";
  out.finish_reason = FinishReason::kStop;
  out.finished = true;
  out.completion_tokens = 3;  // the request's final output: all completions
  events += builder.Add(out);
  events += builder.StreamEnd();
  std::vector<json> chunks;
  size_t pos = 0;
  while ((pos = events.find("data: ", pos)) != std::string::npos) {
    const size_t end = events.find("\n\n", pos);
    const std::string data = events.substr(pos + 6, end - pos - 6);
    if (data != "[DONE]") chunks.push_back(json::parse(data));
    pos = end;
  }
  ASSERT_TRUE(events.size() > 14 && events.substr(events.size() - 14) == "data: [DONE]\n\n");
  // index 1: role, content "a"; index 0: role, content "b", finish length;
  // index 1: finish stop; usage.
  ASSERT_EQ(chunks.size(), 7u);
  auto delta = [&](size_t i) { return chunks[i]["choices"][0]; };
  EXPECT_EQ(delta(0)["index"], 1);
  EXPECT_EQ(delta(0)["delta"]["role"], "assistant");
  EXPECT_EQ(delta(1)["delta"]["content"], "a");
  EXPECT_EQ(delta(2)["index"], 0);
  EXPECT_EQ(delta(2)["delta"]["role"], "assistant");
  EXPECT_EQ(delta(3)["delta"]["content"], "b");
  EXPECT_EQ(delta(4)["finish_reason"], "length");
  EXPECT_EQ(delta(4)["delta"], json::object());
  EXPECT_EQ(delta(5)["index"], 1);
  EXPECT_EQ(delta(5)["finish_reason"], "stop");
  EXPECT_EQ(chunks[0]["object"], "chat.completion.chunk");
  EXPECT_TRUE(chunks[0]["usage"].is_null());
  EXPECT_TRUE(chunks[6]["choices"].empty());
  EXPECT_EQ(chunks[6]["usage"]["completion_tokens"], 3);
  EXPECT_EQ(chunks[6]["usage"]["total_tokens"], 5);
}

}  // namespace
}  // namespace llmserve::server::http
