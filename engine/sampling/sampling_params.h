#ifndef LLMSERVE_ENGINE_SAMPLING_SAMPLING_PARAMS_H_
#define LLMSERVE_ENGINE_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/structured_output_params.h"

namespace llmserve {

/// How the next token is chosen and when generation stops (OpenAI / vLLM semantics).
/// The member initialisers are THE defaults of the API: the server applies
/// them to fields a request leaves unset (generation.proto documents them).
/// New options go here, with their check in Validate() (or, when the check needs
/// the vocabulary or server limits, in ValidateGenerationControls).
struct SamplingParams {
  /// Maximum completion tokens to generate (> 0).
  int max_tokens = 16;
  /// Softmax temperature (>= 0); 0 selects greedy (argmax) decoding.
  float temperature = 1.0f;
  /// Keep only the k most likely tokens (0 = disabled, >= 0).
  int top_k = 0;
  /// Nucleus sampling: keep the smallest set of tokens whose probability mass
  /// reaches top_p, in (0, 1]; 1 = disabled (Holtzman et al. 2019).
  float top_p = 1.0f;
  /// Seed of this request's random generator; the same seed and request give
  /// the same output, independent of other requests in the batch. Unset: random.
  std::optional<uint64_t> seed;
  /// Generation stops when the text contains any of these; the stop string is
  /// not part of the output. At most kMaxStopStrings, each 1..kMaxStopBytes bytes.
  std::vector<std::string> stop;

  static constexpr int kMaxStopStrings = 16;
  static constexpr int kMaxStopBytes = 256;
  /// Keep generating past EOS tokens (until max_tokens or a stop string).
  bool ignore_eos = false;

  // --- Generation controls of issue #12 (defaults keep the behaviour above). ---
  // Checked by ValidateGenerationControls (engine/sampling/sampling_validation.h).

  /// Min-p sampling: drop tokens whose probability (after temperature) is below
  /// min_p × the most likely token's probability; in [0, 1]; 0 = disabled.
  float min_p = 0.0f;
  /// Multiplicative repetition penalty (CTRL, Keskar et al. 2019; Hugging Face
  /// RepetitionPenaltyLogitsProcessor; vLLM): every token that occurs in the
  /// prompt or the completion so far has its logit divided by the penalty if
  /// positive, multiplied by it if not. In [0.01, 100]; 1 = disabled.
  float repetition_penalty = 1.0f;
  /// Additive penalties (OpenAI's definition, as vLLM): a token generated c > 0
  /// times in the completion so far (the prompt does not count) has its logit
  /// lowered by frequency_penalty × c + presence_penalty. Each in [-2, 2]; 0 = disabled.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  /// Added to the logit of the given token ids (OpenAI logit_bias), each bias
  /// in [-100, 100]; at most kMaxLogitBias entries; ids < vocab size.
  std::vector<std::pair<int32_t, float>> logit_bias;
  /// Token ids that are never generated (logit set to -inf); ids < vocab size.
  std::vector<int32_t> banned_token_ids;
  /// Generation stops (finish reason kStop) after any of these token ids; the
  /// token is part of the completion's token ids. At most kMaxStopTokenIds.
  std::vector<int32_t> stop_token_ids;
  /// EOS ids, stop_token_ids and stop strings are suppressed until this many
  /// completion tokens exist; in [0, max_tokens].
  int min_tokens = 0;
  /// Log-probabilities of each generated token plus its `logprobs` most likely
  /// alternatives (0: the chosen token only); unset: none. Computed from the
  /// raw logits (before penalties, bias, temperature, top-k/top-p/min-p).
  std::optional<int> logprobs;
  /// The same for every prompt token after the first (which has no context).
  std::optional<int> prompt_logprobs;
  /// Number of completions generated for the prompt (sharing its KV blocks);
  /// completion i uses seed + i when a seed is set. >= 1.
  int n = 1;
  /// What the completion must match (structured output, issue #23); unset:
  /// unconstrained. The engine compiles it (engine/structured) and masks the
  /// logits row with it before every transform above; EOS only where the
  /// output is complete. See docs/generation-controls.md.
  std::optional<StructuredOutputParams> structured_output;

  /// Largest structured-output text (schema, regex, grammar) or total bytes of its choices.
  static constexpr int kMaxStructuredOutputBytes = 1 << 20;
  static constexpr int kMaxLogitBias = 1024;
  static constexpr int kMaxStopTokenIds = 64;
  static constexpr int kMaxBannedTokenIds = 65536;

  /// Errors: INVALID_ARGUMENT naming the proto field
  /// ("sampling_params.max_tokens must be > 0, got 0"). For structured_output
  /// only its shape (non-empty text or choices, sizes); whether it compiles is
  /// checked by the engine (LLMEngine::AddRequest).
  absl::Status Validate() const;
};

/// The shape checks of a structured-output constraint (SamplingParams::Validate):
/// text non-empty and at most kMaxStructuredOutputBytes for json_schema, regex
/// and grammar; choices non-empty, each non-empty, at most that many bytes in
/// all. Errors: INVALID_ARGUMENT naming the proto field
/// ("sampling_params.structured_output.regex must not be empty").
absl::Status ValidateStructuredOutputShape(const StructuredOutputParams& params);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_SAMPLING_PARAMS_H_
