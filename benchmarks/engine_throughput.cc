// Engine throughput and per-step latency versus the number of concurrent
// sequences (continuous batching), each decode step printed beside its
// roofline: the two limits of a step, measured in the same run,
//   memory  = bytes read per step (weights + K/V of every sequence) ÷ bandwidth
//   compute = FLOPs per step ÷ matmul peak (this dtype, ISA and thread count)
// and the fraction of the binding (larger) limit the measured step reached.
// Then a 512-token prefill against the matmul peak, the kernels, peak RSS.
//
//   build/benchmarks/engine_throughput --model build/bench-models/gpt2-124m
//       --tokenizer ../shared/models/gpt2-tokenizer/encoder.json --dtype bf16
//       --concurrency 1,2,4,8,16,32,64 --prompt_tokens 128 --max_tokens 32 --repeats 1
//
// Each run submits N requests at once (random prompts of --prompt_tokens
// tokens, greedy unless --temperature, ignore_eos, --max_tokens each) and waits for all of them.
// Reported: median over repeats of output tokens/s (all generated tokens ÷
// wall time, so prefill included), the decode-only step time (median step of
// one repeat) and the roofline columns for it (K/V bytes at the mean context
// of a decode step, prompt + max_tokens / 2). Each repeat is paired with the
// read bandwidth measured right before and after it (the higher of the two);
// the row shows the repeat with the median fraction of its own limit.
//
// With --closed_loop_rounds K, each level then runs as a server sees it: N
// requests in flight, each finished one replaced at once by a new one (K·N
// requests in all), so decode steps carry the arrivals' prefill as a served
// step does. Reported: every step's median and p90 (what a token waits: the
// inter-token latency a load tester on a server measures, minus the service),
// the tokens per step, and the decode-only steps' median. Compare a server's
// ITL with this at equal concurrency (docs/benchmarks.md, issue #21).
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "benchmarks/read_bandwidth.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"
#include "engine/common/openmp_wait.h"
#include "engine/llm_engine.h"
#include "engine/primitives/linear.h"

ABSL_FLAG(std::string, model, "", "model path (llama2.c file or HF directory)");
ABSL_FLAG(std::string, tokenizer, "", "tokenizer path (default: beside the model)");
ABSL_FLAG(std::string, dtype, "f32", "weight dtype: f32 or bf16");
ABSL_FLAG(std::string, quantization, "",
          "quantize the linear layers at load: q8_0 or q4_0 (empty: no; see llmserve --help)");
ABSL_FLAG(std::string, kv_cache_dtype, "", "KV-cache dtype: f32 or bf16 (empty: as the weights)");
ABSL_FLAG(int, threads, 0, "compute threads (0 = all cores)");
ABSL_FLAG(int, block_size, 16, "tokens per KV-cache block");
ABSL_FLAG(std::string, concurrency, "1,2,4,8,16,32,64", "comma-separated concurrency levels");
ABSL_FLAG(int, prompt_tokens, 128, "prompt length in tokens");
ABSL_FLAG(int, max_tokens, 32, "tokens generated per request");
ABSL_FLAG(int, repeats, 1,
          "runs per level (tokens/s: median; decode step: the median step of the run with the "
          "median fraction of its limit)");
ABSL_FLAG(int, max_num_batched_tokens, 2048, "engine token budget per step");
ABSL_FLAG(int, prefill_tokens, 512, "prompt length of the prefill measurement (0: skip)");
ABSL_FLAG(double, bandwidth_gbs, 0, "memory bandwidth in GB/s for the roofline (0: measure)");
ABSL_FLAG(double, temperature, 0,
          "sampling temperature of every request (0: greedy; a server's default is 1)");
