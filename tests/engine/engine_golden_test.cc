// The engine end to end on the real stories260K model: greedy outputs equal
// the independent reference exactly — alone, and batched with many other
// requests arriving at different times, also with a cache so small that
// preemption and chunked prefill happen.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "tests/engine/engine_test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::GoldenCase;
using ::llmserve::testing::LoadGoldenCases;
using ::llmserve::testing::OutputCollector;
using ::llmserve::testing::Stories260KOptions;

// Counts what the scheduler did. With HoldAfterFirstStep(), the engine
// thread waits after its first step until Release(): requests submitted
// meanwhile join a batch already running, however fast the steps are or
// however loaded the machine (without it, on a busy CI host the first
// requests could finish before the last arrived).
class StepCounter : public EngineObserver {
 public:
  void OnStep(const StepStats& s) override {
    bool hold = false;
    {
      absl::MutexLock lock(&mu_);
      max_tokens_per_step = std::max(max_tokens_per_step, s.num_tokens);
      max_seqs_per_step = std::max(max_seqs_per_step, s.num_seqs);
      preemptions += s.num_preemptions;
      partial_prefills += s.num_partial_prefills;
      if (s.num_prefill_tokens > 0 && s.num_decode_tokens > 0) ++mixed_steps;
      hold = hold_ && ++steps_ == 1;
    }
    if (hold) release_.WaitForNotification();
  }
  void HoldAfterFirstStep() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  absl::Mutex mu_;
  absl::Notification release_;
  bool hold_ = false;
  int steps_ = 0;
  int max_tokens_per_step = 0;
  int max_seqs_per_step = 0;
  int preemptions = 0;
  int partial_prefills = 0;
  int mixed_steps = 0;
};

// A request with a known greedy answer: a golden case's prompt extended by the
// first `skip` reference completion tokens; the answer is the next `n` tokens.
struct KnownRequest {
  EngineRequest request;
  std::vector<int32_t> expected;
};

std::vector<KnownRequest> MakeKnownRequests(const std::vector<GoldenCase>& cases, int count) {
  std::vector<KnownRequest> out;
  for (int i = 0; i < count; ++i) {
    const GoldenCase& g = cases[i % cases.size()];
    const int skip = (i / static_cast<int>(cases.size())) * 13 % 60;
    const int n = 20 + (i * 7) % 50;
    KnownRequest k;
    k.request.request_id = absl::StrCat("req-", i);
    k.request.prompt_token_ids = g.prompt_ids;
    k.request.prompt_token_ids.insert(k.request.prompt_token_ids.end(), g.completion_ids.begin(),
                                      g.completion_ids.begin() + skip);
    k.request.sampling.temperature = 0;
    k.request.sampling.max_tokens = n;
    k.expected.assign(g.completion_ids.begin() + skip, g.completion_ids.begin() + skip + n);
    out.push_back(std::move(k));
  }
  return out;
}

TEST(EngineGoldenTest, EveryReferenceCaseAloneMatchesExactly) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (const GoldenCase& g : LoadGoldenCases()) {
    SCOPED_TRACE(g.prompt);
    OutputCollector collector;
    EngineRequest req;
    req.request_id = "golden";
    req.prompt_token_ids = g.prompt_ids;
    req.sampling.temperature = 0;
    req.sampling.max_tokens = static_cast<int>(g.completion_ids.size());
    ASSERT_TRUE((*engine)->AddRequest(req, collector.Callback()).ok());
    const RequestOutput out = collector.Wait();
    EXPECT_EQ(out.token_ids, g.completion_ids);
    EXPECT_EQ(out.text, g.completion_text);
    EXPECT_EQ(out.finish_reason, FinishReason::kLength);
    EXPECT_EQ(out.prompt_tokens, static_cast<int>(g.prompt_ids.size()));
    EXPECT_EQ(out.completion_tokens, static_cast<int>(g.completion_ids.size()));
    EXPECT_GT(out.timing.total_seconds, 0);
    EXPECT_LE(out.timing.time_to_first_token_seconds, out.timing.total_seconds);
  }
}

