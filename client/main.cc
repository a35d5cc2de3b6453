// llmserve-client: command-line client for an llmserve server.
//
//   llmserve-client generate --prompt "Once upon a time" [--stream] [--max-tokens N]
//       [--temperature T] [--top-k K] [--top-p P] [--seed S] [--stop a,b] [--ignore-eos]
//       [--prompt-token-ids 1,403,407] [--min-p P] [--repetition-penalty R]
//       [--presence-penalty A] [--frequency-penalty F] [--logit-bias ID:BIAS,...]
//       [--banned-token-ids 1,2] [--stop-token-ids 3,4] [--min-tokens N] [--logprobs K]
//       [--prompt-logprobs K] [--n N] [--priority P]
//       [--json-schema FILE | --json-object | --regex R | --choice a,b | --grammar FILE]
//   llmserve-client tokenize --text "hello" [--noadd-bos]
//   llmserve-client health [--service NAME]
//   llmserve-client info
// Common: --address HOST:PORT (default localhost:50051), --timeout SECONDS (deadline; 0 = none);
//   TLS: --tls (system roots) or --tls-ca CA.pem, [--tls-cert C.pem --tls-key K.pem] (mutual TLS),
//   [--tls-server-name NAME]; auth: --auth-token TOKEN or --auth-token-file FILE (sent as
//   "authorization: Bearer TOKEN" on every call).
// Flags may be spelled with dashes or underscores. Exit status: 0 on success,
// 1 on an RPC error (message on stderr) or bad usage, 2 if `health` is not SERVING.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "cli/cli_flags.h"
#include "client/generation_flags.h"

ABSL_FLAG(std::string, address, "localhost:50051", "Server address, host:port.");
ABSL_FLAG(double, timeout, 0, "Deadline of the call, in seconds; 0 = none.");
// TLS and auth (every command)
ABSL_FLAG(bool, tls, false,
          "Connect with TLS, verifying the server with the system's root CAs (implied by --tls-ca, "
          "--tls-cert).");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle that signed the server's certificate (implies --tls).");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate chain for mutual TLS (with --tls-key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to verify the server's certificate against instead of --address's host.");
ABSL_FLAG(std::string, auth_token, "",
          "Bearer token sent as 'authorization: Bearer TOKEN' (prefer --auth-token-file).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token (surrounding whitespace removed).");
// generate
ABSL_FLAG(std::string, prompt, "", "generate: prompt text (tokenized by the server, BOS added).");
ABSL_FLAG(std::vector<std::string>, prompt_token_ids, {},
          "generate: comma-separated prompt token ids, used instead of --prompt.");
ABSL_FLAG(std::string, request_id, "", "generate: request id; empty = assigned by the server.");
ABSL_FLAG(bool, stream, false, "generate: stream the completion as it is produced.");
ABSL_FLAG(std::optional<int>, max_tokens, std::nullopt,
          "generate: maximum completion tokens (server default 16).");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt,
          "generate: sampling temperature, 0 = greedy (server default 1.0).");
ABSL_FLAG(int, top_k, 0, "generate: top-k sampling, 0 = disabled.");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt,
          "generate: nucleus sampling in (0, 1] (server default 1.0 = disabled).");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt, "generate: random seed (default random).");
ABSL_FLAG(bool, ignore_eos, false, "generate: keep generating past end-of-sequence tokens.");
ABSL_FLAG(int, priority, 0, "generate: scheduling priority; lower is served first.");
// tokenize
ABSL_FLAG(std::string, text, "", "tokenize: the text.");
ABSL_FLAG(bool, add_bos, true, "tokenize: prepend the BOS token.");
// health
ABSL_FLAG(std::string, service, "", "health: service name (\"\" = the whole server).");

