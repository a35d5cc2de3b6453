// llmserve: serves a decoder-only language model over gRPC (llmserve.v1.Generation
// and grpc.health.v1.Health). Flags may be spelled with dashes or underscores
// (--max-context / --max_context); see --help.

#include <pthread.h>
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/common/openmp_wait.h"
#include "engine/llm_engine.h"
#include "cli/cli_flags.h"
#include "server/metrics.h"
#include "server/server_app.h"

ABSL_FLAG(std::string, model, "models/stories260K/stories260K.bin",
          "Model: a llama2.c checkpoint file or a Hugging Face model directory "
          "(config.json + *.safetensors).");
ABSL_FLAG(std::string, tokenizer, "",
          "Tokenizer file (tokenizer.bin, tokenizer.json, vocab.json); empty: found "
          "beside the model.");
ABSL_FLAG(std::string, listen, "localhost:50051",
          "host:port to listen on (use 0.0.0.0:50051 in containers; port 0 = any free port).");
ABSL_FLAG(int, threads, 0, "Compute threads for the forward pass; 0 = all cores.");
ABSL_FLAG(int, max_context, 0,
          "Maximum tokens per sequence (prompt + completion); 0 = the model's maximum.");
ABSL_FLAG(std::string, dtype, "f32", "Weight dtype in memory: f32 or bf16.");
ABSL_FLAG(int, block_size, 16, "Tokens per KV-cache block.");
ABSL_FLAG(std::string, kv_cache_dtype, "", "KV-cache dtype: f32 or bf16; empty = bf16 with --dtype bf16.");
ABSL_FLAG(std::string, quantization, "",
          "Quantize an f32/bf16 checkpoint's linear layers at load: q8_0 or q4_0 (llama.cpp's "
          "block formats); empty: no.");
ABSL_FLAG(bool, print_kernels, false, "Print the kernel each layer kind runs, then exit.");
ABSL_FLAG(int64_t, kv_cache_bytes, 0,
          "KV-cache budget in bytes (all layers, K and V); 0 = use --kv_cache_tokens.");
ABSL_FLAG(int64_t, kv_cache_tokens, 0,
          "KV-cache budget in tokens when --kv_cache_bytes is 0; 0 = enough for "
          "--max_num_seqs full-context sequences, capped at 2 GiB.");
ABSL_FLAG(int, max_num_seqs, 64, "Maximum sequences in one engine step.");
ABSL_FLAG(int, max_num_batched_tokens, 512,
          "Maximum tokens in one engine step's forward pass (prefill chunks + decodes).");
ABSL_FLAG(int, max_queued_requests, 256,
          "Requests waiting beyond this are refused at once with RESOURCE_EXHAUSTED (>= 1).");
ABSL_FLAG(int, max_prompt_tokens, 0,
          "Longest accepted prompt in tokens (INVALID_ARGUMENT beyond); 0 = the maximum context.");
ABSL_FLAG(bool, prefix_caching, true, "Reuse KV-cache blocks of identical prompt prefixes.");
ABSL_FLAG(int, max_logprobs, 20,
          "Largest sampling_params.logprobs / prompt_logprobs a request may ask for "
          "(INVALID_ARGUMENT above).");
ABSL_FLAG(int, max_n, 16,
          "Largest sampling_params.n (completions per request) a request may ask for.");
ABSL_FLAG(int, max_receive_message_bytes, 4 * 1024 * 1024,
          "Largest gRPC request message accepted, in bytes (RESOURCE_EXHAUSTED beyond).");
ABSL_FLAG(std::string, metrics_address, ":9090",
          "host:port of the Prometheus exporter (plain HTTP, /metrics, no auth); empty = none; "
          "no host (the default, :9090) = the host of --listen, so a server bound to localhost "
          "does not export its metrics to the network.");
ABSL_FLAG(std::string, http_listen, "",
          "host:port of the OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
          "/v1/models, /health; docs/http-api.md), beside gRPC; e.g. localhost:8000; port 0 = "
          "any free port; empty = no HTTP API.");
ABSL_FLAG(int64_t, max_request_bytes, 4 * 1024 * 1024,
          "Largest HTTP request (body) accepted, in bytes (413 beyond).");
