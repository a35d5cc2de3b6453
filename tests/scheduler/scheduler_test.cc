// The continuous-batching scheduler driven by a simulated model: a fake KV
// store records which token was written at each slot, so every step can check
// that a sequence's block table really holds its own tokens (through prefix
// sharing, chunked prefill and preemption), and that no block leaks.
#include "engine/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace llmserve {
namespace {

struct SimConfig {
  int num_blocks = 24;
  int block_size = 4;
  int max_num_seqs = 6;
  int max_num_batched_tokens = 16;
  int num_requests = 60;
  bool prefix_caching = true;
  uint32_t seed = 1;
};

struct SimResult {
  int64_t preemptions = 0;
  int chunked_prefill_steps = 0;  // steps where some prompt was only partly computed
  int64_t prefix_hits = 0;
  std::map<int64_t, std::vector<int32_t>> outputs;  // seq id → generated tokens
};

// The "model": the next token is a fixed function of the sequence's tokens.
int32_t NextToken(const std::vector<int32_t>& tokens) {
  uint32_t h = 2166136261u;
  for (int32_t t : tokens) h = (h ^ static_cast<uint32_t>(t)) * 16777619u;
  return static_cast<int32_t>(h % 50);
}

void Simulate(const SimConfig& cfg, SimResult& result) {
  KVCacheManager kv(cfg.num_blocks, cfg.block_size, cfg.prefix_caching);
  Scheduler scheduler({cfg.max_num_seqs, cfg.max_num_batched_tokens}, &kv);
  std::mt19937 rng(cfg.seed);
  std::vector<int32_t> kv_store(static_cast<std::size_t>(cfg.num_blocks) * cfg.block_size, -1);
  const std::vector<std::vector<int32_t>> prefixes = {
      {7, 7, 7, 7, 8, 8, 8, 8, 9}, {1, 2, 3, 4, 5, 6, 7, 8}, {}};
  std::map<int64_t, std::vector<int32_t>> runner_tables;  // what a model runner would keep
  int next_id = 0;
  int finished = 0;
  for (int step = 0; finished < cfg.num_requests; ++step) {
    EXPECT_LT(step, 20000) << "no progress";
    if (step >= 20000) break;
    // Arrivals at random times.
    while (next_id < cfg.num_requests && rng() % 3 == 0) {
      auto seq = std::make_unique<Sequence>();
      seq->seq_id = next_id++;
      seq->tokens = prefixes[rng() % prefixes.size()];
      const int extra = 1 + static_cast<int>(rng() % 30);
      for (int i = 0; i < extra; ++i) seq->tokens.push_back(10 + static_cast<int32_t>(rng() % 40));
      seq->num_prompt_tokens = seq->num_tokens();
      // Every request fits in the cache alone.
      seq->max_num_tokens = std::min(seq->num_prompt_tokens + 1 + static_cast<int>(rng() % 20),
                                     cfg.num_blocks * cfg.block_size);
      scheduler.AddSequence(std::move(seq));
    }
    if (!scheduler.HasWork()) continue;

    SchedulerOutput out = scheduler.Schedule();
    result.preemptions += out.num_preemptions;
    EXPECT_EQ(kv.CheckInvariants(), "");
    EXPECT_LE(out.num_batched_tokens, cfg.max_num_batched_tokens);
    EXPECT_LE(static_cast<int>(out.scheduled.size()), cfg.max_num_seqs);
    EXPECT_LE(scheduler.num_running(), cfg.max_num_seqs);
    bool seen_prefill = false;
    int partial_in_step = 0;
    // The finished ones are reported once, and never scheduled again.
    for (const int64_t id : out.finished_seq_ids) {
      EXPECT_EQ(runner_tables.erase(id), 1u) << "seq " << id;
    }
    ModelRunnerOutput sampled;
    for (const ScheduledRequest& r : out.scheduled) {
      // The test peeks at the sequence; the "runner" below uses only `r`.
      const Sequence& seq = *scheduler.Find(r.seq_id);
      EXPECT_GT(r.num_new_tokens(), 0);
      EXPECT_EQ(r.num_computed_tokens, seq.num_computed_tokens);
      // Decodes (single-token continuations of running sequences) come first.
      if (r.num_new_tokens() > 1) seen_prefill = true;
      if (r.num_new_tokens() == 1 && seq.num_computed_tokens == seq.num_tokens() - 1 &&
          seq.num_computed_tokens >= seq.num_prompt_tokens) {
        EXPECT_FALSE(seen_prefill) << "decode scheduled after a prefill chunk";
      }
      // The runner's block table, kept from the output's block ids alone,
      // equals the manager's.
      std::vector<int32_t>& table = runner_tables[r.seq_id];
      if (r.is_new) table.clear();
      table.insert(table.end(), r.block_ids.begin(), r.block_ids.end());
      const auto kv_table = kv.BlockTable(seq.seq_id);
      ASSERT_EQ(table, std::vector<int32_t>(kv_table.begin(), kv_table.end()));
      ASSERT_GE(static_cast<int>(table.size()) * cfg.block_size,
                r.num_computed_tokens + r.num_new_tokens());
      auto slot = [&](int p) {
        return static_cast<std::size_t>(table[p / cfg.block_size]) * cfg.block_size +
               p % cfg.block_size;
      };
      // The already-computed tokens (own or shared prefix blocks) are in place.
      for (int p = 0; p < r.num_computed_tokens; ++p) {
        ASSERT_EQ(kv_store[slot(p)], seq.tokens[p]) << "seq " << seq.seq_id << " position " << p;
      }
      // "Run the model": write this step's tokens.
      for (int k = 0; k < r.num_new_tokens(); ++k) {
        EXPECT_EQ(r.token_ids[k], seq.tokens[r.num_computed_tokens + k]);
        kv_store[slot(r.num_computed_tokens + k)] = r.token_ids[k];
      }
      if (r.num_computed_tokens + r.num_new_tokens() < seq.num_prompt_tokens) {
        ++result.chunked_prefill_steps;
        ++partial_in_step;
      }
      if (r.samples) {
        EXPECT_EQ(r.num_computed_tokens + r.num_new_tokens(), seq.num_tokens());
        sampled.sampled.push_back({r.seq_id, NextToken(seq.tokens)});
      }
    }
    EXPECT_EQ(out.num_partial_prefills, partial_in_step);
    scheduler.UpdateFromOutput(out, sampled, [&](const SequenceUpdate& u) {
      const Sequence& seq = *scheduler.Find(u.seq_id);
      EXPECT_EQ(seq.tokens.back(), u.sample->token_id);
      EXPECT_EQ(seq.num_computed_tokens, seq.num_tokens() - 1);
      if (!u.reached_max_tokens) return false;
      result.outputs[u.seq_id].assign(seq.tokens.begin() + seq.num_prompt_tokens,
                                      seq.tokens.end());
      ++finished;
      return true;
    });
    for (const SampledToken& t : sampled.sampled) {
      if (result.outputs.contains(t.seq_id)) EXPECT_TRUE(kv.BlockTable(t.seq_id).empty());
    }
    EXPECT_EQ(kv.CheckInvariants(), "");
  }
  EXPECT_FALSE(scheduler.HasWork());
  EXPECT_EQ(kv.num_free_blocks(), cfg.num_blocks) << "blocks leaked";
  EXPECT_EQ(kv.Usage(), 0.0);
  result.prefix_hits = kv.prefix_cache_hits();
}

SimResult Simulate(const SimConfig& cfg) {
  SimResult result;
  Simulate(cfg, result);
  return result;
}

// The expected outputs: each request alone with a huge cache.
std::map<int64_t, std::vector<int32_t>> Reference(SimConfig cfg) {
  cfg.num_blocks = 4096;
  cfg.max_num_batched_tokens = 4096;
  cfg.max_num_seqs = 1;
  cfg.prefix_caching = false;
  return Simulate(cfg).outputs;
}

TEST(SchedulerTest, TightCachePreemptsAndChunksYetEveryRequestCompletesCorrectly) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(seed);
    SimConfig cfg;
    cfg.seed = seed;
    const SimResult r = Simulate(cfg);
    EXPECT_EQ(r.outputs.size(), static_cast<std::size_t>(cfg.num_requests));
    EXPECT_GT(r.preemptions, 0) << "the cache was meant to be too small";
    EXPECT_GT(r.chunked_prefill_steps, 0);
    EXPECT_GT(r.prefix_hits, 0);
    EXPECT_EQ(r.outputs, Reference(cfg));
  }
}

