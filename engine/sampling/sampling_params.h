#ifndef LLMSERVE_ENGINE_SAMPLING_SAMPLING_PARAMS_H_
#define LLMSERVE_ENGINE_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace llmserve {

/// How the next token is chosen and when generation stops (OpenAI / vLLM semantics).
/// The member initialisers are THE defaults of the API: the server applies
/// them to fields a request leaves unset (generation.proto documents them).
/// New options go here, with their check in Validate().
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

  /// Errors: INVALID_ARGUMENT naming the proto field
  /// ("sampling_params.max_tokens must be > 0, got 0").
  absl::Status Validate() const;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_SAMPLING_PARAMS_H_
