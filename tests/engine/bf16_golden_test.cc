// bf16 end to end: bf16 weights (bf16 activations into oneDNN where the CPU
// has a bf16 matmul, the own f32×bf16 kernel elsewhere) with a bf16 KV cache
// keep the first 32 greedy tokens of every stories260K golden case (the
// documented tolerance of the bf16 path); an f32 model with a bf16 KV cache
// does too. Run under every LLMSERVE_CPU_ISA level by `make test-isa`.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/llm_engine.h"
#include "tests/engine/engine_test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::GoldenCase;
using ::llmserve::testing::LoadGoldenCases;
using ::llmserve::testing::OutputCollector;
using ::llmserve::testing::Stories260KOptions;

constexpr int kExactTokens = 32;

void ExpectFirstTokensMatch(const EngineOptions& options) {
  auto engine = LLMEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<GoldenCase> cases = LoadGoldenCases();
  ASSERT_FALSE(cases.empty());
  for (const GoldenCase& g : cases) {
    SCOPED_TRACE(g.prompt);
    OutputCollector collector;
    EngineRequest req;
    req.request_id = "golden";
    req.prompt_token_ids = g.prompt_ids;
    req.sampling.temperature = 0;
    const int n = std::min<int>(kExactTokens, static_cast<int>(g.completion_ids.size()));
    req.sampling.max_tokens = n;
    ASSERT_TRUE((*engine)->AddRequest(req, collector.Callback()).ok());
    const RequestOutput out = collector.Wait();
    EXPECT_EQ(out.token_ids,
              std::vector<int32_t>(g.completion_ids.begin(), g.completion_ids.begin() + n));
  }
}

TEST(Bf16GoldenTest, Bf16WeightsAndBf16KvCacheKeepTheFirst32GreedyTokens) {
  EngineOptions o = Stories260KOptions();
  o.dtype = "bf16";  // KV cache dtype defaults to bf16 with bf16 weights
  auto engine = LLMEngine::Create(o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->options().kv_cache_dtype, "bf16");
  engine->reset();
  ExpectFirstTokensMatch(o);
}

TEST(Bf16GoldenTest, F32WeightsWithBf16KvCacheKeepTheFirst32GreedyTokens) {
  EngineOptions o = Stories260KOptions();
  o.kv_cache_dtype = "bf16";
  ExpectFirstTokensMatch(o);
}

TEST(Bf16GoldenTest, KernelNamesNameEveryLayerKindAndTheKvCache) {
  EngineOptions o = Stories260KOptions();
  o.dtype = "bf16";
  auto engine = LLMEngine::Create(o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<std::string> names = (*engine)->kernel_names();
  std::string all;
  for (const std::string& n : names) all += n + "\n";
  for (const char* want : {"qkv ", "attn_out ", "gate_up ", "mlp_down ", "lm_head ", "attention: ",
                           "kv cache: bf16"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << " missing in\n" << all;
  }
  EXPECT_NE(all.find("bf16"), std::string::npos);
}

TEST(Bf16GoldenTest, RejectsAnUnknownKvCacheDtype) {
  EngineOptions o = Stories260KOptions();
  o.kv_cache_dtype = "f16";
  auto engine = LLMEngine::Create(o);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(std::string(engine.status().message()).find("kv-cache-dtype"), std::string::npos);
}

}  // namespace
}  // namespace llmserve