void RunConcurrent(const EngineOptions& options, int num_requests, StepCounter* counter) {
  counter->HoldAfterFirstStep();
  // Declared after the engine, so destroyed before it: releases the engine
  // thread on every path out of here (an ASSERT included) before the
  // engine's destructor joins it.
  struct Releaser {
    StepCounter* counter;
    ~Releaser() { counter->Release(); }
  };
  auto engine = LLMEngine::Create(options, counter);
  ASSERT_TRUE(engine.ok()) << engine.status();
  Releaser releaser{counter};
  std::vector<KnownRequest> requests = MakeKnownRequests(LoadGoldenCases(), num_requests);
  std::vector<std::unique_ptr<OutputCollector>> collectors;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    collectors.push_back(std::make_unique<OutputCollector>());
    ASSERT_TRUE((*engine)->AddRequest(requests[i].request, collectors[i]->Callback()).ok());
    // Arrivals spread over time, so requests join a batch already running
    // (the engine holds after its first step until all have arrived).
    if (i % 3 == 2) absl::SleepFor(absl::Milliseconds(2));
  }
  counter->Release();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const RequestOutput out = collectors[i]->Wait();
    EXPECT_EQ(out.token_ids, requests[i].expected) << requests[i].request.request_id;
    EXPECT_EQ(out.finish_reason, FinishReason::kLength);
  }
  const EngineStats stats = (*engine)->GetStats();
  EXPECT_EQ(stats.num_running, 0);
  EXPECT_EQ(stats.num_waiting, 0);
  EXPECT_EQ(stats.kv_cache_usage, 0.0) << "KV blocks leaked";
}

TEST(EngineGoldenTest, ConcurrentRequestsEqualTheirSoloOutputs) {
  StepCounter counter;
  RunConcurrent(Stories260KOptions(), 24, &counter);
  EXPECT_GE(counter.max_seqs_per_step, 16) << "requests were not batched together";
  EXPECT_GT(counter.mixed_steps, 0) << "no step mixed prefill and decode";
}

TEST(EngineGoldenTest, TinyCacheForcesPreemptionAndChunkedPrefillWithSameOutputs) {
  EngineOptions options = Stories260KOptions();
  options.block_size = 4;
  options.kv_cache_tokens = 160;       // 40 blocks for 20 requests of up to ~130 tokens
  options.max_num_batched_tokens = 24;  // prompts of 25+ tokens are prefilled in chunks
  options.max_num_seqs = 16;
  StepCounter counter;
  RunConcurrent(options, 20, &counter);
  EXPECT_GT(counter.preemptions, 0) << "the cache was meant to be too small";
  EXPECT_GT(counter.partial_prefills, 0) << "no prompt was prefilled in chunks";
  EXPECT_LE(counter.max_tokens_per_step, 24);
}

TEST(EngineGoldenTest, PrefixCacheHitGivesIdenticalTokens) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const GoldenCase g = LoadGoldenCases().back();  // the longest prompt
  ASSERT_GE(g.prompt_ids.size(), 17u);
  std::vector<int32_t> first_tokens;
  for (int round = 0; round < 2; ++round) {
    const EngineStats before = (*engine)->GetStats();
    OutputCollector collector;
    EngineRequest req;
    req.request_id = absl::StrCat("prefix-", round);
    req.prompt_token_ids = g.prompt_ids;
    req.sampling.temperature = 0;
    req.sampling.max_tokens = 40;
    ASSERT_TRUE((*engine)->AddRequest(req, collector.Callback()).ok());
    const RequestOutput out = collector.Wait();
    const EngineStats after = (*engine)->GetStats();
    EXPECT_EQ(after.prefix_cache_queries - before.prefix_cache_queries,
              static_cast<int64_t>(g.prompt_ids.size()));
    if (round == 0) {
      first_tokens = out.token_ids;
      EXPECT_EQ(out.cached_prompt_tokens, 0);
    } else {
      // Full 16-token blocks of the prompt are reused, never the last token.
      const int expect_hit = static_cast<int>((g.prompt_ids.size() - 1) / 16 * 16);
      EXPECT_EQ(out.cached_prompt_tokens, expect_hit);
      EXPECT_EQ(after.prefix_cache_hits - before.prefix_cache_hits, expect_hit);
      EXPECT_EQ(out.token_ids, first_tokens);
    }
    EXPECT_EQ(std::vector<int32_t>(out.token_ids.begin(), out.token_ids.end()),
              std::vector<int32_t>(g.completion_ids.begin(), g.completion_ids.begin() + 40));
  }
}

TEST(EngineGoldenTest, CancellationMidGenerationReturnsItsBlocks) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  OutputCollector collector;
  EngineRequest req;
  req.request_id = "to-cancel";
  req.prompt_token_ids = {1};
  req.sampling.max_tokens = 500;
  req.sampling.ignore_eos = true;
  ASSERT_TRUE((*engine)->AddRequest(req, collector.Callback()).ok());
  while (collector.num_outputs() < 3) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_GT((*engine)->GetStats().kv_cache_usage, 0.0);
  (*engine)->AbortRequest("to-cancel", absl::CancelledError("client went away"));
  const RequestOutput out = collector.Wait();
  EXPECT_EQ(out.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(out.status.message(), "client went away");
  EXPECT_LT(out.completion_tokens, 500);
  // Stats are published before final outputs are delivered.
  const EngineStats stats = (*engine)->GetStats();
  EXPECT_EQ(stats.num_running, 0);
  EXPECT_EQ(stats.kv_cache_usage, 0.0);
}

