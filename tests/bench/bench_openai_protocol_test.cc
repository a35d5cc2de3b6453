// The HTTP backend's pieces against the specifications they follow: the
// WHATWG event-stream parsing rules (line endings, multi-line data, comments,
// any split of the bytes), OpenAI's request and chunk shapes, google.rpc's
// HTTP status mapping, base URLs and /v1/models lists (vLLM's and
// llama-server's shapes).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/bench/openai_models.h"
#include "client/bench/openai_protocol.h"
#include "client/bench/sse_parser.h"

namespace llmserve::bench {
namespace {

std::vector<SseEvent> ParseAll(const std::string& stream, size_t split) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (size_t i = 0; i < stream.size(); i += split) {
    EXPECT_TRUE(parser.Feed(std::string_view(stream).substr(i, split), &events).ok());
  }
  return events;
}

TEST(SseParserTest, FollowsTheEventStreamRulesWhateverTheSplit) {
  const std::string stream =
      ": a comment\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: update\rdata:first\rdata: second\r\r"
      "id: 7\nretry: 10\n\n"  // no data: no event
      "data\n\n"              // a field without colon: empty data
      "data: [DONE]\n\n"
      "data: incomplete";  // not dispatched without a blank line
  for (size_t split : {1, 2, 3, 7, 1000}) {
    SCOPED_TRACE(split);
    const std::vector<SseEvent> events = ParseAll(stream, split);
    ASSERT_EQ(events.size(), 4u);
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[0].event, "");
    EXPECT_EQ(events[1].event, "update");
    EXPECT_EQ(events[1].data, "first\nsecond");
    EXPECT_EQ(events[2].data, "");
    EXPECT_EQ(events[3].data, "[DONE]");
  }
}

TEST(SseParserTest, RefusesOverlongEvents) {
  SseParser parser(/*max_event_bytes=*/16);
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.Feed("data: 0123456789abcdefgh", &events).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(OpenAIProtocolTest, RequestBodiesUseOpenAIsFields) {
  BenchRequest ids;
  ids.token_ids = {5, 6, 7};
  ids.max_tokens = 9;
  LoadOptions o;
  o.sampling.set_temperature(0.5f);
  o.sampling.set_seed(42);
  o.sampling.set_ignore_eos(true);
  o.sampling.set_n(2);
  o.sampling.set_logprobs(3);
  o.sampling.set_top_k(4);
  o.sampling.add_stop("\n\n");
  o.sampling.add_banned_token_ids(11);
  (*o.sampling.mutable_logit_bias())[12] = 2.5f;
  RequestVariant all;
  nlohmann::json b = BuildOpenAIRequest(OpenAIApi::kCompletions, ids, o, all, "m");
  EXPECT_EQ(b["model"], "m");
  EXPECT_EQ(b["prompt"], nlohmann::json({5, 6, 7}));
  EXPECT_EQ(b["max_tokens"], 9);
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["temperature"], 0.5);
  EXPECT_EQ(b["seed"], 42);
  EXPECT_EQ(b["ignore_eos"], true);
  EXPECT_EQ(b["n"], 2);
  EXPECT_EQ(b["logprobs"], 3);
  EXPECT_EQ(b["top_k"], 4);
  EXPECT_EQ(b["stop"], nlohmann::json({"\n\n"}));
  EXPECT_EQ(b["logit_bias"]["11"], -100);
  EXPECT_EQ(b["logit_bias"]["12"], 2.5);
  EXPECT_FALSE(b.contains("top_p"));
  EXPECT_FALSE(b.contains("priority"));
  // Chat: messages; logprobs as a flag + top_logprobs. A plain variant: no n / logprobs.
  b = BuildOpenAIRequest(OpenAIApi::kChat, ids, o, all, "m");
  EXPECT_EQ(b["messages"][0]["content"], ChatTextForTokenIds({5, 6, 7}));
  EXPECT_FALSE(b.contains("prompt"));
  EXPECT_EQ(b["logprobs"], true);
  EXPECT_EQ(b["top_logprobs"], 3);
  RequestVariant plain;
  plain.n_logprobs = false;
  b = BuildOpenAIRequest(OpenAIApi::kChat, ids, o, plain, "m");
  EXPECT_FALSE(b.contains("n"));
  EXPECT_FALSE(b.contains("logprobs"));
  BenchRequest text;
  text.text = "hello";
  o.stream = false;
  b = BuildOpenAIRequest(OpenAIApi::kCompletions, text, o, all, "m");
  EXPECT_EQ(b["prompt"], "hello");
  EXPECT_EQ(b["stream"], false);
  EXPECT_FALSE(b.contains("stream_options"));
  EXPECT_EQ(ChatTextForTokenIds({0, 1, 32}), "the of the");
}