ABSL_FLAG(int, closed_loop_rounds, 0,
          "per level, also run K x N requests keeping N in flight (a finished request is replaced "
          "at once), and report every step's time (0: skip)");

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Records decode-only and prefill step times.
class StepRecorder : public llmserve::EngineObserver {
 public:
  void OnStep(const llmserve::StepStats& s) override {
    absl::MutexLock lock(&mu_);
    if (s.num_prefill_tokens == 0) decode_steps_.push_back(s.step_seconds);
    all_steps_.push_back(s);
    preemptions_ += s.num_preemptions;
  }
  /// Decode-only step times (seconds) since the last call.
  std::vector<double> Take() {
    absl::MutexLock lock(&mu_);
    all_steps_.clear();
    return std::exchange(decode_steps_, {});
  }
  /// Every step since the last call (Take clears them too).
  std::vector<llmserve::StepStats> TakeAll() {
    absl::MutexLock lock(&mu_);
    decode_steps_.clear();
    return std::exchange(all_steps_, {});
  }
  /// Sequences preempted since the last call (a level whose sequences do not
  /// all fit the KV cache measures smaller batches than it names).
  int64_t TakePreemptions() {
    absl::MutexLock lock(&mu_);
    return std::exchange(preemptions_, 0);
  }

 private:
  absl::Mutex mu_;
  std::vector<double> decode_steps_;
  std::vector<llmserve::StepStats> all_steps_;
  int64_t preemptions_ = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The q-quantile (0..1) of v, nearest rank.
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

// A Linear of the model's MLP-up shape [hidden → ffn] in the weight dtype,
// random weights; the matmul every step of the model runs most.
std::unique_ptr<llmserve::Linear> ProbeLinear(const llmserve::ModelConfig& c, llmserve::DType dt) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> w(static_cast<std::size_t>(c.ffn_size) * c.hidden_size);
  for (float& v : w) v = d(rng);
  auto lin = llmserve::Linear::Create(
      llmserve::HostTensor::FromFloats(std::move(w), {c.ffn_size, c.hidden_size}),
      llmserve::HostTensor(), dt, false);
  if (!lin.ok()) {
    std::fprintf(stderr, "probe linear: %s\n", std::string(lin.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(lin);
}

// Matmul peak (GFLOP/s) of `lin` at `rows` rows: best of 7 timed calls (a
// peak, so the best; the machine may be shared).
double MatmulGflops(const llmserve::Linear& lin, int rows) {
  std::vector<float> x(static_cast<std::size_t>(rows) * lin.in_features(), 0.5f);
  std::vector<float> y(static_cast<std::size_t>(rows) * lin.out_features());
  lin.Forward(x.data(), rows, y.data());
  double best = 1e30;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = Clock::now();
    lin.Forward(x.data(), rows, y.data());
    best = std::min(best, Seconds(t0));
  }
  return 2.0 * rows * lin.in_features() * lin.out_features() / best / 1e9;
}

// The same over `set` (Linears of one shape, together several times the last-
// level cache) called one after another, so each call streams its weights
// from memory as a decode step does: total FLOPs over the whole pass, best of
// 3 passes. Below the in-cache figure by what the kernel fails to overlap
// of the weight stream with its arithmetic.
double StreamedGflops(const std::vector<std::unique_ptr<llmserve::Linear>>& set, int rows) {
  const llmserve::Linear& first = *set.front();
  std::vector<float> x(static_cast<std::size_t>(rows) * first.in_features(), 0.5f);
  std::vector<float> y(static_cast<std::size_t>(rows) * first.out_features());
  for (const auto& lin : set) lin->Forward(x.data(), rows, y.data());
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    for (const auto& lin : set) lin->Forward(x.data(), rows, y.data());
    best = std::min(best, Seconds(t0));
  }
  return 2.0 * rows * first.in_features() * first.out_features() * set.size() / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  // As the server does: a bounded OpenMP spin, set before libgomp starts.
  if (absl::Status s = llmserve::ReexecWithBoundedOpenMpWait(argv); !s.ok()) {
    std::fprintf(stderr, "warning: %s\n", std::string(s.message()).c_str());
  }
  absl::ParseCommandLine(argc, argv);
  StepRecorder recorder;
  llmserve::EngineOptions opts;
  opts.model_path = absl::GetFlag(FLAGS_model);
  opts.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  opts.dtype = absl::GetFlag(FLAGS_dtype);
  opts.quantization = absl::GetFlag(FLAGS_quantization);
  opts.kv_cache_dtype = absl::GetFlag(FLAGS_kv_cache_dtype);
  opts.num_threads = absl::GetFlag(FLAGS_threads);
  opts.block_size = absl::GetFlag(FLAGS_block_size);
  std::vector<int> levels;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int n;
    if (absl::SimpleAtoi(s, &n) && n > 0) levels.push_back(n);
  }
  if (levels.empty()) {
    std::fprintf(stderr, "--concurrency names no level\n");
    return 1;
  }
  const int max_level = *std::max_element(levels.begin(), levels.end());
  const int prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  const int max_tokens = absl::GetFlag(FLAGS_max_tokens);
  const int prefill_tokens = absl::GetFlag(FLAGS_prefill_tokens);
  opts.max_num_seqs = max_level;
  opts.max_num_batched_tokens =
      std::max({absl::GetFlag(FLAGS_max_num_batched_tokens), max_level, prefill_tokens});
  // Every sequence's blocks at its longest (rounded up to whole blocks), so
  // that no level preempts.
  const int64_t bs = opts.block_size;
  const int64_t seq_tokens = (prompt_tokens + max_tokens + bs - 1) / bs * bs;
  opts.kv_cache_tokens = std::max<int64_t>(int64_t{max_level} * seq_tokens, prefill_tokens + 32);
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
  const llmserve::ModelConfig& c = engine->model_config();
  const llmserve::EngineOptions& eo = engine->options();
  omp_set_num_threads(eo.num_threads);  // the probes run with the engine's thread count
  std::printf("model %s: hidden %d, layers %d, heads %d/%d, ffn %d, vocab %d; dtype %s%s%s, KV "
              "cache %s; threads %d\n",
              opts.model_path.c_str(), c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads,
              c.ffn_size, c.vocab_size, eo.dtype.c_str(), eo.quantization.empty() ? "" : ", quantization ",
              eo.quantization.c_str(), eo.kv_cache_dtype.c_str(),
              eo.num_threads);
  for (const std::string& k : engine->kernel_names()) std::printf("kernel %s\n", k.c_str());