TEST(EngineGoldenTest, StopStringEndsGenerationAndIsNotReturned) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const GoldenCase g = LoadGoldenCases()[1];  // "Once upon a time"
  const std::string stop = "Lily";
  const std::size_t at = g.completion_text.find(stop);
  ASSERT_NE(at, std::string::npos);
  OutputCollector collector;
  EngineRequest req;
  req.request_id = "stop";
  req.prompt_token_ids = g.prompt_ids;
  req.sampling.temperature = 0;
  req.sampling.max_tokens = 100;
  req.sampling.stop = {"dragon", stop};
  ASSERT_TRUE((*engine)->AddRequest(req, collector.Callback()).ok());
  const RequestOutput out = collector.Wait();
  EXPECT_EQ(out.finish_reason, FinishReason::kStop);
  EXPECT_EQ(out.text, g.completion_text.substr(0, at));
}

TEST(EngineGoldenTest, SeededSamplingIsReproducibleAloneAndInABatch) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto run = [&](const std::string& id, uint64_t seed, OutputCollector& c) {
    EngineRequest req;
    req.request_id = id;
    req.prompt_token_ids = {1, 403, 407};
    req.sampling.temperature = 0.9f;
    req.sampling.top_p = 0.95f;
    req.sampling.top_k = 40;
    req.sampling.seed = seed;
    req.sampling.max_tokens = 60;
    req.sampling.ignore_eos = true;
    EXPECT_TRUE((*engine)->AddRequest(req, c.Callback()).ok());
  };
  OutputCollector alone;
  run("alone", 7, alone);
  const RequestOutput a = alone.Wait();
  std::vector<std::unique_ptr<OutputCollector>> batch;
  for (int i = 0; i < 8; ++i) {
    batch.push_back(std::make_unique<OutputCollector>());
    run(absl::StrCat("batch-", i), i == 5 ? 7 : 100 + i, *batch.back());
  }
  std::vector<RequestOutput> outs;
  for (auto& c : batch) outs.push_back(c->Wait());
  EXPECT_EQ(outs[5].token_ids, a.token_ids);
  EXPECT_EQ(outs[5].text, a.text);
  EXPECT_NE(outs[4].token_ids, a.token_ids);
}

TEST(EngineGoldenTest, InvalidRequestsAreRejectedUpFront) {
  EngineOptions options = Stories260KOptions();
  options.kv_cache_tokens = 256;
  options.max_queued_requests = 2;
  auto engine = LLMEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto add = [&](EngineRequest r) { return (*engine)->AddRequest(std::move(r), [](RequestOutput) {}); };
  EngineRequest ok;
  ok.request_id = "x";
  ok.prompt_token_ids = {1};
  EngineRequest r = ok;
  r.prompt_token_ids = {};
  EXPECT_EQ(add(r).code(), absl::StatusCode::kInvalidArgument);
  r = ok;
  r.prompt_token_ids = {1, 512};
  // The message names the proto field (one validator for engine and server).
  EXPECT_NE(add(r).message().find("prompt.token_ids[1] = 512"), absl::string_view::npos);
  r = ok;
  r.sampling.max_tokens = 0;
  EXPECT_NE(add(r).message().find("max_tokens"), absl::string_view::npos);
  r = ok;
  r.sampling.max_tokens = 512;  // 1 + 512 > 512 positions
  EXPECT_NE(add(r).message().find("exceeds the maximum context"), absl::string_view::npos);
  r = ok;
  r.sampling.max_tokens = 300;  // fits the context but not the 256-token cache
  EXPECT_NE(add(r).message().find("KV-cache blocks"), absl::string_view::npos);
}

TEST(EngineGoldenTest, ShutdownCancelsEverythingAndRefusesNewWork) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<std::unique_ptr<OutputCollector>> collectors;
  for (int i = 0; i < 4; ++i) {
    collectors.push_back(std::make_unique<OutputCollector>());
    EngineRequest req;
    req.request_id = absl::StrCat("long-", i);
    req.prompt_token_ids = {1};
    req.sampling.max_tokens = 500;
    req.sampling.ignore_eos = true;
    ASSERT_TRUE((*engine)->AddRequest(req, collectors.back()->Callback()).ok());
  }
  (*engine)->Shutdown(absl::UnavailableError("draining"));
  for (auto& c : collectors) {
    const RequestOutput out = c->Wait();
    EXPECT_EQ(out.finish_reason, FinishReason::kCancelled);
    EXPECT_EQ(out.status.code(), absl::StatusCode::kUnavailable);
  }
  EngineRequest late;
  late.request_id = "late";
  late.prompt_token_ids = {1};
  EXPECT_EQ((*engine)->AddRequest(late, [](RequestOutput) {}).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace llmserve