TEST(OpenAIProtocolTest, ChunksCountTheirTokens) {
  auto chunk = [](const std::string& json) { return ParseOpenAIChunk(json).value(); };
  EXPECT_EQ(chunk(R"({"choices":[{"index":0,"text":" a","finish_reason":null}]})").tokens, 1);
  EXPECT_EQ(chunk(R"({"choices":[{"index":0,"text":"","finish_reason":"length"}]})").tokens, 0);
  EXPECT_EQ(chunk(R"({"choices":[{"index":0,"text":"","finish_reason":"length"}]})").finish_reason,
            "length");
  EXPECT_EQ(chunk(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})").tokens,
            0);
  EXPECT_EQ(chunk(R"({"choices":[{"index":0,"delta":{"content":"x"}},
                                 {"index":1,"delta":{"content":"y"}}]})")
                .tokens,
            2);
  // logprobs give the exact count (completions: tokens; chat: content).
  EXPECT_EQ(
      chunk(R"({"choices":[{"index":0,"text":"ab","logprobs":{"tokens":["a","b"]}}]})").tokens, 2);
  EXPECT_EQ(chunk(R"({"choices":[{"index":0,"delta":{"content":""},
                                  "logprobs":{"content":[{"token":"\u00e9"}]}}]})")
                .tokens,
            1);
  const OpenAIChunk usage = chunk(
      R"({"choices":[],"usage":{"prompt_tokens":32,"completion_tokens":64,
          "prompt_tokens_details":{"cached_tokens":16}}})");
  EXPECT_TRUE(usage.has_usage);
  EXPECT_EQ(usage.prompt_tokens, 32);
  EXPECT_EQ(usage.completion_tokens, 64);
  EXPECT_EQ(usage.cached_tokens, 16);
  EXPECT_EQ(usage.tokens, 0);
  const OpenAIChunk error = chunk(R"({"error":{"message":"queue full","code":429}})");
  EXPECT_TRUE(error.is_error);
  EXPECT_EQ(error.error_code, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(error.error_message, "queue full");
  EXPECT_EQ(chunk(R"({"error":"oops"})").error_code, grpc::StatusCode::INTERNAL);
  for (const char* bad :
       {"{not json", "[1]", R"({"choices":3})", R"({"choices":[1]})", R"({"usage":"x"})"}) {
    EXPECT_EQ(ParseOpenAIChunk(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(OpenAIProtocolTest, HttpStatusesMapToCanonicalCodes) {
  EXPECT_EQ(CodeForHttpStatus(200), grpc::StatusCode::OK);
  EXPECT_EQ(CodeForHttpStatus(400), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeForHttpStatus(401), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CodeForHttpStatus(404), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CodeForHttpStatus(413), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(CodeForHttpStatus(429), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(CodeForHttpStatus(500), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(CodeForHttpStatus(503), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CodeForHttpStatus(504), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(CodeForHttpStatus(418), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(CodeForHttpStatus(502), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(CodeForHttpStatus(302), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(ErrorMessageFromBody(R"({"error":{"message":"bad","type":"x"}})"), "bad");
  EXPECT_EQ(ErrorMessageFromBody("plain text"), "plain text");
}

TEST(OpenAIProtocolTest, BaseUrls) {
  BaseUrl u = ParseBaseUrl("http://example.org:8080/api/").value();
  EXPECT_EQ(u.host, "example.org");
  EXPECT_EQ(u.port, "8080");
  EXPECT_EQ(u.path_prefix, "/api");
  u = ParseBaseUrl("http://[::1]:9").value();
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "9");
  EXPECT_EQ(ParseBaseUrl("http://h").value().port, "80");
  EXPECT_EQ(ParseBaseUrl("https://h").status().code(), absl::StatusCode::kUnimplemented);
  for (const char* bad : {"h:80", "http://", "http://h:0", "http://h:x", "http://:80"}) {
    EXPECT_EQ(ParseBaseUrl(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(OpenAIModelsTest, ReadsVllmAndLlamaServerLists) {
  OpenAIModelInfo vllm =
      ParseModelList(R"({"object":"list","data":[{"id":"meta/llama","max_model_len":4096}]})")
          .value();
  EXPECT_EQ(vllm.id, "meta/llama");
  EXPECT_EQ(vllm.max_context, 4096);
  EXPECT_EQ(vllm.vocab_size, 0);
  OpenAIModelInfo llama =
      ParseModelList(
          R"({"object":"list","data":[{"id":"m.gguf","meta":{"n_vocab":32000,"n_ctx_train":1024}}]})")
          .value();
  EXPECT_EQ(llama.vocab_size, 32000);
  EXPECT_EQ(llama.max_context, 1024);
  for (const char* bad : {"{}", R"({"data":[]})", R"({"data":[{"name":"x"}]})", "nope"}) {
    EXPECT_EQ(ParseModelList(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace llmserve::bench
