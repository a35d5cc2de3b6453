// llmserve-bench: load tester for servers of the llmserve.v1.Generation gRPC API
// and OpenAI-compatible HTTP servers (--backend), with token-level metrics
// (TTFT, ITL, TPOT, e2e latency, goodput) and field names of `vllm bench
// serve`'s result JSON. See README ("Load testing").
//
//   llmserve-bench --address HOST:PORT [--concurrency N | --request-rate R [--burstiness B]]
//       [--backend grpc|openai-completions|openai-chat [--base-url http://HOST:PORT]
//        [--model NAME] [--vocab-size N] [--http-threads N]]
//       [--num-requests N] [--duration S] [--warmup N] [--seed S]
//       [--sweep-rates 1,2,4 | --sweep-concurrency 1,2,4]
//       [--workload random|prefix|file] [--input-len N --output-len N --range-ratio R]
//       [--file data.jsonl|sharegpt.json] [--stream=false] [--timeout S]
//       [--cancel-fraction F --cancel-after-tokens K --timeout-fraction F
//        --n-logprobs-fraction F]
//       [--temperature T --top-p P --top-k K --sampling-seed S --min-p P --stop a,b
//        --repetition-penalty R --presence-penalty A --frequency-penalty F
//        --logit-bias ID:BIAS,... --banned-token-ids 1,2 --stop-token-ids 3,4
//        --min-tokens N --logprobs K --prompt-logprobs K --n N --priority P
//        --json-schema FILE | --json-object | --regex R | --choice a,b | --grammar FILE]
//       [--goodput ttft:500,tpot:50,e2el:5000] [--metrics-url http://HOST:9090/metrics]
//       [--output result.json] [--save-requests requests.jsonl]
// Exit status: 0 done, 1 bad usage or setup error, 2 the server's counters
// disagree with the client's (--metrics-url).

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/bench/channel.h"
#include "client/bench/grpc_backend.h"
#include "client/bench/load_driver.h"
#include "client/bench/openai_backend.h"
#include "client/bench/openai_models.h"
#include "client/bench/progress.h"
#include "client/bench/report.h"
#include "client/bench/run_stats.h"
#include "client/bench/server_view.h"
#include "client/bench/workload.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "cli/cli_flags.h"
#include "client/generation_flags.h"

// Connection (as llmserve-client)
ABSL_FLAG(std::string, address, "localhost:50051", "Server address, host:port.");
ABSL_FLAG(bool, tls, false, "Connect with TLS (system roots; implied by --tls-ca/--tls-cert).");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle that signed the server's certificate.");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate chain for mutual TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_server_name, "", "Name to verify the server's certificate against.");
ABSL_FLAG(std::string, auth_token, "", "Bearer token (prefer --auth-token-file).");
ABSL_FLAG(std::string, auth_token_file, "", "File holding the bearer token.");
ABSL_FLAG(int, connections, 1, "HTTP/2 connections to spread the calls over.");
// Backend (client/bench/generation_backend.h)
ABSL_FLAG(std::string, backend, "grpc",
          "grpc (llmserve.v1 API), openai-completions (POST /v1/completions) or openai-chat "
          "(POST /v1/chat/completions) of any OpenAI-compatible server.");
ABSL_FLAG(std::string, base_url, "",
          "HTTP backends: http://HOST:PORT[/prefix] (default: --address if it starts with "
          "http://).");
ABSL_FLAG(std::string, model, "",
          "HTTP backends: the requests' \"model\" (default: the first of GET /v1/models).");
ABSL_FLAG(int, vocab_size, 0,
          "HTTP backends: ids of the random/prefix workloads are < this (default: the "
          "server's /v1/models meta.n_vocab, as llama-server tells it).");
ABSL_FLAG(int, http_threads, 2, "HTTP backends: threads of the asynchronous client.");
// Load
ABSL_FLAG(int, concurrency, 0, "Closed loop: this many requests in flight (0: open loop).");
ABSL_FLAG(double, request_rate, std::numeric_limits<double>::infinity(),
          "Open loop: requests per second (inf: all at once).");
ABSL_FLAG(double, burstiness, 1.0,
          "Gamma shape of the inter-arrival gaps (1 = Poisson; < 1 burstier).");
ABSL_FLAG(int, num_requests, 0,
          "Measured requests per run point (0: 100, or no limit with --duration).");