ABSL_FLAG(int, http_threads, 2,
          "Threads serving every HTTP connection (asynchronous I/O: no thread per connection).");
ABSL_FLAG(int, http_request_timeout, 30,
          "Seconds an HTTP request (headers and body) may take to arrive, also the keep-alive "
          "idle time; slower clients are disconnected.");
ABSL_FLAG(std::string, chat_template, "",
          "File holding a Jinja chat template for /v1/chat/completions, replacing the model's own "
          "(GGUF tokenizer.chat_template); empty = the model's.");
ABSL_FLAG(int, drain_timeout, 30,
          "On SIGINT/SIGTERM: health turns NOT_SERVING and the server stops listening and sends "
          "GOAWAY at once (balancers send new requests elsewhere); requests in flight may finish "
          "for this many seconds, then are cancelled (UNAVAILABLE).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "After the drain, how long cancelled calls get to send their status before the gRPC "
          "server closes them (e.g. 5s, 500ms).");
ABSL_FLAG(int, watchdog_timeout, 60,
          "Health reports NOT_SERVING while the engine has had work pending without progress for "
          "this many seconds (SERVING again once it progresses); 0 = no watchdog.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token: every RPC but health and reflection then needs the "
          "metadata 'authorization: Bearer <token>' (UNAUTHENTICATED otherwise).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve TLS on --listen (with --tls-key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require client certificates signed by it (mutual TLS).");

namespace {

using llmserve::EngineOptions;
using llmserve::LLMEngine;
using llmserve::server::Metrics;
using llmserve::server::ServerApp;
using llmserve::server::ServerOptions;

EngineOptions EngineOptionsFromFlags() {
  EngineOptions o;
  o.model_path = absl::GetFlag(FLAGS_model);
  o.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  o.dtype = absl::GetFlag(FLAGS_dtype);
  o.quantization = absl::GetFlag(FLAGS_quantization);
  o.num_threads = absl::GetFlag(FLAGS_threads);
  o.max_context = absl::GetFlag(FLAGS_max_context);
  o.block_size = absl::GetFlag(FLAGS_block_size);
  o.kv_cache_dtype = absl::GetFlag(FLAGS_kv_cache_dtype);
  o.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_bytes);
  o.kv_cache_tokens = absl::GetFlag(FLAGS_kv_cache_tokens);
  o.max_num_seqs = absl::GetFlag(FLAGS_max_num_seqs);
  o.max_num_batched_tokens = absl::GetFlag(FLAGS_max_num_batched_tokens);
  o.max_queued_requests = absl::GetFlag(FLAGS_max_queued_requests);
  o.enable_prefix_caching = absl::GetFlag(FLAGS_prefix_caching);
  o.max_logprobs = absl::GetFlag(FLAGS_max_logprobs);
  o.max_n = absl::GetFlag(FLAGS_max_n);
  return o;
}

/// Server flag values the engine does not check itself.
absl::Status CheckServerFlags() {
  if (absl::GetFlag(FLAGS_max_queued_requests) < 1) {
    return absl::InvalidArgumentError("--max-queued-requests must be >= 1 (the queue is bounded)");
  }
  if (absl::GetFlag(FLAGS_max_prompt_tokens) < 0) {
    return absl::InvalidArgumentError("--max-prompt-tokens must be >= 0");
  }
  if (absl::GetFlag(FLAGS_max_receive_message_bytes) < 1) {
    return absl::InvalidArgumentError("--max-receive-message-bytes must be >= 1");
  }
  if (absl::GetFlag(FLAGS_max_request_bytes) < 1 || absl::GetFlag(FLAGS_http_threads) < 1 ||
      absl::GetFlag(FLAGS_http_request_timeout) < 1) {
    return absl::InvalidArgumentError(
        "--max-request-bytes, --http-threads and --http-request-timeout must be >= 1");
  }
  if (absl::GetFlag(FLAGS_drain_timeout) < 0 || absl::GetFlag(FLAGS_watchdog_timeout) < 0) {
    return absl::InvalidArgumentError("--drain-timeout and --watchdog-timeout must be >= 0");
  }
  return absl::OkStatus();
}

