// Issue #12 through the engine on the real stories260K model: logprobs and
// prompt logprobs against the independent float64 reference, `n` completions
// against n separate seeded requests, priorities with a saturated engine,
// stop token ids / min_tokens, validation naming the field, and batch
// invariance of every new option.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/llm_engine.h"
#include "tests/engine/engine_test_util.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::Stories260KOptions;

// One completion's concatenated outputs.
struct Completion {
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<PositionLogprobs> logprobs;
  FinishReason finish_reason = FinishReason::kNone;
  int cached_prompt_tokens = 0;  ///< prompt tokens not computed for it (prefix cache / shared)
};

// Collects a request's outputs by completion index.
class Collector {
 public:
  OutputCallback Callback() {
    return [this](RequestOutput out) {
      absl::MutexLock lock(&mu_);
      EXPECT_FALSE(done_) << "output after the final one: index " << out.index << " finished " << out.finished << " reason " << static_cast<int>(out.finish_reason) << " ntok " << out.token_ids.size();
      if (!out.prompt_logprobs.empty()) {
        EXPECT_TRUE(prompt_logprobs_.empty()) << "prompt logprobs sent twice";
        prompt_logprobs_ = out.prompt_logprobs;
      }
      EXPECT_EQ(out.logprobs.empty() ? out.token_ids.size() : out.logprobs.size(),
                out.token_ids.size());
      Completion& c = completions_[out.index];
      EXPECT_EQ(c.finish_reason, FinishReason::kNone) << "output after completion " << out.index
                                                      << " finished";
      c.token_ids.insert(c.token_ids.end(), out.token_ids.begin(), out.token_ids.end());
      c.text += out.text;
      c.logprobs.insert(c.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
      c.finish_reason = out.finish_reason;
      c.cached_prompt_tokens = out.cached_prompt_tokens;
      if (out.finished) {
        done_ = true;
        final_ = out;
      }
    };
  }
  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }
  std::map<int, Completion> completions() {
    absl::MutexLock lock(&mu_);
    return completions_;
  }
  std::vector<PositionLogprobs> prompt_logprobs() {
    absl::MutexLock lock(&mu_);
    return prompt_logprobs_;
  }
  RequestOutput final_output() {
    absl::MutexLock lock(&mu_);
    return final_;
  }

 private:
  absl::Mutex mu_;
  bool done_ = false;
  std::map<int, Completion> completions_;
  std::vector<PositionLogprobs> prompt_logprobs_;
  RequestOutput final_;
};

struct LogprobCase {
  std::vector<int32_t> prompt_ids, completion_ids;
  nlohmann::json positions;
};

std::vector<LogprobCase> LoadLogprobCases() {
  const nlohmann::json j =
      ::llmserve::testing::ReadJsonFile(::llmserve::testing::SharedPath(
          "reference/stories260K-logprobs.json"));
  std::vector<LogprobCase> out;
  for (const auto& c : j["cases"]) {
    out.push_back({c["prompt_token_ids"].get<std::vector<int32_t>>(),
                   c["greedy_completion_token_ids"].get<std::vector<int32_t>>(), c["positions"]});
  }
  EXPECT_EQ(out.size(), 4u);
  return out;
}

// `got` (the logprobs at reference position p) against the reference: the
// chosen token's logprob and the top-5 within 1e-3; ids may only differ where
// the reference logprobs are themselves within 1e-3 (a near tie).
void ExpectMatchesReference(const PositionLogprobs& got, const nlohmann::json& ref,
                            const std::string& where) {
  EXPECT_EQ(got.chosen.token_id, ref["next_token"].get<int32_t>()) << where;
  EXPECT_NEAR(got.chosen.logprob, ref["next_token_logprob"].get<double>(), 1e-3) << where;
  const auto ids = ref["top5_ids"].get<std::vector<int32_t>>();
  const auto lps = ref["top5_logprobs"].get<std::vector<double>>();
  ASSERT_EQ(got.top.size(), 5u) << where;
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(got.top[i].logprob, lps[i], 1e-3) << where << " top " << i;
    if (got.top[i].token_id != ids[i]) {
      const auto it = std::find(ids.begin(), ids.end(), got.top[i].token_id);
      ASSERT_NE(it, ids.end()) << where << " top " << i;
      EXPECT_NEAR(lps[it - ids.begin()], lps[i], 1e-3) << where << " swapped ids, not a tie";
    }
  }
}

EngineRequest LogprobRequest(const LogprobCase& c, const std::string& id) {
  EngineRequest req;
  req.request_id = id;
  req.prompt_token_ids = c.prompt_ids;
  req.sampling.temperature = 0.0f;
  req.sampling.max_tokens = static_cast<int>(c.completion_ids.size());
  req.sampling.logprobs = 5;
  req.sampling.prompt_logprobs = 5;
  return req;
}

