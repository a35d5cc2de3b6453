// OutputProcessor and the issue-#12 controls: stop token ids (STOP, token
// kept, no text), min_tokens (stop strings and ids inactive before it),
// logprobs and prompt logprobs carried in the outputs, and the n completions
// of one request (indices, one final output, usage of all completions).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/output_processor.h"
#include "tests/server/fake_engine.h"

namespace llmserve {
namespace {

using testing::FakeTokenizer;

int32_t Id(char c) { return FakeTokenizer::ByteId(static_cast<unsigned char>(c)); }

class OutputProcessorControlsTest : public ::testing::Test {
 protected:
  OutputProcessorControlsTest() : tokenizer_(300), processor_(tokenizer_, {FakeTokenizer::kEos}, nullptr) {}

  void Add(const SamplingParams& sampling, std::vector<int64_t> seq_ids = {7}) {
    EngineRequest request;
    request.request_id = "r";
    request.prompt_token_ids = {FakeTokenizer::kBos, Id('q')};
    request.sampling = sampling;
    processor_.AddRequest(seq_ids, request, [this](RequestOutput out) { outputs_.push_back(out); },
                          absl::Now());
  }
  bool Token(int32_t id, int n, int64_t seq = 7, bool reached_max = false, float logprob = 0,
             bool completes_structured_output = false, bool dead_end = false) {
    SampledToken sample;
    sample.seq_id = seq;
    sample.token_id = id;
    sample.completes_structured_output = completes_structured_output;
    sample.structured_output_dead_end = dead_end;
    if (logprob != 0) sample.logprobs = PositionLogprobs{{id, logprob}, 1, {}};
    SequenceUpdate u;
    u.seq_id = seq;
    u.sample = &sample;
    u.num_prompt_tokens = 2;
    u.num_output_tokens = n;
    u.reached_max_tokens = reached_max;
    return processor_.ProcessToken(u, absl::Now());
  }
  std::vector<RequestOutput> All() {
    std::vector<RequestOutput> all = outputs_;
    for (auto& [callback, out] : processor_.TakeFinished()) all.push_back(out);
    return all;
  }

  FakeTokenizer tokenizer_;
  OutputProcessor processor_;
  std::vector<RequestOutput> outputs_;
};

TEST_F(OutputProcessorControlsTest, StopTokenIdEndsWithStopKeepsTheTokenAddsNoText) {
  SamplingParams p;
  p.stop_token_ids = {Id('!')};
  Add(p);
  EXPECT_FALSE(Token(Id('a'), 1));
  EXPECT_TRUE(Token(Id('!'), 2));
  const auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].finish_reason, FinishReason::kStop);
  EXPECT_EQ(all[1].token_ids, std::vector<int32_t>{Id('!')});
  EXPECT_EQ(all[0].text + all[1].text, "a");
}

TEST_F(OutputProcessorControlsTest, MinTokensDisablesStopsBeforeIt) {
  SamplingParams p;
  p.stop = {"ab"};
  p.stop_token_ids = {Id('!')};
  p.min_tokens = 4;
  Add(p);
  EXPECT_FALSE(Token(Id('a'), 1));
  EXPECT_FALSE(Token(Id('b'), 2));  // "ab" before min_tokens: not a stop
  EXPECT_FALSE(Token(Id('!'), 3));  // stop id before min_tokens: an ordinary token
  EXPECT_FALSE(Token(Id('a'), 4));
  EXPECT_TRUE(Token(Id('b'), 5));   // "ab" completed after min_tokens: stop
  const auto all = All();
  std::string text;
  for (const auto& o : all) text += o.text;
  EXPECT_EQ(text, "ab!");
  EXPECT_EQ(all.back().finish_reason, FinishReason::kStop);
}

TEST_F(OutputProcessorControlsTest, LogprobsTravelWithTheirTokensPromptLogprobsWithTheFirst) {
  SamplingParams p;
  p.logprobs = 0;
  p.prompt_logprobs = 0;
  Add(p);
  PromptLogprobsChunk chunk;
  chunk.seq_id = 7;
  chunk.logprobs = {PositionLogprobs{{Id('q'), -3.0f}, 4, {}}};
  processor_.AddPromptLogprobs(chunk);
  EXPECT_FALSE(Token(Id('a'), 1, 7, false, -0.5f));
  EXPECT_TRUE(Token(Id('b'), 2, 7, /*reached_max=*/true, -0.25f));
  const auto all = All();
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(all[0].prompt_logprobs.size(), 1u);
  EXPECT_EQ(all[0].prompt_logprobs[0].chosen.logprob, -3.0f);
  EXPECT_TRUE(all[1].prompt_logprobs.empty());
  ASSERT_EQ(all[0].logprobs.size(), 1u);
  EXPECT_EQ(all[0].logprobs[0].chosen.logprob, -0.5f);
  ASSERT_EQ(all[1].logprobs.size(), 1u);
  EXPECT_EQ(all[1].logprobs[0].chosen.logprob, -0.25f);
}

