// Scheduler policies of issue #12: admission by (priority, arrival),
// preemption of the lowest priority first, and the n completions of one
// prompt sharing its full KV blocks by reference count.
#include <gtest/gtest.h>

#include <vector>

#include "engine/scheduler/scheduler.h"

namespace llmserve {
namespace {

std::unique_ptr<Sequence> Seq(int64_t id, std::vector<int32_t> prompt, int max_tokens,
                              int priority = 0, int64_t parent = -1) {
  auto seq = std::make_unique<Sequence>();
  seq->seq_id = id;
  seq->tokens = std::move(prompt);
  seq->num_prompt_tokens = seq->num_tokens();
  seq->max_num_tokens = seq->num_prompt_tokens + max_tokens;
  seq->priority = priority;
  seq->parent_seq_id = parent;
  return seq;
}

// Runs one step where every sampling sequence gets token 7; it finishes at
// max_tokens, or at once with `finish`.
void RunStep(Scheduler& s, const SchedulerOutput& out, bool finish) {
  ModelRunnerOutput sampled;
  for (const ScheduledRequest& r : out.scheduled) {
    if (!r.samples) continue;
    SampledToken t;
    t.seq_id = r.seq_id;
    t.token_id = 7;
    sampled.sampled.push_back(t);
  }
  s.UpdateFromOutput(out, sampled,
                     [&](const SequenceUpdate& u) { return finish || u.reached_max_tokens; });
}

TEST(PrioritySchedulingTest, AdmitsByPriorityThenArrival) {
  KVCacheManager kv(64, 4, false);
  Scheduler s({1, 64}, &kv);  // one sequence at a time
  s.AddSequence(Seq(0, {1, 2, 3}, 1, /*priority=*/5));
  s.AddSequence(Seq(1, {1, 2, 3}, 1, 0));
  s.AddSequence(Seq(2, {1, 2, 3}, 1, 5));
  s.AddSequence(Seq(3, {1, 2, 3}, 1, -1));  // arrives last, served first
  std::vector<int64_t> order;
  while (s.HasWork()) {
    const SchedulerOutput out = s.Schedule();
    ASSERT_EQ(out.scheduled.size(), 1u);
    order.push_back(out.scheduled[0].seq_id);
    RunStep(s, out, /*finish=*/true);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{3, 1, 0, 2}));
}

TEST(PrioritySchedulingTest, PreemptsTheLowestPriorityNotTheNewest) {
  // 8 blocks of 2 tokens: after a step, 7 are in use.
  KVCacheManager kv(8, 2, false);
  Scheduler s({4, 64}, &kv);
  s.AddSequence(Seq(0, {1, 2, 3, 4}, 4, /*priority=*/9));  // admitted first, lowest priority
  SchedulerOutput out = s.Schedule();
  ASSERT_EQ(out.scheduled.size(), 1u);
  RunStep(s, out, false);
  s.AddSequence(Seq(1, {1, 2, 3, 4}, 4, 0));
  s.AddSequence(Seq(2, {1, 2, 3, 4}, 4, 1));  // the most recently admitted
  out = s.Schedule();
  ASSERT_EQ(out.scheduled.size(), 3u);  // 0 decodes, 1 and 2 prefill
  RunStep(s, out, false);
  EXPECT_EQ(kv.num_free_blocks(), 1);
  // Seqs 1 and 2 now need a new block each; seq 1 (priority 0) asks first and
  // takes the last one; seq 2's request preempts seq 0 (priority 9), not the
  // most recently admitted.
  out = s.Schedule();
  EXPECT_GE(out.num_preemptions, 1);
  EXPECT_EQ(s.Find(0)->status, SequenceStatus::kWaiting) << "priority 9 is the victim";
  EXPECT_EQ(s.Find(1)->status, SequenceStatus::kRunning);
  EXPECT_EQ(s.Find(2)->status, SequenceStatus::kRunning);
  EXPECT_EQ(out.scheduled[0].seq_id, 1);  // decodes in priority order
}

TEST(CompletionsSchedulingTest, ChildrenShareTheParentsFullPromptBlocks) {
  KVCacheManager kv(32, 4, /*enable_prefix_caching=*/false);
  Scheduler s({8, 64}, &kv);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // 2 full blocks + 2
  s.AddSequence(Seq(0, prompt, 3));
  s.AddSequence(Seq(1, prompt, 3, 0, /*parent=*/0));
  s.AddSequence(Seq(2, prompt, 3, 0, /*parent=*/0));
  SchedulerOutput out = s.Schedule();
  ASSERT_EQ(out.scheduled.size(), 1u) << "children wait for the parent's prompt blocks";
  EXPECT_EQ(out.scheduled[0].seq_id, 0);
  RunStep(s, out, false);
  const std::vector<int32_t> parent(kv.BlockTable(0).begin(), kv.BlockTable(0).end());

  out = s.Schedule();
  ASSERT_EQ(out.scheduled.size(), 3u);
  for (const ScheduledRequest& r : out.scheduled) {
    if (r.seq_id == 0) continue;
    EXPECT_TRUE(r.is_new);
    EXPECT_EQ(r.num_computed_tokens, 8);  // only the tail of the prompt is computed
    EXPECT_EQ(r.token_ids, (std::vector<int32_t>{9, 10}));
    EXPECT_TRUE(r.samples);
    ASSERT_EQ(r.block_ids.size(), 3u);  // the whole table: shared + own
    EXPECT_EQ(r.block_ids[0], parent[0]);
    EXPECT_EQ(r.block_ids[1], parent[1]);
    EXPECT_NE(r.block_ids[2], parent[2]);
    ASSERT_TRUE(r.sampling.has_value());
    EXPECT_EQ(r.prompt_token_ids, prompt);
  }
  EXPECT_EQ(kv.block_pool().ref_count(parent[0]), 3);
  EXPECT_EQ(kv.block_pool().ref_count(parent[1]), 3);
  EXPECT_EQ(kv.CheckInvariants(), "");
  while (s.HasWork()) RunStep(s, s.Schedule(), false);  // run to max_tokens
  EXPECT_EQ(kv.num_free_blocks(), 32) << "blocks leaked";
}

TEST(CompletionsSchedulingTest, ChildWhoseParentIsGoneComputesItsPrompt) {
  KVCacheManager kv(32, 4, false);
  Scheduler s({8, 64}, &kv);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  s.AddSequence(Seq(0, prompt, 1));
  s.AddSequence(Seq(1, prompt, 1, 0, 0));
  SchedulerOutput out = s.Schedule();
  ASSERT_EQ(out.scheduled.size(), 1u);
  RunStep(s, out, /*finish=*/true);  // the parent ends with its first token
  out = s.Schedule();
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(out.scheduled[0].seq_id, 1);
  EXPECT_EQ(out.scheduled[0].num_computed_tokens, 0);
  EXPECT_EQ(out.scheduled[0].num_new_tokens(), 9);
  RunStep(s, out, true);
  EXPECT_EQ(kv.num_free_blocks(), 32);
}

TEST(PromptLogprobsSchedulingTest, RowsCoverEveryPromptPositionOnceWithoutPrefixReuse) {
  KVCacheManager kv(32, 4, /*enable_prefix_caching=*/true);
  Scheduler s({8, 5}, &kv);  // budget 5: the 11-token prompt is prefilled in chunks
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  // A first request caches the prompt's blocks.
  s.AddSequence(Seq(0, prompt, 1));
  while (s.HasWork()) RunStep(s, s.Schedule(), true);
  auto seq = Seq(1, prompt, 1);
  seq->sampling.prompt_logprobs = 1;
  s.AddSequence(std::move(seq));
  std::vector<int> positions;
  while (s.HasWork()) {
    const SchedulerOutput out = s.Schedule();
    for (const ScheduledRequest& r : out.scheduled) {
      if (r.is_new) {
        EXPECT_EQ(r.num_computed_tokens, 0) << "served from the prefix cache";
      }
      for (int k = 0; k < r.num_prompt_logprobs; ++k) {
        const int p = r.prompt_logprobs_start + k;
        EXPECT_GE(p, r.num_computed_tokens);
        EXPECT_LT(p, r.num_computed_tokens + r.num_new_tokens());
        positions.push_back(p);
      }
    }
    RunStep(s, out, true);
  }
  EXPECT_EQ(positions, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

}  // namespace
}  // namespace llmserve
