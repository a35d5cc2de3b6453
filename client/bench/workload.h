#ifndef LLMSERVE_CLIENT_BENCH_WORKLOAD_H_
#define LLMSERVE_CLIENT_BENCH_WORKLOAD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve::bench {

/// One request of a workload: a prompt (text, or token ids used as is) and its
/// completion length.
struct BenchRequest {
  /// Prompt text (tokenized by the server, BOS added); used when token_ids is empty.
  std::string text;
  /// Prompt token ids, sent as is (no BOS added).
  std::vector<uint32_t> token_ids;
  /// SamplingParams.max_tokens of this request (> 0).
  int max_tokens = 16;
};

/// `random`: `num_requests` prompts of token ids drawn uniformly from
/// [0, vocab_size) minus `excluded_ids` (BOS/EOS), as `vllm bench serve
/// --dataset-name random`: input and output lengths uniform in
/// [len * (1 - range_ratio), len * (1 + range_ratio)] (at least 1).
struct RandomWorkloadOptions {
  int num_requests = 0;
  int input_len = 0;           ///< prompt tokens (> 0)
  int output_len = 0;          ///< completion tokens (> 0)
  double range_ratio = 0;      ///< in [0, 1)
  int vocab_size = 0;          ///< ModelInfo.vocab_size (> number of excluded ids)
  std::vector<int> excluded_ids;  ///< ids never drawn (e.g. BOS, EOS; negative = none)
  uint64_t seed = 0;
};
/// Errors: INVALID_ARGUMENT naming the bad option.
absl::StatusOr<std::vector<BenchRequest>> RandomWorkload(const RandomWorkloadOptions& options);

/// `prefix`: `num_prefixes` random shared prefixes of `prefix_len` tokens, each
/// followed by `suffixes_per_prefix` distinct random suffixes of `suffix_len`
/// tokens (to measure prefix caching). Requests are interleaved (prefix 0
/// suffix 0, prefix 1 suffix 0, ...) so a prefix is reused after the others.
struct PrefixWorkloadOptions {
  int num_prefixes = 0;
  int suffixes_per_prefix = 0;
  int prefix_len = 0;
  int suffix_len = 0;
  int output_len = 0;
  int vocab_size = 0;
  std::vector<int> excluded_ids;
  uint64_t seed = 0;
};
/// Errors: INVALID_ARGUMENT naming the bad option.
absl::StatusOr<std::vector<BenchRequest>> PrefixWorkload(const PrefixWorkloadOptions& options);

/// `file`, JSONL: one JSON object per non-blank line, {"prompt": "<text>",
/// "max_tokens": N}; a line without max_tokens uses `default_max_tokens`.
/// Errors: INVALID_ARGUMENT with the line number (bad JSON, missing or
/// non-string prompt, max_tokens not a positive integer, no requests).
absl::StatusOr<std::vector<BenchRequest>> ParseJsonl(const std::string& contents,
                                                     int default_max_tokens);

/// Token count of a text (no BOS), e.g. through the server's Tokenize.
using TokenCounter = std::function<absl::StatusOr<int>(const std::string& text)>;

/// `file`, ShareGPT: a JSON array of {"conversations": [{"from": "human",
/// "value": ...}, {"from": "gpt", "value": ...}, ...]}; the first human turn is
/// the prompt and the reply after it sets max_tokens (its token count by
/// `count_tokens`, at least 1). Conversations without a human turn followed by
/// a reply are skipped. At most `max_requests` (<= 0: all).
/// Errors: INVALID_ARGUMENT for bad JSON or no usable conversation;
/// count_tokens' errors.
absl::StatusOr<std::vector<BenchRequest>> ParseShareGpt(const std::string& contents,
                                                        const TokenCounter& count_tokens,
                                                        int max_requests);

/// True if `contents` looks like ShareGPT (a JSON array) rather than JSONL.
bool LooksLikeShareGpt(const std::string& contents);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_WORKLOAD_H_
