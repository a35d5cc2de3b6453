// OutputProcessor: the finish verdict (stop string, EOS, length), streamed
// deltas vs. the final output, aborts, and observer events, with a byte-level
// fake tokenizer (id = byte + 3; 1 BOS, 2 EOS).
#include "engine/output_processor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/server/fake_engine.h"

namespace llmserve {
namespace {

using testing::FakeTokenizer;

struct CountingObserver : EngineObserver {
  void OnRequestScheduled(double) override { ++scheduled; }
  void OnInterTokenLatency(double) override { ++inter_token; }
  void OnRequestFinished(const RequestOutput& out) override { finished.push_back(out); }
  int scheduled = 0;
  int inter_token = 0;
  std::vector<RequestOutput> finished;
};

class OutputProcessorTest : public ::testing::Test {
 protected:
  OutputProcessorTest() : tokenizer_(300), processor_(tokenizer_, {FakeTokenizer::kEos}, &observer_) {}

  // Registers request "r" (seq 7) with a one-token prompt and schedules it.
  void Add(SamplingParams sampling) {
    EngineRequest request;
    request.request_id = "r";
    request.prompt_token_ids = {FakeTokenizer::kBos};
    request.sampling = std::move(sampling);
    processor_.AddRequest(7, request, [this](RequestOutput out) { deltas_.push_back(out); },
                          absl::Now());
    SchedulerOutput step;
    step.scheduled.push_back({.seq_id = 7, .is_new = true});
    processor_.OnScheduled(step, absl::Now());
    processor_.OnScheduled(step, absl::Now());  // counted once
  }
  // Feeds token `id` as output number `n`; returns the verdict.
  bool Token(int32_t id, int n, bool reached_max = false) {
    SampledToken sample{7, id};
    SequenceUpdate u;
    u.seq_id = 7;
    u.sample = &sample;
    u.num_prompt_tokens = 1;
    u.num_output_tokens = n;
    u.reached_max_tokens = reached_max;
    return processor_.ProcessToken(u, absl::Now());
  }
  RequestOutput TakeFinal() {
    auto finished = processor_.TakeFinished();
    EXPECT_EQ(finished.size(), 1u);
    return finished.empty() ? RequestOutput{} : finished[0].second;
  }

  FakeTokenizer tokenizer_;
  CountingObserver observer_;
  OutputProcessor processor_;
  std::vector<RequestOutput> deltas_;
};

TEST_F(OutputProcessorTest, EosFinishesUnlessIgnored) {
  Add({});
  EXPECT_FALSE(Token(FakeTokenizer::ByteId('a'), 1));
  EXPECT_TRUE(Token(FakeTokenizer::kEos, 2));
  ASSERT_EQ(deltas_.size(), 1u);
  EXPECT_EQ(deltas_[0].text, "a");
  EXPECT_EQ(deltas_[0].token_ids, std::vector<int32_t>{FakeTokenizer::ByteId('a')});
  const RequestOutput final_output = TakeFinal();
  EXPECT_TRUE(final_output.finished);
  EXPECT_EQ(final_output.finish_reason, FinishReason::kEos);
  EXPECT_EQ(final_output.token_ids, std::vector<int32_t>{FakeTokenizer::kEos});
  EXPECT_EQ(final_output.completion_tokens, 2);
  EXPECT_EQ(observer_.scheduled, 1);
  EXPECT_EQ(observer_.inter_token, 1);
  ASSERT_EQ(observer_.finished.size(), 1u);
  EXPECT_FALSE(processor_.FindSequence("r").has_value());
}

TEST_F(OutputProcessorTest, IgnoreEosRunsToTheLength) {
  SamplingParams p;
  p.ignore_eos = true;
  Add(p);
  EXPECT_FALSE(Token(FakeTokenizer::kEos, 1));
  EXPECT_TRUE(Token(FakeTokenizer::ByteId('z'), 2, /*reached_max=*/true));
  const RequestOutput final_output = TakeFinal();
  EXPECT_EQ(final_output.finish_reason, FinishReason::kLength);
  EXPECT_EQ(final_output.text, "z");
}

TEST_F(OutputProcessorTest, StopStringAcrossTokensIsWithheldAndRemoved) {
  SamplingParams p;
  p.stop = {"cd"};
  Add(p);
  EXPECT_FALSE(Token(FakeTokenizer::ByteId('a'), 1));
  EXPECT_FALSE(Token(FakeTokenizer::ByteId('c'), 2));  // may start "cd": held back
  EXPECT_TRUE(Token(FakeTokenizer::ByteId('d'), 3));
  std::string streamed;
  for (const RequestOutput& d : deltas_) streamed += d.text;
  EXPECT_EQ(streamed, "a");
  const RequestOutput final_output = TakeFinal();
  EXPECT_EQ(final_output.finish_reason, FinishReason::kStop);
  EXPECT_EQ(final_output.text, "");
}

TEST_F(OutputProcessorTest, LengthFlushesHeldBackText) {
  SamplingParams p;
  p.stop = {"cd"};
  Add(p);
  EXPECT_TRUE(Token(FakeTokenizer::ByteId('c'), 1, /*reached_max=*/true));
  const RequestOutput final_output = TakeFinal();
  EXPECT_EQ(final_output.finish_reason, FinishReason::kLength);
  EXPECT_EQ(final_output.text, "c");
}

TEST_F(OutputProcessorTest, AbortEndsWithTheReasonAndUsage) {
  Add({});
  EXPECT_FALSE(Token(FakeTokenizer::ByteId('a'), 1));
  ASSERT_EQ(processor_.FindSequence("r"), std::optional<int64_t>(7));
  processor_.Abort(7, FinishReason::kCancelled, absl::CancelledError("client gone"));
  const RequestOutput final_output = TakeFinal();
  EXPECT_EQ(final_output.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(final_output.status.message(), "client gone");
  EXPECT_EQ(final_output.prompt_tokens, 1);
  EXPECT_EQ(final_output.completion_tokens, 1);
  EXPECT_TRUE(processor_.AllSequences().empty());
  processor_.Abort(7, FinishReason::kCancelled, absl::CancelledError("again"));
  EXPECT_TRUE(processor_.TakeFinished().empty());  // exactly one final output
}

}  // namespace
}  // namespace llmserve