TEST_F(OutputProcessorControlsTest, CompletionsHaveIndicesAndOneFinalOutput) {
  SamplingParams p;
  p.n = 3;
  Add(p, {10, 11, 12});
  EXPECT_EQ(processor_.FindSequences("r"), (std::vector<int64_t>{10, 11, 12}));
  EXPECT_FALSE(Token(Id('a'), 1, 10));
  EXPECT_TRUE(Token(Id('b'), 1, 11, /*reached_max=*/true));   // completion 1 done
  EXPECT_TRUE(Token(Id('c'), 1, 12, true));                    // completion 2 done
  EXPECT_EQ(processor_.FindSequences("r"), std::vector<int64_t>{10});
  EXPECT_TRUE(Token(Id('d'), 2, 10, true));                    // completion 0: the last
  const auto all = All();
  ASSERT_EQ(all.size(), 4u);
  int finished = 0;
  for (const auto& o : all) finished += o.finished;
  EXPECT_EQ(finished, 1);
  EXPECT_TRUE(all.back().finished);
  EXPECT_EQ(all.back().index, 0);
  EXPECT_EQ(all.back().completion_tokens, 4);  // 2 + 1 + 1
  EXPECT_EQ(all[1].index, 1);
  EXPECT_EQ(all[1].finish_reason, FinishReason::kLength);
  EXPECT_FALSE(all[1].finished);
  EXPECT_TRUE(processor_.FindSequences("r").empty());
}

TEST_F(OutputProcessorControlsTest, AFailedCompletionFailsTheRequest) {
  SamplingParams p;
  p.n = 2;
  Add(p, {20, 21});
  processor_.Abort(21, FinishReason::kError, absl::InternalError("boom"));
  EXPECT_TRUE(Token(Id('a'), 1, 20, true));
  const auto all = All();
  ASSERT_FALSE(all.empty());
  EXPECT_TRUE(all.back().finished);
  EXPECT_EQ(all.back().finish_reason, FinishReason::kError);
  EXPECT_EQ(all.back().status.message(), "boom");
}

// Structured output: a token after which only EOS could follow ends the
// completion at once with STOP and all its text (nothing withheld for the
// stop-string checker); that wins over reaching max_tokens on the same token;
// EOS ends a constrained completion even with ignore_eos; a dead end is an error.
TEST_F(OutputProcessorControlsTest, StructuredOutputCompletionEndsWithStopAndItsText) {
  SamplingParams p;
  p.stop = {"}x"};  // a potential stop string withholds "}" until flushed
  p.structured_output = StructuredOutputParams{};
  Add(p);
  EXPECT_FALSE(Token(Id('{'), 1));
  EXPECT_TRUE(Token(Id('}'), 2, 7, /*reached_max=*/true, 0, /*completes_structured_output=*/true));
  const auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].finish_reason, FinishReason::kStop);
  EXPECT_EQ(all[0].text + all[1].text, "{}");
}

TEST_F(OutputProcessorControlsTest, StructuredOutputEosEndsEvenWithIgnoreEos) {
  SamplingParams p;
  p.ignore_eos = true;
  p.structured_output = StructuredOutputParams{};
  Add(p, {7});
  EXPECT_FALSE(Token(Id('1'), 1, 7));
  EXPECT_TRUE(Token(FakeTokenizer::kEos, 2, 7));
  auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].finish_reason, FinishReason::kEos);
  outputs_.clear();

  p.structured_output.reset();  // unconstrained: ignore_eos keeps going
  Add(p, {8});
  EXPECT_FALSE(Token(FakeTokenizer::kEos, 1, 8));
}

TEST_F(OutputProcessorControlsTest, StructuredOutputDeadEndIsAnError) {
  SamplingParams p;
  p.structured_output = StructuredOutputParams{};
  Add(p);
  EXPECT_TRUE(Token(FakeTokenizer::kEos, 1, 7, false, 0, false, /*dead_end=*/true));
  const auto all = All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].finish_reason, FinishReason::kError);
  EXPECT_EQ(all[0].status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(all[0].token_ids.empty());
}

}  // namespace
}  // namespace llmserve
