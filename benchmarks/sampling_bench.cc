// Cost of the per-token sampling work on one logits row at GPT-2's vocabulary
// (50,257): the logits-processor pass (bias + repetition + presence/frequency),
// the raw-row logprobs (log-softmax + top-5), sampling with top-p, and the
// greedy argmax (once per sequence per decode step).
// The processor pass streams 4 rows of 4 bytes per token (logits read+write,
// bias, repetition factor, counts): ~1 MB, so it is memory-bound at a few
// tens of µs; logprobs are bound by one exp per token.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/sampling/logits_processor.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampler.h"

namespace llmserve {
namespace {

constexpr int kVocab = 50257;

std::vector<float> Row() {
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::vector<float> r(kVocab);
  for (float& x : r) x = d(gen);
  return r;
}

void BM_LogitsProcessorAllOn(benchmark::State& state) {
  SamplingParams p;
  p.repetition_penalty = 1.2f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.3f;
  p.logit_bias = {{13, 5.0f}, {50256, -100.0f}};
  std::vector<int32_t> prompt(512);
  for (int i = 0; i < 512; ++i) prompt[i] = (i * 97) % kVocab;
  LogitsProcessor proc(p, prompt, kVocab, std::vector<int32_t>{50256});
  for (int i = 0; i < 256; ++i) proc.AppendToken((i * 31) % kVocab);
  const std::vector<float> raw = Row();
  std::vector<float> row = raw;
  for (auto _ : state) {
    proc.Apply(absl::MakeSpan(row));
    benchmark::DoNotOptimize(row.data());
  }
  state.SetBytesProcessed(state.iterations() * int64_t{kVocab} * 4 * 5);  // 2 logits + 3 rows
}
BENCHMARK(BM_LogitsProcessorAllOn);

void BM_LogprobsTop5(benchmark::State& state) {
  const std::vector<float> row = Row();
  std::vector<int32_t> scratch;
  for (auto _ : state) benchmark::DoNotOptimize(ComputeLogprobs(row, 7, 5, scratch));
}
BENCHMARK(BM_LogprobsTop5);

// SampleToken on one row of logits with `p` (seed 1).
void SampleLoop(benchmark::State& state, SamplingParams p) {
  const std::vector<float> row = Row();
  p.seed = 1;
  SamplingRng rng(p);
  std::vector<std::pair<float, int32_t>> scratch;
  for (auto _ : state) benchmark::DoNotOptimize(SampleToken(row, p, rng, scratch));
}

void BM_SampleTopP(benchmark::State& state) {
  SamplingParams p;
  p.top_p = 0.9f;
  SampleLoop(state, p);
}
BENCHMARK(BM_SampleTopP);

// Plain temperature sampling: a server's default request (temperature 1, no
// top-k / top-p / min-p).
void BM_SampleTemperature(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 1.0f;
  SampleLoop(state, p);
}
BENCHMARK(BM_SampleTemperature);

void BM_ArgMax(benchmark::State& state) {
  const std::vector<float> row = Row();
  for (auto _ : state) benchmark::DoNotOptimize(ArgMax(row));
  state.SetBytesProcessed(state.iterations() * int64_t{kVocab} * 4);
}
BENCHMARK(BM_ArgMax);

}  // namespace
}  // namespace llmserve
