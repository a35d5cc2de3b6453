// ResponseBuilder: engine outputs of n completions with logprobs → the unary
// response (completion 0 at top level, all in `completions`, usage summed)
// and stream messages (one per completion run, index set, pieces filled).
#include "server/response_builder.h"

#include <gtest/gtest.h>

#include "tests/server/fake_engine.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::FakeTokenizer;

int32_t Id(char c) { return FakeTokenizer::ByteId(static_cast<unsigned char>(c)); }

RequestOutput Out(int index, char c, int count, FinishReason reason = FinishReason::kNone,
                  bool finished = false) {
  RequestOutput o;
  o.request_id = "r";
  o.index = index;
  o.token_ids = {Id(c)};
  o.text = std::string(1, c);
  o.completion_tokens = count;
  o.prompt_tokens = 2;
  o.finish_reason = reason;
  o.finished = finished;
  PositionLogprobs lp;
  lp.chosen = {Id(c), -0.5f};
  lp.rank = 2;
  lp.top = {{Id('z'), -0.25f}, {Id(c), -0.5f}};
  o.logprobs = {lp};
  return o;
}

TEST(ResponseBuilderTest, UnaryResponseOfTwoCompletionsWithLogprobs) {
  FakeTokenizer tok(300);
  ResponseBuilder b(tok, {FakeTokenizer::kBos, Id('h')});
  RequestOutput first = Out(0, 'a', 1);
  PositionLogprobs p;
  p.chosen = {Id('h'), -1.0f};
  first.prompt_logprobs = {p};
  b.Add(first);
  b.Add(Out(1, 'x', 1));
  b.Add(Out(1, 'y', 2, FinishReason::kStop));
  const RequestOutput last = Out(0, 'b', 4, FinishReason::kLength, true);  // 4: all completions
  b.Add(last);
  v1::GenerateResponse r;
  b.FillResponse("r", last, &r);
  EXPECT_EQ(r.text(), "ab");
  EXPECT_EQ(r.finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_EQ(r.logprobs_size(), 2);
  EXPECT_EQ(r.logprobs(0).token().piece(), "a");
  EXPECT_EQ(r.logprobs(0).top(0).piece(), "z");
  EXPECT_FLOAT_EQ(r.logprobs(0).top(0).logprob(), -0.25f);
  EXPECT_EQ(r.logprobs(0).rank(), 2u);
  ASSERT_EQ(r.prompt_logprobs_size(), 1);
  EXPECT_EQ(r.prompt_logprobs(0).token().piece(), "h");
  ASSERT_EQ(r.completions_size(), 2);
  EXPECT_EQ(r.completions(1).index(), 1u);
  EXPECT_EQ(r.completions(1).text(), "xy");
  EXPECT_EQ(r.completions(1).finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.usage().completion_tokens(), 4u);
  EXPECT_EQ(r.usage().prompt_tokens(), 2u);
}

TEST(ResponseBuilderTest, SingleCompletionHasNoCompletionsList) {
  FakeTokenizer tok(300);
  ResponseBuilder b(tok, {FakeTokenizer::kBos});
  const RequestOutput last = Out(0, 'a', 1, FinishReason::kEos, true);
  b.Add(last);
  v1::GenerateResponse r;
  b.FillResponse("r", last, &r);
  EXPECT_EQ(r.completions_size(), 0);
  EXPECT_EQ(r.text(), "a");
}

TEST(ResponseBuilderTest, StreamMessagesSplitByCompletion) {
  FakeTokenizer tok(300);
  ResponseBuilder b(tok, {FakeTokenizer::kBos});
  std::vector<RequestOutput> batch = {Out(0, 'a', 1), Out(0, 'b', 2), Out(1, 'x', 1),
                                      Out(1, 'y', 2, FinishReason::kStop)};
  auto m = b.StreamMessages("r", batch);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].index(), 0u);
  EXPECT_EQ(m[0].text(), "ab");
  EXPECT_EQ(m[0].logprobs_size(), 2);
  EXPECT_EQ(m[0].logprobs(1).token().piece(), "b");
  EXPECT_EQ(m[1].index(), 1u);
  EXPECT_EQ(m[1].finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_FALSE(m[1].has_usage());
  batch = {Out(0, 'c', 5, FinishReason::kLength, true)};
  m = b.StreamMessages("r", batch);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(m[0].usage().completion_tokens(), 5u);
}

}  // namespace
}  // namespace llmserve::server