void CheckLogprobCase(const LogprobCase& c, Collector& col) {
  const Completion out = col.completions()[0];
  ASSERT_EQ(out.token_ids, c.completion_ids);
  ASSERT_EQ(out.logprobs.size(), c.completion_ids.size());
  const int p0 = static_cast<int>(c.prompt_ids.size()) - 1;
  for (std::size_t j = 0; j < out.logprobs.size(); ++j) {
    const std::string where = absl::StrCat("completion token ", j);
    ExpectMatchesReference(out.logprobs[j], c.positions[p0 + j], where);
    EXPECT_EQ(out.logprobs[j].top[0].token_id, out.token_ids[j]) << "greedy is not top-1";
    EXPECT_EQ(out.logprobs[j].rank, 1);
  }
  const std::vector<PositionLogprobs> prompt = col.prompt_logprobs();
  ASSERT_EQ(prompt.size(), c.prompt_ids.size() - 1);
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    EXPECT_EQ(prompt[i].chosen.token_id, c.prompt_ids[i + 1]);
    ExpectMatchesReference(prompt[i], c.positions[i], absl::StrCat("prompt token ", i + 1));
  }
}

TEST(GenerationFeaturesTest, LogprobsAndPromptLogprobsMatchTheFloat64Reference) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<LogprobCase> cases = LoadLogprobCases();
  // Alone, one after the other.
  std::vector<std::vector<PositionLogprobs>> alone;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    Collector col;
    ASSERT_TRUE((*engine)->AddRequest(LogprobRequest(cases[i], "lp"), col.Callback()).ok());
    col.Wait();
    CheckLogprobCase(cases[i], col);
    alone.push_back(col.completions()[0].logprobs);
  }
  // All together (batched, prompts prefilled in one step): the same values.
  std::vector<std::unique_ptr<Collector>> cols;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    cols.push_back(std::make_unique<Collector>());
    ASSERT_TRUE((*engine)
                    ->AddRequest(LogprobRequest(cases[i], absl::StrCat("lp", i)),
                                 cols[i]->Callback())
                    .ok());
  }
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    cols[i]->Wait();
    CheckLogprobCase(cases[i], *cols[i]);
    const auto batched = cols[i]->completions()[0].logprobs;
    ASSERT_EQ(batched.size(), alone[i].size());
    for (std::size_t j = 0; j < batched.size(); ++j) {
      EXPECT_NEAR(batched[j].chosen.logprob, alone[i][j].chosen.logprob, 1e-4) << j;
    }
  }
  EXPECT_EQ((*engine)->GetStats().kv_cache_usage, 0.0);
}

EngineRequest StoryRequest(const std::string& id, int max_tokens) {
  EngineRequest req;
  req.request_id = id;
  req.prompt_token_ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395,
                          317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 300, 301, 302,
                          303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314};
  req.sampling.max_tokens = max_tokens;
  req.sampling.ignore_eos = true;
  return req;
}

TEST(GenerationFeaturesTest, NCompletionsEqualSeparateRequestsWithSeedPlusI) {
  for (bool prefix_caching : {false, true}) {
    EngineOptions options = Stories260KOptions();
    options.enable_prefix_caching = prefix_caching;
    auto engine = LLMEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EngineRequest req = StoryRequest("n", 40);
    req.sampling.n = 4;
    req.sampling.seed = 1000;
    req.sampling.temperature = 1.0f;
    req.sampling.logprobs = 2;
    req.sampling.stop_token_ids = {500};  // a stop id: finish reasons may differ per completion
    Collector all;
    ASSERT_TRUE((*engine)->AddRequest(req, all.Callback()).ok());
    all.Wait();
    const auto got = all.completions();
    ASSERT_EQ(got.size(), 4u);
    const RequestOutput final_output = all.final_output();
    int total_tokens = 0;
    std::set<std::vector<int32_t>> distinct;
    for (int i = 0; i < 4; ++i) {
      EngineRequest single = req;
      single.request_id = absl::StrCat("single", i);
      single.sampling.n = 1;
      single.sampling.seed = 1000 + i;
      Collector one;
      ASSERT_TRUE((*engine)->AddRequest(single, one.Callback()).ok());
      one.Wait();
      const Completion want = one.completions()[0];
      EXPECT_EQ(got.at(i).token_ids, want.token_ids) << "completion " << i;
      EXPECT_EQ(got.at(i).text, want.text) << "completion " << i;
      EXPECT_EQ(got.at(i).finish_reason, want.finish_reason) << "completion " << i;
      ASSERT_EQ(got.at(i).logprobs.size(), want.logprobs.size());
      for (std::size_t j = 0; j < want.logprobs.size(); ++j) {
        EXPECT_NEAR(got.at(i).logprobs[j].chosen.logprob, want.logprobs[j].chosen.logprob, 1e-4);
      }
      total_tokens += static_cast<int>(want.token_ids.size());
      distinct.insert(want.token_ids);
    }
    EXPECT_EQ(distinct.size(), 4u) << "distinct seeds gave equal completions";
    if (!prefix_caching) {
      // Completion 0 computed the 40-token prompt; the others reused its two
      // full 16-token blocks (shared, not recomputed) and computed the rest.
      EXPECT_EQ(got.at(0).cached_prompt_tokens, 0);
      for (int i = 1; i < 4; ++i) EXPECT_EQ(got.at(i).cached_prompt_tokens, 32) << i;
    }
    EXPECT_EQ(final_output.prompt_tokens, 40);
    EXPECT_EQ(final_output.completion_tokens, total_tokens) << "the request's usage counts all";
    const EngineStats stats = (*engine)->GetStats();
    EXPECT_EQ(stats.kv_cache_usage, 0.0) << "KV blocks leaked";
    EXPECT_EQ(stats.num_running + stats.num_waiting, 0);
  }
}