ABSL_FLAG(double, duration, 0, "Stop sending after this many seconds (0: no limit).");
ABSL_FLAG(int, warmup, 0, "Requests sent before each run point, excluded from the figures.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the workload and the arrival process.");
ABSL_FLAG(std::vector<std::string>, sweep_rates, {},
          "Run one point per request rate, e.g. 1,2,4,inf.");
ABSL_FLAG(std::vector<std::string>, sweep_concurrency, {},
          "Run one point per concurrency, e.g. 1,2,4,8.");
ABSL_FLAG(bool, stream, true, "Use GenerateStream (token timing); false: unary Generate.");
ABSL_FLAG(double, timeout, 0, "Per-request deadline in seconds (0: none).");
// Mixed load (client/bench/request_mix.h): per-request choices drawn from the index and --seed.
ABSL_FLAG(double, cancel_fraction, 0,
          "Share of streamed requests the client cancels after --cancel-after-tokens tokens.");
ABSL_FLAG(int, cancel_after_tokens, 4,
          "Tokens (of all completions) a cancelled request receives before its cancel.");
ABSL_FLAG(double, timeout_fraction, 1,
          "Share of the requests not cancelled (--cancel-fraction) sent with --timeout.");
ABSL_FLAG(double, n_logprobs_fraction, 1,
          "Share of requests sent with --n, --logprobs and --prompt-logprobs (the rest: n 1, "
          "no logprobs).");
// Workload
ABSL_FLAG(std::string, workload, "random", "random, prefix or file.");
ABSL_FLAG(int, input_len, 128, "random/prefix: prompt (prefix: suffix) tokens.");
ABSL_FLAG(int, output_len, 128, "random/prefix: completion tokens.");
ABSL_FLAG(double, range_ratio, 0.0, "random: lengths uniform in len*(1±ratio).");
ABSL_FLAG(int, num_prefixes, 4, "prefix: shared prefixes.");
ABSL_FLAG(int, prefix_len, 256, "prefix: tokens per shared prefix.");
ABSL_FLAG(std::string, file, "", "file: JSONL ({\"prompt\",\"max_tokens\"}) or ShareGPT JSON.");
ABSL_FLAG(int, max_tokens, 128, "file: max_tokens of JSONL lines without one.");
// Sampling
ABSL_FLAG(bool, ignore_eos, true, "Generate exactly max_tokens (ignore end-of-sequence).");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt, "Sampling temperature (0 = greedy).");
ABSL_FLAG(int, top_k, 0, "Top-k sampling (0 = disabled).");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt, "Nucleus sampling, in (0, 1].");
ABSL_FLAG(std::optional<uint64_t>, sampling_seed, std::nullopt, "SamplingParams.seed.");
// The other generation options (--stop, --min-p, penalties, ids, logprobs, --n)
// are client/generation_flags.h's, shared with `llmserve-client generate`.
ABSL_FLAG(int, priority, 0, "GenerateRequest.priority of every request; lower is served first.");
// Metrics and output
ABSL_FLAG(std::string, goodput, "", "SLOs in ms, e.g. ttft:500,tpot:50,e2el:5000.");
ABSL_FLAG(std::string, metrics_url, "",
          "Server's Prometheus /metrics URL: scrape before/after and cross-check counts.");
ABSL_FLAG(std::string, output, "",
          "Result JSON: one object (one run point) or an array (a sweep).");
ABSL_FLAG(std::string, save_requests, "", "JSONL file with one line per measured request.");

/// The channels, never destroyed: gRPC 1.51 (Debian bookworm) can double-free
/// its callback completion queue while the last channel using it is torn down
/// (seen under ASan at exit, about one run in five). A global with external
/// linkage, so the store stays and leak checkers see the channels reachable.
std::vector<std::shared_ptr<grpc::Channel>>* llmserve_bench_kept_channels = nullptr;