TEST(SchedulerTest, WithoutPrefixCachingToo) {
  SimConfig cfg;
  cfg.prefix_caching = false;
  const SimResult r = Simulate(cfg);
  EXPECT_EQ(r.prefix_hits, 0);
  EXPECT_EQ(r.outputs, Reference(cfg));
}

TEST(SchedulerTest, AdmitsInArrivalOrderWithinLimits) {
  KVCacheManager kv(100, 4, false);
  Scheduler scheduler({2, 10}, &kv);
  for (int i = 0; i < 3; ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = i;
    seq->tokens = std::vector<int32_t>(6, i + 1);
    seq->num_prompt_tokens = 6;
    seq->max_num_tokens = 10;
    scheduler.AddSequence(std::move(seq));
  }
  SchedulerOutput out = scheduler.Schedule();
  // Budget 10: seq 0 gets its whole 6-token prompt, seq 1 a 4-token chunk; seq 2 waits.
  ASSERT_EQ(out.scheduled.size(), 2u);
  EXPECT_EQ(out.scheduled[0].seq_id, 0);
  EXPECT_EQ(out.scheduled[0].num_new_tokens(), 6);
  EXPECT_TRUE(out.scheduled[0].samples);
  EXPECT_TRUE(out.scheduled[0].is_new);
  ASSERT_TRUE(out.scheduled[0].sampling.has_value());
  EXPECT_EQ(out.scheduled[0].block_ids.size(), 2u);  // 6 tokens in blocks of 4
  EXPECT_EQ(out.scheduled[1].seq_id, 1);
  EXPECT_EQ(out.scheduled[1].num_new_tokens(), 4);
  EXPECT_FALSE(out.scheduled[1].samples);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  scheduler.UpdateFromOutput(out, ModelRunnerOutput{{{0, 42}}},
                             [](const SequenceUpdate&) { return false; });
  EXPECT_EQ(scheduler.Find(0)->tokens.back(), 42);
  out = scheduler.Schedule();
  // Decode of seq 0 first, then the rest of seq 1's prompt; max_num_seqs keeps seq 2 out.
  ASSERT_EQ(out.scheduled.size(), 2u);
  EXPECT_EQ(out.scheduled[0].seq_id, 0);
  EXPECT_EQ(out.scheduled[0].num_new_tokens(), 1);
  EXPECT_EQ(out.scheduled[0].token_ids, std::vector<int32_t>{42});
  EXPECT_EQ(out.scheduled[0].num_computed_tokens, 6);
  EXPECT_FALSE(out.scheduled[0].is_new);
  EXPECT_FALSE(out.scheduled[0].sampling.has_value());
  EXPECT_TRUE(out.scheduled[0].block_ids.empty());  // position 6 is in its second block
  EXPECT_EQ(out.scheduled[1].seq_id, 1);
  EXPECT_EQ(out.scheduled[1].num_new_tokens(), 2);
  EXPECT_EQ(out.num_decode_tokens, 1);
  EXPECT_EQ(out.num_prefill_tokens, 2);
  EXPECT_EQ(scheduler.num_waiting(), 1);
}

