// llmserve: serves a decoder-only language model over gRPC (llmserve.v1.Generation
// and grpc.health.v1.Health). Flags may be spelled with dashes or underscores
// (--max-context / --max_context); see --help.

#include <pthread.h>
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"
#include "server/cli_flags.h"
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
ABSL_FLAG(int64_t, kv_cache_bytes, 0,
          "KV-cache budget in bytes (all layers, K and V); 0 = use --kv_cache_tokens.");
ABSL_FLAG(int64_t, kv_cache_tokens, 0,
          "KV-cache budget in tokens when --kv_cache_bytes is 0; 0 = enough for "
          "--max_num_seqs full-context sequences, capped at 2 GiB.");
ABSL_FLAG(int, max_num_seqs, 64, "Maximum sequences in one engine step.");
ABSL_FLAG(int, max_num_batched_tokens, 512,
          "Maximum tokens in one engine step's forward pass (prefill chunks + decodes).");
ABSL_FLAG(int, max_queued_requests, 256,
          "Requests waiting beyond this are refused with RESOURCE_EXHAUSTED; 0 = unbounded.");
ABSL_FLAG(bool, prefix_caching, true, "Reuse KV-cache blocks of identical prompt prefixes.");
ABSL_FLAG(int, max_receive_message_bytes, 4 * 1024 * 1024,
          "Largest gRPC request message accepted, in bytes.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGINT/SIGTERM, how long in-flight calls may still run before they are cancelled.");

namespace {

using llmserve::EngineOptions;
using llmserve::LLMEngine;
using llmserve::server::ServerApp;
using llmserve::server::ServerOptions;

EngineOptions EngineOptionsFromFlags() {
  EngineOptions o;
  o.model_path = absl::GetFlag(FLAGS_model);
  o.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  o.dtype = absl::GetFlag(FLAGS_dtype);
  o.num_threads = absl::GetFlag(FLAGS_threads);
  o.max_context = absl::GetFlag(FLAGS_max_context);
  o.block_size = absl::GetFlag(FLAGS_block_size);
  o.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_bytes);
  o.kv_cache_tokens = absl::GetFlag(FLAGS_kv_cache_tokens);
  o.max_num_seqs = absl::GetFlag(FLAGS_max_num_seqs);
  o.max_num_batched_tokens = absl::GetFlag(FLAGS_max_num_batched_tokens);
  o.max_queued_requests = absl::GetFlag(FLAGS_max_queued_requests);
  o.enable_prefix_caching = absl::GetFlag(FLAGS_prefix_caching);
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
                "llmserve: dtype %s, %d threads, max_context %d, KV cache %d blocks x %d tokens "
                "(%d tokens), max_num_seqs %d, max_num_batched_tokens %d, "
                "max_queued_requests %d, prefix caching %s\n",
                o.dtype, o.num_threads, o.max_context, stats.num_kv_blocks_total, o.block_size,
                static_cast<int64_t>(stats.num_kv_blocks_total) * o.block_size, o.max_num_seqs,
                o.max_num_batched_tokens, o.max_queued_requests,
                o.enable_prefix_caching ? "on" : "off");
}

}  // namespace

int main(int argc, char** argv) {
  llmserve::cli::SetUsage(
      "Serves a language model over gRPC.\n  llmserve --model=PATH [--listen=HOST:PORT] ...\n"
      "Flags may be spelled with dashes or underscores (--max-context, --max_context).",
      "server/main.cc");
  std::vector<std::string> args = llmserve::cli::UnderscoreFlagNames(argc, argv);
  std::vector<char*> arg_ptrs = llmserve::cli::ArgvPointers(args);
  absl::ParseCommandLine(static_cast<int>(args.size()), arg_ptrs.data());

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

  const EngineOptions engine_options = EngineOptionsFromFlags();
  absl::FPrintF(stderr, "llmserve: loading %s\n", engine_options.model_path);
  absl::StatusOr<std::unique_ptr<LLMEngine>> engine = LLMEngine::Create(engine_options);
  if (!engine.ok()) {
    absl::FPrintF(stderr, "llmserve: cannot start the engine: %s\n", engine.status().ToString());
    return 1;
  }
  LogEngine(**engine);

  ServerOptions server_options;
  server_options.listen_address = absl::GetFlag(FLAGS_listen);
  server_options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_receive_message_bytes);
  absl::StatusOr<std::unique_ptr<ServerApp>> app =
      ServerApp::Start(*std::move(engine), std::move(server_options));
  if (!app.ok()) {
    absl::FPrintF(stderr, "llmserve: cannot start the server: %s\n", app.status().ToString());
    return 1;
  }
  absl::FPrintF(stderr, "llmserve: warmed up; serving on %s\n", (*app)->address());

  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  std::thread signal_thread([&signals, server = app->get(), grace] {
    int sig = 0;
    sigwait(&signals, &sig);
    absl::FPrintF(stderr, "llmserve: %s received; shutting down (grace %s)\n",
                  sig == SIGINT ? "SIGINT" : "SIGTERM", absl::FormatDuration(grace));
    server->Shutdown(grace);
  });
  (*app)->Wait();
  signal_thread.join();
  app->reset();
  absl::FPrintF(stderr, "llmserve: stopped\n");
  return 0;
}