namespace {

namespace v1 = llmserve::v1;
using namespace llmserve::bench;  // NOLINT

int Fail(const absl::Status& status) {
  absl::FPrintF(stderr, "llmserve-bench: %s\n", status.message());
  return 1;
}

/// Workloads are cycled beyond this many distinct requests (--duration runs).
constexpr int kMaxDistinctRequests = 100000;

/// One point of a sweep.
struct Point {
  int concurrency = 0;
  double rate = 0;
};

absl::StatusOr<std::vector<Point>> Points() {
  const std::vector<std::string> rates = absl::GetFlag(FLAGS_sweep_rates);
  const std::vector<std::string> concurrencies = absl::GetFlag(FLAGS_sweep_concurrency);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const double rate = absl::GetFlag(FLAGS_request_rate);
  if (!rates.empty() && !concurrencies.empty()) {
    return absl::InvalidArgumentError("give --sweep-rates or --sweep-concurrency, not both");
  }
  if (concurrency > 0 && !std::isinf(rate)) {
    return absl::InvalidArgumentError("give --concurrency or --request-rate, not both");
  }
  std::vector<Point> points;
  for (const std::string& s : rates) {
    double r = 0;
    if (!absl::SimpleAtod(s, &r) || !(r > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("--sweep-rates: bad rate \"", s, "\""));
    }
    points.push_back({0, r});
  }
  for (const std::string& s : concurrencies) {
    int c = 0;
    if (!absl::SimpleAtoi(s, &c) || c <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--sweep-concurrency: bad concurrency \"", s, "\""));
    }
    points.push_back({c, std::numeric_limits<double>::infinity()});
  }
  if (points.empty()) points.push_back({std::max(0, concurrency), rate});
  return points;
}

absl::StatusOr<std::vector<BenchRequest>> BuildWorkload(v1::Generation::Stub* stub,
                                                        const v1::ModelInfo& info,
                                                        const std::string& auth_token,
                                                        int count) {
  const std::string kind = absl::GetFlag(FLAGS_workload);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  std::vector<int> excluded = {info.bos_token_id(), info.eos_token_id()};
  absl::StatusOr<std::vector<BenchRequest>> workload;
  if (kind == "random") {
    RandomWorkloadOptions o;
    o.num_requests = count;
    o.input_len = absl::GetFlag(FLAGS_input_len);
    o.output_len = absl::GetFlag(FLAGS_output_len);
    o.range_ratio = absl::GetFlag(FLAGS_range_ratio);
    o.vocab_size = static_cast<int>(info.vocab_size());
    o.excluded_ids = excluded;
    o.seed = seed;
    workload = RandomWorkload(o);
  } else if (kind == "prefix") {
    PrefixWorkloadOptions o;
    o.num_prefixes = absl::GetFlag(FLAGS_num_prefixes);
    o.suffixes_per_prefix = std::max(1, (count + o.num_prefixes - 1) / std::max(1, o.num_prefixes));
    o.prefix_len = absl::GetFlag(FLAGS_prefix_len);
    o.suffix_len = absl::GetFlag(FLAGS_input_len);
    o.output_len = absl::GetFlag(FLAGS_output_len);
    o.vocab_size = static_cast<int>(info.vocab_size());
    o.excluded_ids = excluded;
    o.seed = seed;
    workload = PrefixWorkload(o);
  } else if (kind == "file") {
    const std::string path = absl::GetFlag(FLAGS_file);
    if (path.empty()) return absl::InvalidArgumentError("--workload=file needs --file");
    absl::StatusOr<std::string> contents = ReadWholeFile(path);
    if (!contents.ok()) return contents.status();
    if (LooksLikeShareGpt(*contents)) {
      if (stub == nullptr) {
        return absl::UnimplementedError(
            "ShareGPT files need --backend grpc (token counts by the server's Tokenize)");
      }
      TokenCounter count_tokens = [&](const std::string& text) -> absl::StatusOr<int> {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        if (!auth_token.empty()) context.AddMetadata("authorization", "Bearer " + auth_token);
        v1::TokenizeRequest request;
        request.set_text(text);
        request.set_add_bos(false);
        v1::TokenizeResponse response;
        const grpc::Status status = stub->Tokenize(&context, request, &response);
        if (!status.ok()) {
          return absl::UnavailableError(absl::StrCat("Tokenize: ", status.error_message()));
        }
        return response.token_ids_size();
      };
      workload = ParseShareGpt(*contents, count_tokens, count);
    } else {
      workload = ParseJsonl(*contents, absl::GetFlag(FLAGS_max_tokens));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--workload: \"", kind, "\" is not random, prefix or file"));
  }
  if (!workload.ok()) return workload.status();
  for (const BenchRequest& r : *workload) {
    if (!r.token_ids.empty() && info.max_context() > 0 &&
        r.token_ids.size() + static_cast<size_t>(r.max_tokens) > info.max_context()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a request needs ", r.token_ids.size(), " prompt + ", r.max_tokens,
          " completion tokens, more than the server's max_context ", info.max_context()));
    }
  }
  return workload;
}