TEST(GenerationFeaturesTest, HighPriorityArrivingLastFinishesBeforeQueuedLowPriority) {
  EngineOptions options = Stories260KOptions();
  options.max_num_seqs = 1;  // saturated by one running request
  auto engine = LLMEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::Mutex mu;
  std::vector<std::string> finish_order;
  absl::Notification running_started;
  auto record = [&](RequestOutput out) {
    if (out.request_id == "running" && !running_started.HasBeenNotified()) {
      running_started.Notify();
    }
    if (!out.finished) return;
    absl::MutexLock lock(&mu);
    finish_order.push_back(out.request_id);
  };
  EngineRequest running = StoryRequest("running", 400);
  running.sampling.temperature = 0.0f;
  ASSERT_TRUE((*engine)->AddRequest(running, record).ok());
  // The engine is saturated (max_num_seqs 1) before the others arrive.
  running_started.WaitForNotification();
  for (const char* id : {"low-a", "low-b", "low-c"}) {
    EngineRequest low = StoryRequest(id, 8);
    low.priority = 10;
    ASSERT_TRUE((*engine)->AddRequest(low, record).ok());
  }
  EngineRequest high = StoryRequest("high", 8);
  high.priority = -5;
  ASSERT_TRUE((*engine)->AddRequest(high, record).ok());
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](std::vector<std::string>* v) { return v->size() == 5; }, &finish_order));
  EXPECT_EQ(finish_order,
            (std::vector<std::string>{"running", "high", "low-a", "low-b", "low-c"}));
}

