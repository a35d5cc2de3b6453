#ifndef LLMSERVE_CLIENT_BENCH_REQUEST_RECORD_H_
#define LLMSERVE_CLIENT_BENCH_REQUEST_RECORD_H_

#include <string>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

namespace llmserve::bench {

/// What the client observed of one request. Times are in seconds, measured
/// with a monotonic clock on the client.
struct RequestRecord {
  /// Index in the run (0-based, in send order).
  int index = 0;
  /// Send time, from the start of the run.
  double start_seconds = 0;
  /// Send → first completion token received (streaming), or → the response
  /// (unary: the first token arrives with the last). -1 if no token arrived.
  /// With n > 1 completions: the first token of any completion.
  double ttft_seconds = -1;
  /// Gaps between consecutive stream messages carrying tokens (one per
  /// message, as `vllm bench serve` records chunks); empty for unary calls.
  /// With n > 1: over the messages of all completions in arrival order (the
  /// request's token stream as the client receives it).
  std::vector<double> itl_seconds;
  /// Send → call finished (status received).
  double e2e_seconds = 0;
  /// Prompt tokens (Usage.prompt_tokens of the final message; 0 if none).
  int prompt_tokens = 0;
  /// Completion tokens received (token ids counted by the client), summed
  /// over all n completions (as the server's Usage.completion_tokens and its
  /// generation-token counter).
  int output_tokens = 0;
  /// Usage.cached_prompt_tokens (prefix-cache reuse).
  int cached_prompt_tokens = 0;
  /// The call's final status.
  grpc::StatusCode status = grpc::StatusCode::OK;
  /// The status message when not OK.
  std::string error;
  /// HTTP backends: the response's HTTP status (0: none received, or gRPC).
  /// A non-2xx status is a failure with CodeForHttpStatus's code
  /// (client/bench/openai_protocol.h) and error "HTTP <status>: <message>".
  int http_status = 0;
  /// "length", "stop" or "eos" for a successful call (completion 0's when n > 1).
  std::string finish_reason;
  /// The server's own Timing (seconds; 0 when absent).
  double server_queue_seconds = 0;
  double server_ttft_seconds = 0;
  double server_e2e_seconds = 0;  ///< Timing.total_seconds (engine arrival → finished)
  /// Unary call (no token timing).
  bool unary = false;
  /// Prompt tokens sent (token-id prompts); -1 for a text prompt (its
  /// length is the server's tokenizer's business).
  int sent_prompt_tokens = -1;
  /// The most completion tokens the server may generate for the call:
  /// max_tokens × n.
  int max_output_tokens = 0;
  /// The call was sent with a deadline (LoadOptions::timeout_seconds, chosen
  /// for it by LoadOptions::mix): DEADLINE_EXCEEDED is then an expected end.
  bool had_deadline = false;
  /// The client cancelled the call mid-stream (RequestMix): its status is
  /// CANCELLED, or OK when the server had finished before the cancel.
  bool client_cancelled = false;

  bool ok() const { return status == grpc::StatusCode::OK; }
  /// (e2e − TTFT) / (output tokens − 1), in seconds; -1 when undefined
  /// (failed, unary, or fewer than 2 output tokens). With n > 1 the tokens of
  /// all completions count, so this is the mean gap of the request's token
  /// stream (≈ the mean ITL), not the time per token of one completion.
  double TpotSeconds() const {
    if (!ok() || unary || output_tokens < 2 || ttft_seconds < 0) return -1;
    return (e2e_seconds - ttft_seconds) / (output_tokens - 1);
  }
};

/// The gRPC code's canonical name, e.g. "RESOURCE_EXHAUSTED".
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_REQUEST_RECORD_H_