  // Limits measured in this run.
  double bw = absl::GetFlag(FLAGS_bandwidth_gbs);
  const bool measure_bw = bw <= 0;
  if (measure_bw) bw = llmserve::bench::MeasureReadBandwidthGBs(5);
  const auto dt = llmserve::ParseDType(eo.quantization.empty() ? eo.dtype : eo.quantization);
  auto probe = ProbeLinear(c, dt.ok() ? *dt : llmserve::DType::kF32);
  const double peak = MatmulGflops(*probe, 512);
  // 16 probes: 75 MB (bf16) / 150 MB (f32) at the GPT-2 shape, several
  // times any last-level cache of these machines.
  std::vector<std::unique_ptr<llmserve::Linear>> streamed;
  for (int i = 0; i < 16; ++i) streamed.push_back(ProbeLinear(c, dt.ok() ? *dt : llmserve::DType::kF32));
  std::printf("memory bandwidth %.1f GB/s; matmul peak %.1f GFLOP/s ([512 x %d] x [%d x %d], %s)\n"
              "(the bandwidth is measured again around each repeat, the peak after each level, so "
              "a shared machine's contention shows in them too)\n",
              bw, peak, c.hidden_size, c.hidden_size, c.ffn_size, probe->implementation().c_str());

  // Per-step work.
  const double q_size = static_cast<double>(c.num_heads) * c.head_dim;
  const bool swiglu = c.mlp == llmserve::MlpKind::kSwiGLU;
  const double macs_per_token =
      c.num_layers * (static_cast<double>(c.hidden_size) * c.qkv_size() + q_size * c.hidden_size +
                      static_cast<double>(c.hidden_size) * c.ffn_size * (swiglu ? 3 : 2)) +
      static_cast<double>(c.hidden_size) * c.vocab_size;
  const double kv_elem = eo.kv_cache_dtype == "bf16" ? 2 : 4;
  const double kv_bytes_per_position =
      static_cast<double>(c.num_layers) * 2 * c.num_kv_heads * c.head_dim * kv_elem;
  const double weight_bytes = static_cast<double>(engine->weight_bytes_per_step());
  const double mean_context = prompt_tokens + max_tokens / 2.0;
  std::printf("prompt %d tokens, %d generated tokens per request, %d repeats (median); weights "
              "read per step %.1f MB, K/V %.3f MB per position\n\n",
              prompt_tokens, max_tokens, absl::GetFlag(FLAGS_repeats), weight_bytes / 1e6,
              kv_bytes_per_position / 1e6);
  std::printf("| N | tokens/s | decode step ms | MB read/step | GB/s | memory limit ms | "
              "GFLOP/step | peak GFLOP/s | compute limit ms | bound | %% of limit | matmul kernel at M=N | "
              "its GFLOP/s at M=N | the same, weights from memory |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|\n");