/// The backend of --backend, connected: for gRPC the channels, the model's
/// info (GetModelInfo) and a stub (*stub); for the HTTP backends the model
/// (--model or GET /v1/models) and what the server tells of its vocabulary
/// and context (--vocab-size overrides), in *info (no BOS / EOS ids).
absl::StatusOr<std::unique_ptr<GenerationBackend>> ConnectBackend(
    const std::string& auth_token, v1::ModelInfo* info,
    std::unique_ptr<v1::Generation::Stub>* stub) {
  const std::string kind = absl::GetFlag(FLAGS_backend);
  const std::string address = absl::GetFlag(FLAGS_address);
  if (kind == "openai-completions" || kind == "openai-chat") {
    std::string url = absl::GetFlag(FLAGS_base_url);
    if (url.empty()) url = address;
    absl::StatusOr<BaseUrl> base_url = ParseBaseUrl(url);
    if (!base_url.ok()) return base_url.status();
    if (absl::GetFlag(FLAGS_tls) || !absl::GetFlag(FLAGS_tls_ca).empty() ||
        !absl::GetFlag(FLAGS_tls_cert).empty()) {
      return absl::UnimplementedError(
          "--tls / --tls-ca / --tls-cert: the HTTP backends have no TLS");
    }
    OpenAIBackendOptions options;
    options.api = kind == "openai-chat" ? OpenAIApi::kChat : OpenAIApi::kCompletions;
    options.base_url = *base_url;
    options.model = absl::GetFlag(FLAGS_model);
    options.threads = absl::GetFlag(FLAGS_http_threads);
    int vocab_size = absl::GetFlag(FLAGS_vocab_size);
    if (vocab_size < 0) return absl::InvalidArgumentError("--vocab-size must be >= 0");
    OpenAIModelInfo listed;
    if (options.model.empty() || vocab_size == 0) {
      absl::StatusOr<OpenAIModelInfo> fetched = FetchOpenAIModel(*base_url, auth_token);
      if (!fetched.ok()) return fetched.status();
      listed = *fetched;
    }
    if (options.model.empty()) options.model = listed.id;
    if (vocab_size == 0) vocab_size = listed.vocab_size;
    const std::string workload = absl::GetFlag(FLAGS_workload);
    if (vocab_size == 0 && (workload == "random" || workload == "prefix")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--workload ", workload,
          " needs --vocab-size: the server's /v1/models does not tell it"));
    }
    info->set_model_name(options.model);
    info->set_vocab_size(vocab_size);
    info->set_max_context(listed.max_context);
    info->set_bos_token_id(-1);
    info->set_eos_token_id(-1);
    absl::StatusOr<std::unique_ptr<OpenAIBackend>> backend = OpenAIBackend::Create(options);
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<GenerationBackend>(*std::move(backend));
  }
  if (kind != "grpc") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--backend: \"", kind, "\" is not grpc, openai-completions or openai-chat"));
  }
  ChannelOptions channel_options;
  channel_options.address = address;
  channel_options.tls = absl::GetFlag(FLAGS_tls);
  channel_options.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  channel_options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  channel_options.tls_key = absl::GetFlag(FLAGS_tls_key);
  channel_options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> channels =
      MakeChannels(channel_options, absl::GetFlag(FLAGS_connections));
  if (!channels.ok()) return channels.status();
  llmserve_bench_kept_channels = new std::vector<std::shared_ptr<grpc::Channel>>(*channels);
  *stub = v1::Generation::NewStub(channels->front());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!auth_token.empty()) context.AddMetadata("authorization", "Bearer " + auth_token);
  const grpc::Status status = (*stub)->GetModelInfo(&context, v1::GetModelInfoRequest(), info);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetModelInfo on ", address, ": ", status.error_message()));
  }
  return std::unique_ptr<GenerationBackend>(std::make_unique<GrpcBackend>(*channels));
}