/// --metrics-address with its host defaulted to --listen's (":9090" →
/// "localhost:9090" under the default --listen).
std::string MetricsAddress() {
  std::string address = absl::GetFlag(FLAGS_metrics_address);
  if (address.empty() || address[0] != ':') return address;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host.empty() || absl::StartsWith(listen, "unix:")) host = "localhost";
  return host + address;
}

/// --chat-template's contents ("" without the flag).
absl::StatusOr<std::string> ChatTemplateSource() {
  const std::string path = absl::GetFlag(FLAGS_chat_template);
  if (path.empty()) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--chat-template: cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (contents.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--chat-template: ", path, " is empty"));
  }
  return contents.str();
}

ServerOptions ServerOptionsFromFlags() {
  ServerOptions o;
  o.listen_address = absl::GetFlag(FLAGS_listen);
  o.max_receive_message_bytes = absl::GetFlag(FLAGS_max_receive_message_bytes);
  o.metrics_address = MetricsAddress();
  o.http.listen_address = absl::GetFlag(FLAGS_http_listen);
  o.http.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  o.http.num_threads = absl::GetFlag(FLAGS_http_threads);
  o.http.request_timeout = absl::Seconds(absl::GetFlag(FLAGS_http_request_timeout));
  o.drain_timeout = absl::Seconds(absl::GetFlag(FLAGS_drain_timeout));
  o.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  o.watchdog_timeout = absl::Seconds(absl::GetFlag(FLAGS_watchdog_timeout));
  o.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  o.service.max_prompt_tokens = absl::GetFlag(FLAGS_max_prompt_tokens);
  return o;
}

void LogEngine(const LLMEngine& engine) {
  const llmserve::ModelConfig& m = engine.model_config();
  const EngineOptions& o = engine.options();
  const llmserve::EngineStats stats = engine.GetStats();
  absl::FPrintF(stderr,
                "llmserve: model %s (%s) from %s: %d layers, hidden %d, %d heads (%d kv), "
                "vocab %d, context %d\n",
                m.name, m.architecture, o.model_path, m.num_layers, m.hidden_size, m.num_heads,
                m.num_kv_heads, m.vocab_size, m.max_context);
  absl::FPrintF(stderr,
                "llmserve: dtype %s%s%s, %d threads, max_context %d, KV cache %d blocks x %d tokens "
                "(%d tokens), max_num_seqs %d, max_num_batched_tokens %d, "
                "max_queued_requests %d, prefix caching %s\n",
                o.dtype, o.quantization.empty() ? "" : ", quantization ", o.quantization,
                o.num_threads, o.max_context, stats.num_kv_blocks_total, o.block_size,
                static_cast<int64_t>(stats.num_kv_blocks_total) * o.block_size, o.max_num_seqs,
                o.max_num_batched_tokens, o.max_queued_requests,
                o.enable_prefix_caching ? "on" : "off");
}

/// The process's resident set and its peak so far, in MiB, from /proc/self/status
/// (VmRSS, VmHWM); "?" where the file or field is missing.
std::string ResidentSizeDescription() {
  std::ifstream status("/proc/self/status");
  std::string line, rss = "?", hwm = "?";
  while (std::getline(status, line)) {
    long kb = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kb) == 1) rss = absl::StrFormat("%.1f", kb / 1024.0);
    if (std::sscanf(line.c_str(), "VmHWM: %ld kB", &kb) == 1) hwm = absl::StrFormat("%.1f", kb / 1024.0);
  }
  return absl::StrFormat("resident %s MiB (peak %s MiB)", rss, hwm);
}

}  // namespace