  std::mt19937 rng(1);
  int64_t next_id = 0;
  // A request of `prompt` random token ids, `gen` tokens (ignore_eos) sampled
  // at --temperature.
  const float temperature = static_cast<float>(absl::GetFlag(FLAGS_temperature));
  const auto make_request = [&](int prompt, int gen) {
    llmserve::EngineRequest req;
    req.request_id = std::to_string(next_id++);
    for (int t = 0; t < prompt; ++t) {
      req.prompt_token_ids.push_back(3 + static_cast<int32_t>(rng() % (c.vocab_size - 3)));
    }
    req.sampling.max_tokens = gen;
    req.sampling.temperature = temperature;
    req.sampling.ignore_eos = true;
    return req;
  };
  const auto submit = [&](int count, int prompt, int gen, std::vector<double>* rate) -> bool {
    absl::Mutex mu;
    int remaining = count;
    int64_t generated = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < count; ++i) {
      auto s = engine->AddRequest(make_request(prompt, gen), [&](llmserve::RequestOutput out) {
        if (!out.finished) return;
        absl::MutexLock lock(&mu);
        generated += out.completion_tokens;
        --remaining;
      });
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return false;
      }
    }
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &remaining));
    if (rate != nullptr) rate->push_back(generated / Seconds(t0));
    return true;
  };

  for (int level : levels) {
    std::vector<double> rates, steps, bws;
    for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
      // The read bandwidth of a shared VM swings (25–55 GB/s within minutes
      // on the Zen 4 VM of docs/benchmarks.md), so each repeat is paired with
      // the bandwidth measured right before and after it; the higher of the
      // two is what the machine could do then.
      const double bw_before = measure_bw ? llmserve::bench::MeasureReadBandwidthGBs(2) : bw;
      // The probes ran on this thread: its OpenMP team must not idle beside
      // the engine's (engine/common/openmp_wait.h).
      llmserve::ReleaseOpenMpTeamIfWaitBounded();
      recorder.Take();
      recorder.TakePreemptions();
      if (!submit(level, prompt_tokens, max_tokens, &rates)) return 1;
      steps.push_back(Median(recorder.Take()));
      if (const int64_t p = recorder.TakePreemptions(); p > 0) {
        std::fprintf(stderr, "warning: %d sequences: %lld preemptions (KV cache too small); the "
                     "decode steps had fewer sequences\n", level, static_cast<long long>(p));
      }
      const double bw_after = measure_bw ? llmserve::bench::MeasureReadBandwidthGBs(2) : bw;
      bws.push_back(std::max(bw_before, bw_after));
    }
    const double level_peak = MatmulGflops(*probe, 512);
    const double at_n = MatmulGflops(*probe, level);
    const double at_n_streamed = StreamedGflops(streamed, level);
    const double bytes = weight_bytes + level * mean_context * kv_bytes_per_position;
    const double flops = 2.0 * level * macs_per_token +
                         4.0 * level * mean_context * c.num_layers * q_size;  // QKᵀ and PV
    const double compute_limit = flops / (level_peak * 1e9);
    // The row shows the repeat whose step reached the median fraction of its
    // own limit (its median decode step against its bandwidth).
    std::vector<std::pair<double, int>> fractions;
    for (int r = 0; r < static_cast<int>(steps.size()); ++r) {
      const double lim = std::max(bytes / (bws[r] * 1e9), compute_limit);
      fractions.push_back({steps[r] > 0 ? lim / steps[r] : 0.0, r});
    }
    std::sort(fractions.begin(), fractions.end());
    const int chosen = fractions[fractions.size() / 2].second;
    const double step = steps[chosen], level_bw = bws[chosen];
    const double mem_limit = bytes / (level_bw * 1e9);
    const double limit = std::max(mem_limit, compute_limit);
    std::printf("| %d | %.1f | %.2f | %.1f | %.1f | %.2f | %.2f | %.1f | %.2f | %s | %.0f%% | %s | %.1f | %.1f |\n",
                level, Median(rates), step * 1e3, bytes / 1e6, level_bw, mem_limit * 1e3, flops / 1e9,
                level_peak, compute_limit * 1e3, mem_limit >= compute_limit ? "memory" : "compute",
                step > 0 ? 100.0 * limit / step : 0.0,
                probe->ImplementationForRows(level).c_str(), at_n, at_n_streamed);
    std::fflush(stdout);
  }

  if (const int rounds = absl::GetFlag(FLAGS_closed_loop_rounds); rounds > 0) {
    std::printf("\nclosed loop: N requests in flight, each finished one replaced at once, %d x N "
                "requests per level\n\n", rounds);
    std::printf("| N | steps | tokens/step (mean) | steps with prefill | step p50 ms | step p90 ms | "
                "decode-only step p50 ms | output tokens/s | output processing µs/step p50 |\n"
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int level : levels) {
      llmserve::ReleaseOpenMpTeamIfWaitBounded();
      recorder.TakeAll();
      absl::Mutex mu;
      int in_flight = 0;
      int64_t generated = 0;
      std::pair<int*, int> slots{&in_flight, level};
      const auto t0 = Clock::now();
      for (int i = 0; i < rounds * level; ++i) {
        {
          absl::MutexLock lock(&mu);
          mu.Await(absl::Condition(
              +[](std::pair<int*, int>* a) { return *a->first < a->second; }, &slots));
          ++in_flight;
        }
        auto s = engine->AddRequest(make_request(prompt_tokens, max_tokens),
                                    [&](llmserve::RequestOutput out) {
          if (!out.finished) return;
          absl::MutexLock lock(&mu);
          generated += out.completion_tokens;
          --in_flight;
        });
        if (!s.ok()) {
          std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
          return 1;
        }
      }
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &in_flight));
      }
      const double secs = Seconds(t0);
      std::vector<double> all, decode, output;
      int64_t tokens = 0, with_prefill = 0;
      for (const llmserve::StepStats& st : recorder.TakeAll()) {
        all.push_back(st.step_seconds);
        output.push_back(st.output_seconds);
        tokens += st.num_tokens;
        if (st.num_prefill_tokens > 0) ++with_prefill; else decode.push_back(st.step_seconds);
      }
      std::printf("| %d | %zu | %.1f | %lld | %.2f | %.2f | %.2f | %.1f | %.1f |\n", level,
                  all.size(), all.empty() ? 0.0 : static_cast<double>(tokens) / all.size(),
                  static_cast<long long>(with_prefill), Quantile(all, 0.5) * 1e3,
                  Quantile(all, 0.9) * 1e3, Median(decode) * 1e3, generated / secs,
                  Median(output) * 1e6);
      std::fflush(stdout);
    }
  }

  if (prefill_tokens > 0) {
    // One request of prefill_tokens prompt tokens and 1 output token: one
    // prefill step (max_num_batched_tokens >= prefill_tokens) plus sampling.
    std::vector<double> t;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = Clock::now();
      if (!submit(1, prefill_tokens, 1, nullptr)) return 1;
      t.push_back(Seconds(t0));
    }
    const double secs = Median(t);
    const double prefill_peak = std::max(peak, MatmulGflops(*probe, 512));
    const double flops = 2.0 * prefill_tokens * macs_per_token +
                         2.0 * prefill_tokens * prefill_tokens * c.num_layers * q_size;
    std::printf("\nprefill %d tokens: %.1f ms, %.1f GFLOP/s = %.0f%% of the matmul peak "
                "(kernel at M=%d: %s)\n",
                prefill_tokens, secs * 1e3, flops / secs / 1e9,
                100.0 * flops / secs / 1e9 / prefill_peak,
                prefill_tokens, probe->ImplementationForRows(prefill_tokens).c_str());
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS %.0f MB (KV cache %.0f MB)\n", ru.ru_maxrss / 1024.0,
              eo.kv_cache_bytes / 1e6);
  return 0;
}