/// Scrapes until the server's counters stop moving and agree with the
/// client's (its outcome counters may trail the last status by a moment).
std::vector<CrossCheckLine> SettledCrossCheck(const std::string& url, const ServerCounters& before,
                                              const RunStats& stats, std::string* error) {
  std::vector<CrossCheckLine> lines;
  for (int attempt = 0; attempt < 20; ++attempt) {
    absl::StatusOr<ServerCounters> after = ScrapeServerCounters(url);
    if (!after.ok()) {
      *error = std::string(after.status().message());
      return {};
    }
    lines = CrossCheck(stats, Delta(*after, before));
    if (AllAgree(lines)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  llmserve::cli::SetUsage(
      "llmserve-bench --address HOST:PORT [--concurrency N | --request-rate R] "
      "[--num-requests N] [--output result.json] ...",
      std::vector<std::string>{"client/bench/main.cc", "client/generation_flags.cc"});
  const std::vector<std::string> positional = llmserve::cli::ParseFlags(argc, argv);
  if (positional.size() != 1) {
    absl::FPrintF(stderr, "usage: %s\n", absl::ProgramUsageMessage());
    return 1;
  }
  absl::StatusOr<std::vector<Point>> points = Points();
  if (!points.ok()) return Fail(points.status());
  absl::StatusOr<GoodputSlo> slo = ParseGoodput(absl::GetFlag(FLAGS_goodput));
  if (!slo.ok()) return Fail(slo.status());
  if (absl::Status s = ValidateGoodputForCalls(*slo, absl::GetFlag(FLAGS_stream)); !s.ok()) {
    return Fail(s);
  }
  int num_requests = absl::GetFlag(FLAGS_num_requests);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  if (num_requests < 0) return Fail(absl::InvalidArgumentError("--num-requests must be >= 0"));
  if (num_requests == 0) num_requests = absl::GetFlag(FLAGS_duration) > 0 ? (1 << 30) : 100;
  if (warmup < 0) return Fail(absl::InvalidArgumentError("--warmup must be >= 0"));
  absl::StatusOr<std::string> auth_token =
      LoadAuthToken(absl::GetFlag(FLAGS_auth_token), absl::GetFlag(FLAGS_auth_token_file));
  if (!auth_token.ok()) return Fail(auth_token.status());

  v1::ModelInfo info;
  std::unique_ptr<v1::Generation::Stub> stub;  // gRPC only: ShareGPT token counts
  absl::StatusOr<std::unique_ptr<GenerationBackend>> backend =
      ConnectBackend(*auth_token, &info, &stub);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<std::vector<BenchRequest>> workload =
      BuildWorkload(stub.get(), info, *auth_token, std::min(num_requests, kMaxDistinctRequests) + warmup);
  if (!workload.ok()) return Fail(workload.status());

  LoadOptions base;
  base.stream = absl::GetFlag(FLAGS_stream);
  base.timeout_seconds = absl::GetFlag(FLAGS_timeout);
  base.auth_token = *auth_token;
  base.burstiness = absl::GetFlag(FLAGS_burstiness);
  base.seed = absl::GetFlag(FLAGS_seed);
  base.duration_seconds = absl::GetFlag(FLAGS_duration);
  base.mix.cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction);
  base.mix.cancel_after_tokens = absl::GetFlag(FLAGS_cancel_after_tokens);
  base.mix.timeout_fraction = absl::GetFlag(FLAGS_timeout_fraction);
  base.mix.n_logprobs_fraction = absl::GetFlag(FLAGS_n_logprobs_fraction);
  base.mix.seed = base.seed;
  if (absl::Status s = base.mix.Validate(base.stream); !s.ok()) return Fail(s);
  v1::SamplingParams& sampling = base.sampling;
  sampling.set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  if (auto t = absl::GetFlag(FLAGS_temperature)) sampling.set_temperature(*t);
  if (auto p = absl::GetFlag(FLAGS_top_p)) sampling.set_top_p(*p);
  if (auto s = absl::GetFlag(FLAGS_sampling_seed)) sampling.set_seed(*s);
  sampling.set_top_k(absl::GetFlag(FLAGS_top_k));
  if (absl::Status s = llmserve::client::ApplyGenerationFlags(&sampling); !s.ok()) return Fail(s);
  base.priority = absl::GetFlag(FLAGS_priority);
  const std::string run_id = absl::StrFormat("bench-%08x", std::random_device()());

  const std::string metrics_url = absl::GetFlag(FLAGS_metrics_url);
  std::ofstream save_requests;
  if (const std::string path = absl::GetFlag(FLAGS_save_requests); !path.empty()) {
    save_requests.open(path);
    if (!save_requests) return Fail(absl::NotFoundError(absl::StrCat("cannot write ", path)));
  }
  LoadDriver driver(*std::move(backend));
  nlohmann::json results = nlohmann::json::array();
  bool all_agree = true;
  for (size_t p = 0; p < points->size(); ++p) {
    const Point& point = (*points)[p];
    LoadOptions options = base;
    options.concurrency = point.concurrency;
    options.request_rate = point.rate;
    if (warmup > 0) {
      LoadOptions w = options;
      w.concurrency = point.concurrency > 0 ? point.concurrency : std::min(warmup, 4);
      w.num_requests = warmup;
      w.duration_seconds = 0;
      w.request_id_prefix = absl::StrCat(run_id, "-p", p, "-warmup-");
      absl::StatusOr<RunResult> warm = driver.Run(*workload, w);
      if (!warm.ok()) return Fail(warm.status());
      int failed = 0;
      for (const RequestRecord& r : warm->records) failed += r.ok() ? 0 : 1;
      if (failed > 0) absl::FPrintF(stderr, "llmserve-bench: %d warm-up requests failed\n", failed);
    }
    std::optional<ServerCounters> before;
    if (!metrics_url.empty()) {
      absl::StatusOr<ServerCounters> scraped = ScrapeServerCounters(metrics_url);
      if (!scraped.ok()) return Fail(scraped.status());
      before = *scraped;
    }
    options.num_requests = num_requests;
    options.first_workload_index = warmup;
    options.request_id_prefix = absl::StrCat(run_id, "-p", p, "-");
    absl::StatusOr<RunResult> run;
    {
      ProgressBar bar(stderr, [&driver, &options] {
        return ProgressSnapshot{driver.finished(),
                                options.duration_seconds > 0 ? 0 : options.num_requests,
                                driver.elapsed_seconds(), driver.output_tokens()};
      });
      run = driver.Run(*workload, options);
    }
    if (!run.ok()) return Fail(run.status());
    const RunStats stats = ComputeRunStats(run->records, run->duration_seconds, *slo);
    RunConfig config;
    config.backend = driver.backend().name();
    config.model_id = info.model_name();
    config.endpoint = driver.backend().endpoint(options.stream);
    config.dataset_name = absl::GetFlag(FLAGS_workload);
    config.num_prompts = static_cast<int>(run->records.size());
    config.request_rate = point.concurrency > 0 ? std::numeric_limits<double>::infinity() : point.rate;
    config.burstiness = options.burstiness;
    config.max_concurrency = point.concurrency;
    config.warmup_requests = warmup;
    config.seed = options.seed;
    config.goodput_spec = absl::GetFlag(FLAGS_goodput);
    absl::PrintF("%s", FormatSummary(config, stats));
    std::optional<std::vector<CrossCheckLine>> cross_check;
    if (before.has_value()) {
      std::string error;
      cross_check = SettledCrossCheck(metrics_url, *before, stats, &error);
      if (!error.empty()) return Fail(absl::UnavailableError(error));
      absl::PrintF("%s", FormatCrossCheck(*cross_check));
      all_agree = all_agree && AllAgree(*cross_check);
    }
    std::fflush(stdout);
    results.push_back(RunResultJson(config, stats, run->records, cross_check));
    if (save_requests.is_open()) {
      for (const RequestRecord& r : run->records) {
        nlohmann::json line = RequestJson(r);
        line["point"] = p;
        save_requests << line.dump() << "\n";
      }
    }
  }
  if (const std::string path = absl::GetFlag(FLAGS_output); !path.empty()) {
    std::ofstream out(path);
    out << (results.size() == 1 ? results[0] : results).dump(1) << "\n";
    if (!out) return Fail(absl::NotFoundError(absl::StrCat("cannot write ", path)));
  }
  if (!all_agree) {
    absl::FPrintF(stderr, "llmserve-bench: the server's counters disagree with the client's\n");
    return 2;
  }
  return 0;
}