namespace {

namespace v1 = llmserve::v1;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

/// The bearer token from --auth-token / --auth-token-file (empty: none); set in main.
std::string auth_token;

/// Applies --timeout and the bearer token to a call.
void PrepareContext(grpc::ClientContext* context) {
  const double timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(timeout * 1e6)));
  }
  if (!auth_token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", auth_token));
}

/// A whole file; false (message on stderr) if unreadable.
bool ReadFile(const std::string& path, const char* flag, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    absl::FPrintF(stderr, "error: %s: cannot read %s\n", flag, path);
    return false;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  *out = contents.str();
  return true;
}

/// The channel to --address: plaintext, or TLS when any --tls* flag is given.
std::shared_ptr<grpc::Channel> MakeChannel() {
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const bool tls = absl::GetFlag(FLAGS_tls) || !ca.empty() || !cert.empty() || !key.empty();
  if (!tls) {
    return grpc::CreateChannel(absl::GetFlag(FLAGS_address), grpc::InsecureChannelCredentials());
  }
  if (cert.empty() != key.empty()) {
    absl::FPrintF(stderr, "error: --tls-cert and --tls-key must be given together\n");
    return nullptr;
  }
  grpc::SslCredentialsOptions ssl;
  if (!ca.empty() && !ReadFile(ca, "--tls-ca", &ssl.pem_root_certs)) return nullptr;
  if (!cert.empty() && (!ReadFile(cert, "--tls-cert", &ssl.pem_cert_chain) ||
                        !ReadFile(key, "--tls-key", &ssl.pem_private_key))) {
    return nullptr;
  }
  grpc::ChannelArguments args;
  if (const std::string name = absl::GetFlag(FLAGS_tls_server_name); !name.empty()) {
    args.SetSslTargetNameOverride(name);
  }
  return grpc::CreateCustomChannel(absl::GetFlag(FLAGS_address), grpc::SslCredentials(ssl), args);
}

/// Loads the bearer token into `auth_token`; false (message on stderr) on error.
bool LoadAuthToken() {
  auth_token = absl::GetFlag(FLAGS_auth_token);
  const std::string path = absl::GetFlag(FLAGS_auth_token_file);
  if (!path.empty()) {
    if (!auth_token.empty()) {
      absl::FPrintF(stderr, "error: give --auth-token or --auth-token-file, not both\n");
      return false;
    }
    if (!ReadFile(path, "--auth-token-file", &auth_token)) return false;
    absl::StripAsciiWhitespace(&auth_token);
    if (auth_token.empty()) {
      absl::FPrintF(stderr, "error: --auth-token-file: %s is empty\n", path);
      return false;
    }
  }
  return true;
}

/// Reports a failed call on stderr; returns the exit status 1.
int Fail(const grpc::Status& status) {
  absl::FPrintF(stderr, "error: %s: %s\n",
                absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                status.error_message());
  return 1;
}

/// "length", "stop", "eos", ... (the enum value's name without its prefix).
std::string FinishName(v1::FinishReason reason) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::FinishReason_Name(reason), "FINISH_REASON_"));
}

/// Builds the GenerateRequest from the flags; false (message on stderr) on bad ids.
bool BuildGenerateRequest(v1::GenerateRequest* request) {
  request->set_request_id(absl::GetFlag(FLAGS_request_id));
  const std::vector<std::string> ids = absl::GetFlag(FLAGS_prompt_token_ids);
  if (!ids.empty()) {
    for (const std::string& s : ids) {
      uint32_t id = 0;
      if (!absl::SimpleAtoi(s, &id)) {
        absl::FPrintF(stderr, "error: --prompt_token_ids: not a token id: \"%s\"\n", s);
        return false;
      }
      request->mutable_token_ids()->add_ids(id);
    }
  } else {
    request->set_text(absl::GetFlag(FLAGS_prompt));
  }
  v1::SamplingParams* p = request->mutable_sampling_params();
  if (auto v = absl::GetFlag(FLAGS_max_tokens)) p->set_max_tokens(*v);
  if (auto v = absl::GetFlag(FLAGS_temperature)) p->set_temperature(*v);
  if (auto v = absl::GetFlag(FLAGS_top_p)) p->set_top_p(*v);
  if (auto v = absl::GetFlag(FLAGS_seed)) p->set_seed(*v);
  p->set_top_k(absl::GetFlag(FLAGS_top_k));
  p->set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  if (absl::Status s = llmserve::client::ApplyGenerationFlags(p); !s.ok()) {
    absl::FPrintF(stderr, "error: %s\n", s.message());
    return false;
  }
  request->set_priority(absl::GetFlag(FLAGS_priority));
  return true;
}

