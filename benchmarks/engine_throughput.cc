// Aggregate generation throughput and per-step latency of the engine versus
// the number of concurrent sequences (continuous batching), plus batch-1
// decode speed next to the memory-bandwidth roofline.
//
//   build/benchmarks/engine_throughput --model /tmp/models/llama110m.bin \
//       --tokenizer ../shared/models/llama2c-tokenizer32k/tokenizer.bin \
//       --concurrency 1,2,4,8,16,32,64 --max_tokens 64 --repeats 3
//
// Each run submits N requests at once (random prompts of --prompt_tokens
// tokens, greedy, ignore_eos, --max_tokens each) and waits for all of them.
// Reported: median over repeats of output tokens/s (all generated tokens ÷
// wall time), decode-step latency (median step time over steps that ran only
// decodes), and the speed-up over N = 1.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "engine/llm_engine.h"

ABSL_FLAG(std::string, model, "", "model path (llama2.c file or HF directory)");
ABSL_FLAG(std::string, tokenizer, "", "tokenizer path (default: beside the model)");
ABSL_FLAG(std::string, dtype, "f32", "weight dtype: f32 or bf16");
ABSL_FLAG(int, threads, 0, "compute threads (0 = all cores)");
ABSL_FLAG(std::string, concurrency, "1,2,4,8,16,32,64", "comma-separated concurrency levels");
ABSL_FLAG(int, prompt_tokens, 32, "prompt length in tokens");
ABSL_FLAG(int, max_tokens, 64, "tokens generated per request");
ABSL_FLAG(int, repeats, 3, "runs per level (median reported)");
ABSL_FLAG(int, max_num_batched_tokens, 2048, "engine token budget per step");
ABSL_FLAG(double, bandwidth_gbs, 0, "measured memory bandwidth in GB/s for the roofline (0: measure)");

namespace {

// Records decode-only step times.
class StepRecorder : public llmserve::EngineObserver {
 public:
  void OnStep(const llmserve::StepStats& s) override {
    absl::MutexLock lock(&mu_);
    if (s.num_prefill_tokens == 0) decode_steps_.push_back(s.step_seconds);
  }
  std::vector<double> Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(decode_steps_, {});
  }

 private:
  absl::Mutex mu_;
  std::vector<double> decode_steps_;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Streams a large buffer to estimate the memory bandwidth (GB/s) seen by one
// sequential reader — the bound for batch-1 decode, which reads every weight once per token.
double MeasureBandwidthGBs() {
  std::vector<float> buf(static_cast<std::size_t>(256) << 20 >> 2, 1.0f);  // 256 MiB
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    float sum = 0;
#pragma omp parallel for reduction(+ : sum)
    for (std::size_t i = 0; i < buf.size(); i += 16) sum += buf[i];
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, buf.size() * 4.0 / s / 1e9);
    if (sum == 42) std::printf(" ");
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  StepRecorder recorder;
  llmserve::EngineOptions opts;
  opts.model_path = absl::GetFlag(FLAGS_model);
  opts.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  opts.dtype = absl::GetFlag(FLAGS_dtype);
  opts.num_threads = absl::GetFlag(FLAGS_threads);
  std::vector<int> levels;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int n;
    if (absl::SimpleAtoi(s, &n) && n > 0) levels.push_back(n);
  }
  const int max_level = *std::max_element(levels.begin(), levels.end());
  const int prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  const int max_tokens = absl::GetFlag(FLAGS_max_tokens);
  opts.max_num_seqs = max_level;
  opts.max_num_batched_tokens = std::max(absl::GetFlag(FLAGS_max_num_batched_tokens), max_level);
  opts.kv_cache_tokens = int64_t{max_level} * (prompt_tokens + max_tokens + 16);
  opts.enable_prefix_caching = false;  // random prompts: measure compute, not cache hits
  auto engine_or = llmserve::LLMEngine::Create(opts, &recorder);
  if (!engine_or.ok()) {
    std::fprintf(stderr, "%s\n", std::string(engine_or.status().message()).c_str());
    return 1;
  }
  auto engine = *std::move(engine_or);
  if (auto s = engine->WarmUp(); !s.ok()) {
    std::fprintf(stderr, "warm-up: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const auto& c = engine->model_config();
  std::printf("model %s: hidden %d, layers %d, heads %d/%d, ffn %d, vocab %d; dtype %s; threads %d\n",
              opts.model_path.c_str(), c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads,
              c.ffn_size, c.vocab_size, opts.dtype.c_str(), engine->options().num_threads);
  std::printf("prompt %d tokens, %d generated tokens per request, %d repeats (median)\n\n",
              prompt_tokens, max_tokens, absl::GetFlag(FLAGS_repeats));
  std::printf("| concurrency | output tokens/s | speed-up vs 1 | decode step (ms) | per-sequence tokens/s |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");

  std::mt19937 rng(1);
  double base = 0;
  int64_t next_id = 0;
  for (int level : levels) {
    std::vector<double> rates, steps;
    for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
      recorder.Take();
      absl::Mutex mu;
      int remaining = level;
      int64_t generated = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < level; ++i) {
        llmserve::EngineRequest req;
        req.request_id = std::to_string(next_id++);
        for (int t = 0; t < prompt_tokens; ++t) {
          req.prompt_token_ids.push_back(3 + static_cast<int32_t>(rng() % (c.vocab_size - 3)));
        }
        req.sampling.max_tokens = max_tokens;
        req.sampling.temperature = 0;
        req.sampling.ignore_eos = true;
        auto s = engine->AddRequest(std::move(req), [&](llmserve::RequestOutput out) {
          if (!out.finished) return;
          absl::MutexLock lock(&mu);
          generated += out.completion_tokens;
          --remaining;
        });
        if (!s.ok()) {
          std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
          return 1;
        }
      }
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &remaining));
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(generated / secs);
      steps.push_back(Median(recorder.Take()));
    }
    const double rate = Median(rates);
    if (level == levels.front()) base = rate;
    std::printf("| %d | %.1f | %.2f× | %.2f | %.1f |\n", level, rate, rate / base,
                Median(steps) * 1e3, rate / level);
    std::fflush(stdout);
  }

  // Roofline for batch-1 decode: every weight byte is read once per token.
  double bw = absl::GetFlag(FLAGS_bandwidth_gbs);
  if (bw <= 0) bw = MeasureBandwidthGBs();
  const double weight_mb = engine->weight_bytes_per_step() / 1e6;
  std::printf("\nlinear layers: %s; weights read per decode step: %.1f MB; memory bandwidth "
              "%.1f GB/s → batch-1 roofline %.1f tokens/s (measured %.1f, %.0f%% of it)\n",
              engine->linear_implementation().c_str(), weight_mb, bw, bw * 1e3 / weight_mb, base,
              100.0 * base / (bw * 1e3 / weight_mb));
  return 0;
}
