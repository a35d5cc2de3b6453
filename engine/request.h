#ifndef LLMSERVE_ENGINE_REQUEST_H_
#define LLMSERVE_ENGINE_REQUEST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampling_params.h"

namespace llmserve {

/// Why a request stopped generating.
enum class FinishReason {
  kNone,       ///< still running
  kLength,     ///< max_tokens reached (or the context is full)
  kStop,       ///< a stop string matched
  kEos,        ///< an EOS token was generated
  kCancelled,  ///< aborted: client cancel, deadline, drain
  kError,      ///< failed inside the engine; see RequestOutput::status
};

/// "length", "stop", "eos", "cancelled", "error" ("" for kNone).
const char* FinishReasonName(FinishReason r);

/// A generation request as the engine takes it (already tokenized).
struct EngineRequest {
  std::string request_id;                ///< unique among in-flight requests
  std::vector<int32_t> prompt_token_ids; ///< non-empty, each < vocab size
  SamplingParams sampling;
  /// Scheduling priority: lower is served first; ties in arrival order. The
  /// lowest-priority (largest value) running sequence is preempted first.
  int priority = 0;
};

/// Per-request latencies, in seconds, measured by the engine.
struct RequestTiming {
  double queue_seconds = 0;          ///< arrival → first scheduled
  double time_to_first_token_seconds = 0;  ///< arrival → first token sampled
  double prefill_seconds = 0;        ///< first scheduled → first token
  double decode_seconds = 0;         ///< first token → finish
  double total_seconds = 0;          ///< arrival → finish
};

/// An incremental result delivered to the request's OutputCallback. Outputs of
/// one request arrive in order; exactly one has finished == true, and it is the last.
struct RequestOutput {
  std::string request_id;
  std::vector<int32_t> token_ids;  ///< tokens generated since the previous output
  std::string text;                ///< text added since the previous output (complete
                                   ///< UTF-8 characters; stop strings withheld/removed)
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  absl::Status status;             ///< error detail when finish_reason == kError/kCancelled
  int prompt_tokens = 0;           ///< prompt length in tokens
  int completion_tokens = 0;       ///< tokens generated so far by this completion; in
                                   ///< the request's final output: by all completions
  int cached_prompt_tokens = 0;    ///< prompt tokens served from the prefix cache
  RequestTiming timing;            ///< filled in the finished output
  /// Which of the request's SamplingParams::n completions this output belongs
  /// to (0-based). With n > 1 a completion's last output has finish_reason set
  /// and finished == false, except the request's very last output, which
  /// finishes the request (finished == true) and its own completion.
  int index = 0;
  /// When SamplingParams::logprobs is set: one entry per token_ids entry.
  std::vector<PositionLogprobs> logprobs;
  /// When SamplingParams::prompt_logprobs is set, in the request's first
  /// output: one entry per prompt token after the first (entry i is prompt
  /// token i + 1 given tokens 0..i).
  std::vector<PositionLogprobs> prompt_logprobs;
};

/// Receives a request's outputs. Runs on the engine thread: it must not block
/// (hand the output to another thread) and must not call back into the engine
/// except AbortRequest.
using OutputCallback = std::function<void(RequestOutput)>;

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_REQUEST_H_