/// One line per position: "<label> <id> \"piece\" logprob=L rank=R top: id \"piece\" L | ...".
void PrintLogprobs(const char* label,
                   const google::protobuf::RepeatedPtrField<v1::PositionLogprobs>& positions) {
  for (const v1::PositionLogprobs& pos : positions) {
    std::vector<std::string> top;
    for (const v1::TokenLogprob& t : pos.top()) {
      top.push_back(absl::StrFormat("%d \"%s\" %.6f", t.token_id(), absl::CHexEscape(t.piece()),
                                    t.logprob()));
    }
    absl::PrintF("%s %d \"%s\" logprob=%.6f rank=%d top: %s\n", label, pos.token().token_id(),
                 absl::CHexEscape(pos.token().piece()), pos.token().logprob(), pos.rank(),
                 absl::StrJoin(top, " | "));
  }
}

/// The stderr summary of a finished generation.
void PrintSummary(const std::string& request_id, v1::FinishReason finish, const v1::Usage& usage,
                  const v1::Timing& timing, double wall_seconds, double client_ttft_seconds) {
  const double total = timing.total_seconds();
  absl::FPrintF(stderr,
                "[%s] prompt_tokens=%d completion_tokens=%d cached_prompt_tokens=%d finish=%s "
                "ttft=%.4fs total=%.4fs tokens/s=%.1f wall=%.4fs",
                request_id, usage.prompt_tokens(), usage.completion_tokens(),
                usage.cached_prompt_tokens(), FinishName(finish),
                timing.time_to_first_token_seconds(), total,
                total > 0 ? usage.completion_tokens() / total : 0.0, wall_seconds);
  if (client_ttft_seconds >= 0) absl::FPrintF(stderr, " client_ttft=%.4fs", client_ttft_seconds);
  absl::FPrintF(stderr, "\n");
}

