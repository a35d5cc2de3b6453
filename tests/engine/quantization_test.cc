// --quantization q8_0 / q4_0 (issue #20) through the engine on the real
// stories260K model: teacher-forced prompt log-probabilities against the
// independent float64 reference (reference/stories260K-logprobs.json).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/llm_engine.h"
#include "tests/engine/engine_test_util.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

// The largest |engine − float64| over every prompt position of every case.
double MaxPromptLogprobError(const std::string& quantization, std::vector<std::string>* kernels) {
  EngineOptions o = ::llmserve::testing::Stories260KOptions();
  o.quantization = quantization;
  auto engine = LLMEngine::Create(o);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return 1e9;
  *kernels = (*engine)->kernel_names();
  const nlohmann::json j = ::llmserve::testing::ReadJsonFile(
      ::llmserve::testing::SharedPath("reference/stories260K-logprobs.json"));
  double worst = 0;
  for (const auto& c : j["cases"]) {
    EngineRequest req;
    req.request_id = "q";
    req.prompt_token_ids = c["prompt_token_ids"].get<std::vector<int32_t>>();
    req.sampling.temperature = 0.0f;
    req.sampling.max_tokens = 1;
    req.sampling.prompt_logprobs = 1;
    absl::Mutex mu;
    std::vector<PositionLogprobs> prompt;
    absl::Notification done;
    EXPECT_TRUE((*engine)
                    ->AddRequest(req,
                                 [&](RequestOutput out) {
                                   absl::MutexLock lock(&mu);
                                   if (!out.prompt_logprobs.empty()) prompt = out.prompt_logprobs;
                                   if (out.finished) done.Notify();
                                 })
                    .ok());
    done.WaitForNotification();
    absl::MutexLock lock(&mu);
    EXPECT_EQ(prompt.size(), req.prompt_token_ids.size() - 1);
    for (std::size_t i = 0; i < prompt.size(); ++i) {
      const double want = c["positions"][i]["next_token_logprob"].get<double>();
      EXPECT_EQ(prompt[i].chosen.token_id, req.prompt_token_ids[i + 1]);
      worst = std::max(worst, std::fabs(prompt[i].chosen.logprob - want));
    }
  }
  return worst;
}

// Tolerance 0.25. The reference is float64 on the *unquantized* weights (the
// issue's 0.15 for quantized GGUF files is against float64 on the dequantized
// weights, so weight rounding is not counted there). Measured on this model
// (every linear layer q8_0 but mlp_down, whose 172 inputs are not whole
// blocks of 32 and stay f32): q8_0 weights alone (the f32 dequantize path,
// LLMSERVE_QUANT_PREFILL_ROWS=1 LLMSERVE_QUANT_PREFILL_BF16=0) 0.099; with the
// activations quantized to int8 per 32 as llama.cpp does, 0.216, the same on
// the scalar reference kernel (a 64-wide model: few values per block).
TEST(QuantizationTest, Q8_0PromptLogprobsStayNearTheFloat64Reference) {
  std::vector<std::string> kernels;
  const double err = MaxPromptLogprobError("q8_0", &kernels);
  std::printf("q8_0: max |prompt logprob - float64| = %.4f\n", err);
  EXPECT_LT(err, 0.25);
  bool quantized = false, down_f32 = false;
  for (const std::string& k : kernels) {
    if (k.rfind("qkv", 0) == 0) quantized = k.find("q8xq8_0:own_") != std::string::npos;
    if (k.rfind("mlp_down", 0) == 0) down_f32 = k.find("f32xf32:") != std::string::npos;
  }
  EXPECT_TRUE(quantized && down_f32) << ::testing::PrintToString(kernels);
}

// q4_0 is reported only, with a sanity bound: 4-bit weights wreck a 64-wide
// model (measured 3.04 with q4_0 weights alone, 3.03 with int8 activations;
// llama.cpp's own Q4_0 file of it keeps the classifier in Q8_0).
TEST(QuantizationTest, Q4_0PromptLogprobsAreReported) {
  std::vector<std::string> kernels;
  const double err = MaxPromptLogprobError("q4_0", &kernels);
  std::printf("q4_0: max |prompt logprob - float64| = %.4f\n", err);
  EXPECT_LT(err, 5.0);
}

TEST(QuantizationTest, RejectsAnUnknownQuantization) {
  EngineOptions o = ::llmserve::testing::Stories260KOptions();
  o.quantization = "q4_k";
  auto engine = LLMEngine::Create(o);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmserve
