// llmserve-bench-fake-server: a llmserve.v1.Generation server that generates
// nothing (FakeGenerationServer), answering every call with max_tokens tokens
// after injected delays or at once; for measuring llmserve-bench's own ceiling.
// With --openai, the OpenAI-compatible HTTP fake (FakeOpenAIServer) instead,
// on a free port of 127.0.0.1.
//
//   llmserve-bench-fake-server [--listen 127.0.0.1:0 | --openai] [--ttft-ms 0] [--itl-ms 0]
// Prints "fake server on HOST:PORT" (--openai: on http://127.0.0.1:PORT) and
// serves until killed.

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "client/bench/fake_generation_server.h"
#include "client/bench/fake_openai_server.h"
#include "cli/cli_flags.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to listen on (port 0: a free one).");
ABSL_FLAG(double, ttft_ms, 0, "Injected time to first token, ms.");
ABSL_FLAG(double, itl_ms, 0, "Injected gap between tokens, ms.");
ABSL_FLAG(int, vocab_size, 32000, "ModelInfo.vocab_size (--openai: /v1/models meta.n_vocab).");
ABSL_FLAG(bool, openai, false, "Serve the OpenAI-compatible HTTP API instead of gRPC.");

int main(int argc, char** argv) {
  llmserve::cli::ParseFlags(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (absl::GetFlag(FLAGS_openai)) {
    llmserve::bench::FakeOpenAIServerOptions options;
    options.ttft_seconds = absl::GetFlag(FLAGS_ttft_ms) / 1e3;
    options.itl_seconds = absl::GetFlag(FLAGS_itl_ms) / 1e3;
    options.vocab_size = absl::GetFlag(FLAGS_vocab_size);
    auto server = llmserve::bench::FakeOpenAIServer::Start(options);
    if (!server.ok()) {
      absl::FPrintF(stderr, "%s\n", server.status().message());
      return 1;
    }
    absl::PrintF("fake server on %s\n", (*server)->base_url());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    return 0;
  }
  llmserve::bench::FakeServerOptions options;
  options.ttft_seconds = absl::GetFlag(FLAGS_ttft_ms) / 1e3;
  options.itl_seconds = absl::GetFlag(FLAGS_itl_ms) / 1e3;
  options.vocab_size = absl::GetFlag(FLAGS_vocab_size);
  auto server = llmserve::bench::FakeGenerationServer::Start(options, absl::GetFlag(FLAGS_listen));
  if (!server.ok()) {
    absl::FPrintF(stderr, "%s\n", server.status().message());
    return 1;
  }
  absl::PrintF("fake server on %s\n", (*server)->address());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  return 0;
}