int Generate(const std::shared_ptr<grpc::Channel>& channel) {
  v1::GenerateRequest request;
  if (!BuildGenerateRequest(&request)) return 1;
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(&context);
  const absl::Time start = absl::Now();
  if (!absl::GetFlag(FLAGS_stream)) {
    v1::GenerateResponse response;
    grpc::Status status = stub->Generate(&context, request, &response);
    if (!status.ok()) return Fail(status);
    PrintLogprobs("prompt_logprob", response.prompt_logprobs());
    if (response.completions_size() > 1) {
      for (const v1::Completion& c : response.completions()) {
        absl::PrintF("--- completion %d (%s) ---\n%s\n", c.index(), FinishName(c.finish_reason()),
                     c.text());
        PrintLogprobs("logprob", c.logprobs());
      }
    } else {
      absl::PrintF("%s\n", response.text());
      PrintLogprobs("logprob", response.logprobs());
    }
    PrintSummary(response.request_id(), response.finish_reason(), response.usage(),
                 response.timing(), absl::ToDoubleSeconds(absl::Now() - start), -1);
    return 0;
  }
  std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader =
      stub->GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  v1::GenerateStreamResponse last;
  double client_ttft = -1;
  // With n > 1 the completions' messages interleave: print each one whole at
  // the end. With n = 1 text is printed as it arrives; logprobs at the end.
  const bool several = request.sampling_params().n() > 1;
  std::vector<v1::Completion> completions;
  google::protobuf::RepeatedPtrField<v1::PositionLogprobs> prompt_logprobs;
  while (reader->Read(&message)) {
    if (client_ttft < 0 && message.token_ids_size() > 0) {
      client_ttft = absl::ToDoubleSeconds(absl::Now() - start);
    }
    if (completions.size() <= message.index()) completions.resize(message.index() + 1);
    v1::Completion& c = completions[message.index()];
    c.set_index(message.index());
    c.mutable_text()->append(message.text());
    c.mutable_logprobs()->MergeFrom(message.logprobs());
    if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      c.set_finish_reason(message.finish_reason());
    }
    prompt_logprobs.MergeFrom(message.prompt_logprobs());
    if (!several) {
      std::fwrite(message.text().data(), 1, message.text().size(), stdout);
      std::fflush(stdout);
    }
    last = message;
  }
  grpc::Status status = reader->Finish();
  if (!several) std::fputc('\n', stdout);
  if (!status.ok()) return Fail(status);
  PrintLogprobs("prompt_logprob", prompt_logprobs);
  for (const v1::Completion& c : completions) {
    if (several) {
      absl::PrintF("--- completion %d (%s) ---\n%s\n", c.index(), FinishName(c.finish_reason()),
                   c.text());
    }
    PrintLogprobs("logprob", c.logprobs());
  }
  PrintSummary(last.request_id(), last.finish_reason(), last.usage(), last.timing(),
               absl::ToDoubleSeconds(absl::Now() - start), client_ttft);
  return 0;
}

int Tokenize(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::TokenizeRequest request;
  request.set_text(absl::GetFlag(FLAGS_text));
  request.set_add_bos(absl::GetFlag(FLAGS_add_bos));
  v1::TokenizeResponse response;
  grpc::Status status = stub->Tokenize(&context, request, &response);
  if (!status.ok()) return Fail(status);
  std::vector<std::string> pieces;
  for (const std::string& piece : response.pieces()) {
    pieces.push_back(absl::StrCat("\"", absl::CHexEscape(piece), "\""));
  }
  absl::PrintF("%s\n%s\n", absl::StrJoin(response.token_ids(), " "), absl::StrJoin(pieces, " "));
  return 0;
}

int Info(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::ModelInfo info;
  grpc::Status status = stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return Fail(status);
  std::string text;
  google::protobuf::TextFormat::PrintToString(info, &text);
  absl::PrintF("%s", text);
  return 0;
}

int HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(&context);
  HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return Fail(status);
  absl::PrintF("%s\n", HealthCheckResponse::ServingStatus_Name(response.status()));
  return response.status() == HealthCheckResponse::SERVING ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  llmserve::cli::SetUsage(
      "llmserve-client {generate|tokenize|health|info} [--address HOST:PORT] [--timeout S]\n"
      "  [--tls | --tls-ca CA.pem] [--tls-cert C.pem --tls-key K.pem] [--tls-server-name NAME]\n"
      "  [--auth-token-file FILE | --auth-token TOKEN] ...",
      std::vector<std::string>{"client/main.cc", "client/generation_flags.cc"});
  const std::vector<std::string> positional = llmserve::cli::ParseFlags(argc, argv);
  if (positional.size() != 2) {
    absl::FPrintF(stderr, "usage: %s\n", absl::ProgramUsageMessage());
    return 1;
  }
  const std::string command = positional[1];
  if (!LoadAuthToken()) return 1;
  std::shared_ptr<grpc::Channel> channel = MakeChannel();
  if (channel == nullptr) return 1;
  if (command == "generate") return Generate(channel);
  if (command == "tokenize") return Tokenize(channel);
  if (command == "health") return HealthCheck(channel);
  if (command == "info") return Info(channel);
  absl::FPrintF(stderr, "unknown command \"%s\"\nusage: %s\n", command,
                absl::ProgramUsageMessage());
  return 1;
}