int main(int argc, char** argv) {
  // First, before any thread: libgomp reads its spin count once, at load
  // (engine/common/openmp_wait.h); a failed re-exec only costs speed.
  if (absl::Status s = llmserve::ReexecWithBoundedOpenMpWait(argv); !s.ok()) {
    absl::FPrintF(stderr, "llmserve: warning: %s\n", s.message());
  }
  llmserve::cli::SetUsage(
      "Serves a language model over gRPC.\n  llmserve --model=PATH [--listen=HOST:PORT] ...\n"
      "Flags may be spelled with dashes or underscores (--max-context, --max_context).",
      "server/main.cc");
  llmserve::cli::ParseFlags(argc, argv);

  // SIGINT/SIGTERM are handled by a dedicated thread (sigwait); block them
  // before any other thread starts so that every thread inherits the mask.
  // Reset their disposition first: a shell starts background jobs with SIGINT
  // ignored, and an ignored signal is discarded instead of left pending.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (absl::Status s = CheckServerFlags(); !s.ok()) {
    absl::FPrintF(stderr, "llmserve: %s\n", s.message());
    return 1;
  }
  absl::StatusOr<std::string> chat_template = ChatTemplateSource();
  if (!chat_template.ok()) {
    absl::FPrintF(stderr, "llmserve: %s\n", chat_template.status().message());
    return 1;
  }
  const EngineOptions engine_options = EngineOptionsFromFlags();
  absl::FPrintF(stderr, "llmserve: loading %s\n", engine_options.model_path);
  // The engine reports to the metrics from its own thread; they outlive it.
  auto metrics = std::make_shared<Metrics>();
  const absl::Time load_start = absl::Now();
  absl::StatusOr<std::unique_ptr<LLMEngine>> engine =
      LLMEngine::Create(engine_options, metrics.get());
  const absl::Duration load_time = absl::Now() - load_start;
  if (!engine.ok()) {
    absl::FPrintF(stderr, "llmserve: cannot start the engine: %s\n", engine.status().ToString());
    return 1;
  }
  LogEngine(**engine);
  // Load time covers reading (or mapping) the checkpoint, packing the weights
  // and allocating the KV cache; the resident size includes the KV cache.
  absl::FPrintF(stderr, "llmserve: loaded in %.2f s, %s\n", absl::ToDoubleSeconds(load_time),
                ResidentSizeDescription());
  const bool print_kernels = absl::GetFlag(FLAGS_print_kernels);
  for (const std::string& k : (*engine)->kernel_names()) {
    absl::FPrintF(print_kernels ? stdout : stderr, "llmserve: kernel %s\n", k);
  }
  if (print_kernels) return 0;

  ServerOptions server_options = ServerOptionsFromFlags();
  server_options.http.chat_template_source = *std::move(chat_template);
  absl::StatusOr<std::unique_ptr<ServerApp>> app =
      ServerApp::Start(*std::move(engine), std::move(server_options), metrics);
  if (!app.ok()) {
    absl::FPrintF(stderr, "llmserve: cannot start the server: %s\n", app.status().ToString());
    return 1;
  }
  absl::FPrintF(stderr, "llmserve: warmed up; serving on %s (%s)%s\n", (*app)->address(),
                absl::GetFlag(FLAGS_tls_cert).empty()             ? "plaintext"
                : absl::GetFlag(FLAGS_tls_client_ca).empty() ? "TLS"
                                                                   : "mutual TLS",
                absl::GetFlag(FLAGS_auth_token_file).empty() ? "" : ", bearer-token auth");
  if (!(*app)->http_address().empty()) {
    absl::FPrintF(stderr, "llmserve: OpenAI-compatible HTTP API on http://%s/v1\n",
                  (*app)->http_address());
  }
  if (!(*app)->metrics_address().empty()) {
    absl::FPrintF(stderr, "llmserve: metrics on http://%s/metrics\n", (*app)->metrics_address());
  }

  std::thread signal_thread([&signals, server = app->get()] {
    int sig = 0;
    sigwait(&signals, &sig);
    absl::FPrintF(stderr,
                  "llmserve: %s received; draining (health NOT_SERVING, listener closed, GOAWAY, "
                  "up to %d s for requests in flight)\n",
                  sig == SIGINT ? "SIGINT" : "SIGTERM", absl::GetFlag(FLAGS_drain_timeout));
    server->Shutdown();
  });
  (*app)->Wait();
  signal_thread.join();
  // The exporter (destroyed last) serves /metrics until here.
  app->reset();
  absl::FPrintF(stderr, "llmserve: stopped\n");
  return 0;
}
