#ifndef LLMSERVE_ENGINE_LLM_ENGINE_H_
#define LLMSERVE_ENGINE_LLM_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine_observer.h"
#include "engine/models/model_config.h"
#include "engine/request.h"
#include "engine/request_validator.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// Everything needed to start an engine.
struct EngineOptions {
  /// A llama2.c checkpoint file, or a Hugging Face model directory
  /// (config.json + *.safetensors).
  std::string model_path;
  /// Tokenizer file (llama2.c tokenizer.bin, tokenizer.json, vocab.json); empty:
  /// found in the model directory / next to the model file.
  std::string tokenizer_path;
  /// Weight dtype in memory: "f32" or "bf16".
  std::string dtype = "f32";
  /// Quantize the linear layers' weights at load: "" (no), "q8_0" or "q4_0"
  /// (llama.cpp's block formats; layers whose input width is not a multiple of
  /// 32 keep `dtype`).
  std::string quantization;
  /// KV-cache element dtype: "f32", "bf16", or "" = bf16 when dtype is bf16, else f32.
  std::string kv_cache_dtype;
  /// Compute threads for the forward pass (OpenMP / oneDNN); 0 = all cores.
  /// The environment can cap it (EffectiveNumThreads).
  int num_threads = 0;
  /// Cap on a sequence's positions (prompt + completion); 0 = the model's maximum.
  int max_context = 0;
  /// Tokens per KV-cache block.
  int block_size = 16;
  /// KV-cache budget in bytes (all layers, K and V); 0 = use kv_cache_tokens.
  int64_t kv_cache_bytes = 0;
  /// KV-cache budget in tokens, used when kv_cache_bytes == 0; 0 = enough for
  /// max_num_seqs full-context sequences, capped at 2 GiB.
  int64_t kv_cache_tokens = 0;
  /// Maximum sequences in one step's batch.
  int max_num_seqs = 64;
  /// Maximum tokens in one step's forward pass (prefill chunks + decodes).
  int max_num_batched_tokens = 512;
  /// Requests waiting beyond this are refused with RESOURCE_EXHAUSTED (0 = unbounded).
  int max_queued_requests = 0;
  /// Reuse KV blocks of identical prompt prefixes across requests.
  bool enable_prefix_caching = true;
  /// Largest SamplingParams::logprobs / prompt_logprobs a request may ask for.
  int max_logprobs = 20;
  /// Largest SamplingParams::n a request may ask for.
  int max_n = 16;
};

/// The compute threads an engine created with EngineOptions::num_threads =
/// `num_threads` runs: all cores for 0, then capped by the environment
/// variable LLMSERVE_MAX_THREADS (a positive integer) when it is set.
/// `make test-tsan` sets it to 1 so that no OpenMP team runs: TSan cannot see
/// libgomp's barriers (scripts/test-tsan.sh). Errors: INVALID_ARGUMENT for a
/// negative count or a malformed LLMSERVE_MAX_THREADS.
absl::StatusOr<int> EffectiveNumThreads(int num_threads);

/// The inference engine: owns the model, the tokenizer, the paged KV cache and
/// the continuous-batching scheduler, and runs scheduler steps on its own
/// thread. All public methods are thread-safe.
class LLMEngine {
 public:
  /// Loads the model and tokenizer, allocates the KV cache and starts the engine
  /// thread. Errors: those of the loaders (NOT_FOUND, INVALID_ARGUMENT naming the
  /// file and the problem), INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<LLMEngine>> Create(const EngineOptions& options,
                                                           EngineObserver* observer = nullptr);
  virtual ~LLMEngine() = default;

  /// Queues a request; `on_output` then receives its outputs on the engine
  /// thread, the last with finished == true (always exactly one, also on error
  /// and cancellation). On error nothing is queued and `on_output` is never called.
  /// Errors: INVALID_ARGUMENT from ValidateRequest(request, request_limits())
  /// (bad sampling params, empty prompt, token id outside the vocabulary,
  /// prompt + max_tokens beyond the context or the whole KV cache) or for a
  /// duplicate in-flight request_id, RESOURCE_EXHAUSTED (queue full),
  /// UNAVAILABLE (engine shut down).
  virtual absl::Status AddRequest(EngineRequest request, OutputCallback on_output) = 0;

  /// Cancels a request: it leaves the batch and frees its KV blocks at the next
  /// step, and its final output has finish_reason kCancelled with `reason`.
  /// Unknown or finished ids are ignored.
  virtual void AbortRequest(const std::string& request_id,
                            absl::Status reason = absl::CancelledError("cancelled")) = 0;

  /// Runs one warm-up forward pass (a 1-token request) and waits for it.
  virtual absl::Status WarmUp() = 0;

  /// Stops accepting requests (AddRequest → UNAVAILABLE), cancels all
  /// unfinished ones with `reason`, and stops the engine thread. Idempotent.
  virtual void Shutdown(absl::Status reason = absl::UnavailableError("engine shut down")) = 0;

  /// Current load.
  virtual EngineStats GetStats() const = 0;
  /// Seconds since the engine loop last made progress while work was pending
  /// (0 when idle or progressing); for a liveness watchdog.
  virtual double SecondsSinceProgress() const = 0;

  /// Fault injection for tests: while paused the scheduler schedules nothing,
  /// so accepted work stays pending without progress (a scheduling livelock,
  /// as the watchdog must see it). Aborts and shutdown are still served.
  virtual void SetSchedulingPausedForTesting(bool paused) {}

  /// Fault injection for tests: the next step that runs the model fails with
  /// `error` in place of the forward pass (ModelRunner::FailNextForwardForTesting),
  /// so every request in that step ends with finish reason kError (INTERNAL
  /// with the error's message) and its KV blocks are freed. One step only.
  virtual void FailNextForwardPassForTesting(absl::Status error) {}

  /// Bytes of weights the forward pass reads per step (every linear layer
  /// incl. the LM head): the memory traffic that bounds batch-1 decode speed.
  virtual int64_t weight_bytes_per_step() const { return 0; }
  /// Implementation of the linear layers (e.g. oneDNN "gemm:jit", "bf16:avx2").
  virtual std::string linear_implementation() const { return ""; }
  /// One line per kernel kind ("qkv [768 -> 2304]: bf16xbf16:brg:avx512_core_bf16", attention,
  /// CPU ISA) for the startup log and --print-kernels.
  virtual std::vector<std::string> kernel_names() const { return {}; }

  /// What AddRequest checks requests against (vocabulary, context, KV-cache
  /// size), from model_config() and options(); the server adds its own
  /// max_prompt_tokens and calls ValidateRequest with it.
  RequestLimits request_limits() const;
  /// The token ids that end generation (unless ignore_eos): the model's EOS list.
  const std::vector<int32_t>& eos_token_ids() const { return model_config().eos_token_ids; }

  virtual const ModelConfig& model_config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  /// The options in effect (defaults resolved: threads, context, cache size).
  virtual const EngineOptions& options() const = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LLM_ENGINE_H_