TEST(GenerationFeaturesTest, StopTokenIdsAndMinTokens) {
  auto engine = LLMEngine::Create(Stories260KOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const LogprobCase c = LoadLogprobCases()[1];
  auto run = [&](const SamplingParams& s) {
    EngineRequest req;
    req.request_id = "stop";
    req.prompt_token_ids = c.prompt_ids;
    req.sampling = s;
    Collector col;
    EXPECT_TRUE((*engine)->AddRequest(req, col.Callback()).ok());
    col.Wait();
    return col.completions()[0];
  };
  SamplingParams s;
  s.temperature = 0.0f;
  s.max_tokens = 60;
  // The greedy completion's 6th token as a stop id: ends right there, included.
  const int32_t stop_id = c.completion_ids[5];
  const int first = static_cast<int>(std::find(c.completion_ids.begin(), c.completion_ids.end(),
                                               stop_id) - c.completion_ids.begin());
  s.stop_token_ids = {stop_id};
  Completion out = run(s);
  EXPECT_EQ(out.finish_reason, FinishReason::kStop);
  EXPECT_EQ(out.token_ids, std::vector<int32_t>(c.completion_ids.begin(),
                                                c.completion_ids.begin() + first + 1));
  // min_tokens beyond it: the stop id cannot be generated before, and the
  // completion is at least min_tokens long.
  s.min_tokens = first + 3;
  out = run(s);
  ASSERT_GE(out.token_ids.size(), static_cast<std::size_t>(first + 3));
  for (int j = 0; j < first + 3; ++j) EXPECT_NE(out.token_ids[j], stop_id) << j;
  if (out.finish_reason == FinishReason::kStop) {
    EXPECT_EQ(out.token_ids.back(), stop_id);
  }
}

TEST(GenerationFeaturesTest, OutOfRangeValuesAreRejectedNamingTheField) {
  EngineOptions options = Stories260KOptions();
  options.max_logprobs = 5;
  options.max_n = 3;
  auto engine = LLMEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto check = [&](const std::function<void(EngineRequest&)>& edit, const std::string& field) {
    EngineRequest req = StoryRequest("bad", 4);
    edit(req);
    const absl::Status s = (*engine)->AddRequest(req, [](RequestOutput) {});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  };
  check([](EngineRequest& r) { r.sampling.logprobs = 6; }, "sampling_params.logprobs");
  check([](EngineRequest& r) { r.sampling.prompt_logprobs = 6; },
        "sampling_params.prompt_logprobs");
  check([](EngineRequest& r) { r.sampling.n = 4; }, "sampling_params.n");
  check([](EngineRequest& r) { r.sampling.repetition_penalty = -1.0f; },
        "sampling_params.repetition_penalty");
  check([](EngineRequest& r) { r.sampling.presence_penalty = 3.0f; },
        "sampling_params.presence_penalty");
  check([](EngineRequest& r) { r.sampling.logit_bias = {{512, 1.0f}}; },
        "sampling_params.logit_bias");
  check([](EngineRequest& r) { r.sampling.stop_token_ids = {9999}; },
        "sampling_params.stop_token_ids");
  check([](EngineRequest& r) { r.sampling.min_p = 2.0f; }, "sampling_params.min_p");
  EXPECT_EQ((*engine)->GetStats().num_waiting, 0);
}

// Each new option gives the same tokens and logprobs alone and in a batch with
// all the others (and with a cache small enough to preempt).
TEST(GenerationFeaturesTest, EveryOptionIsBatchInvariant) {
  std::vector<EngineRequest> requests;
  auto add = [&](const std::string& id, const std::function<void(SamplingParams&)>& edit) {
    EngineRequest r = StoryRequest(id, 48);
    r.sampling.seed = 42 + requests.size();
    r.sampling.temperature = 0.9f;
    r.sampling.logprobs = 3;
    edit(r.sampling);
    requests.push_back(std::move(r));
  };
  add("repetition", [](SamplingParams& s) { s.repetition_penalty = 1.4f; });
  add("presence", [](SamplingParams& s) { s.presence_penalty = 1.0f; });
  add("frequency", [](SamplingParams& s) { s.frequency_penalty = 0.7f; });
  add("bias", [](SamplingParams& s) { s.logit_bias = {{300, 4.0f}, {403, -100.0f}}; });
  add("banned", [](SamplingParams& s) { s.banned_token_ids = {261, 267, 383}; });
  add("min_p", [](SamplingParams& s) { s.min_p = 0.1f; });
  add("min_tokens", [](SamplingParams& s) {
    s.min_tokens = 20;
    s.ignore_eos = false;
    s.stop_token_ids = {13, 14};
  });
  add("greedy_logprobs", [](SamplingParams& s) { s.temperature = 0.0f; });
  add("prompt_logprobs", [](SamplingParams& s) { s.prompt_logprobs = 2; });
  add("n", [](SamplingParams& s) { s.n = 3; });

  auto run = [&](const EngineOptions& options, bool together) {
    auto engine = LLMEngine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    std::vector<std::map<int, Completion>> results(requests.size());
    std::vector<std::unique_ptr<Collector>> cols;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      cols.push_back(std::make_unique<Collector>());
      EXPECT_TRUE((*engine)->AddRequest(requests[i], cols[i]->Callback()).ok());
      if (!together) {
        cols[i]->Wait();
        results[i] = cols[i]->completions();
      }
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      cols[i]->Wait();
      results[i] = cols[i]->completions();
    }
    EXPECT_EQ((*engine)->GetStats().kv_cache_usage, 0.0);
    if (options.kv_cache_tokens > 0) {
      EXPECT_GT((*engine)->GetStats().num_preemptions, 0) << "the tight cache did not preempt";
    }
    return results;
  };
  const auto alone = run(Stories260KOptions(), false);
  EngineOptions tight = Stories260KOptions();
  tight.kv_cache_tokens = 160;  // preemption and chunked prefill
  tight.max_num_batched_tokens = 64;
  for (const auto& options : {Stories260KOptions(), tight}) {
    const auto batched = run(options, true);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      SCOPED_TRACE(requests[i].request_id);
      ASSERT_EQ(batched[i].size(), alone[i].size());
      for (const auto& [index, c] : alone[i]) {
        const Completion& b = batched[i].at(index);
        EXPECT_EQ(b.token_ids, c.token_ids) << "completion " << index;
        EXPECT_EQ(b.finish_reason, c.finish_reason);
        ASSERT_EQ(b.logprobs.size(), c.logprobs.size());
        for (std::size_t j = 0; j < c.logprobs.size(); ++j) {
          EXPECT_NEAR(b.logprobs[j].chosen.logprob, c.logprobs[j].chosen.logprob, 1e-4);
          ASSERT_EQ(b.logprobs[j].top.size(), c.logprobs[j].top.size());
          for (std::size_t k = 0; k < c.logprobs[j].top.size(); ++k) {
            EXPECT_EQ(b.logprobs[j].top[k].token_id, c.logprobs[j].top[k].token_id);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace llmserve