TEST(SchedulerTest, PreemptsMostRecentlyAdmittedAndRequeuesItFirst) {
  // 4 blocks of 2 tokens: two sequences of 4 tokens fill the cache.
  KVCacheManager kv(4, 2, false);
  Scheduler scheduler({4, 64}, &kv);
  for (int i = 0; i < 2; ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = i;
    seq->tokens = {1, 2, 3, 4};
    seq->num_prompt_tokens = 4;
    seq->max_num_tokens = 8;
    scheduler.AddSequence(std::move(seq));
  }
  SchedulerOutput out = scheduler.Schedule();
  ASSERT_EQ(out.scheduled.size(), 2u);
  scheduler.UpdateFromOutput(out, ModelRunnerOutput{{{0, 5}, {1, 5}}},
                             [](const SequenceUpdate&) { return false; });
  out = scheduler.Schedule();
  // Seq 0 needs a fifth slot (a new block): seq 1, admitted later, is preempted.
  EXPECT_EQ(out.num_preemptions, 1);
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(out.scheduled[0].seq_id, 0);
  ASSERT_EQ(out.scheduled[0].block_ids.size(), 1u);  // the appended third block
  EXPECT_EQ(out.scheduled[0].block_ids[0], kv.BlockTable(0)[2]);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  const Sequence* preempted = scheduler.Find(1);
  EXPECT_EQ(preempted->status, SequenceStatus::kWaiting);
  EXPECT_EQ(preempted->num_computed_tokens, 0);
  EXPECT_EQ(preempted->num_tokens(), 5);  // keeps its generated token for recomputation
  EXPECT_TRUE(kv.BlockTable(1).empty());
  EXPECT_EQ(scheduler.total_preemptions(), 1);
  // Readmitted later: a new block table, prompt + its generated token recomputed.
  scheduler.UpdateFromOutput(out, ModelRunnerOutput{{{0, 6}}},
                             [](const SequenceUpdate& u) { return true; });  // seq 0 finishes
  out = scheduler.Schedule();
  EXPECT_EQ(out.finished_seq_ids, std::vector<int64_t>{0});
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(out.scheduled[0].seq_id, 1);
  EXPECT_TRUE(out.scheduled[0].is_new);
  EXPECT_TRUE(out.scheduled[0].resumed_from_preemption);
  EXPECT_FALSE(out.scheduled[0].sampling.has_value());  // the runner kept it
  EXPECT_EQ(out.scheduled[0].token_ids, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(out.scheduled[0].block_ids.size(), 3u);
}

}  // namespace
}  // namespace llmserve
