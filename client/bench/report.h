#ifndef LLMSERVE_CLIENT_BENCH_REPORT_H_
#define LLMSERVE_CLIENT_BENCH_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "client/bench/request_record.h"
#include "client/bench/run_stats.h"
#include "client/bench/server_view.h"
#include "nlohmann/json.hpp"

namespace llmserve::bench {

/// How a run point was configured (echoed in its result).
struct RunConfig {
  /// GenerationBackend::name(): llmserve-grpc, openai-completions, openai-chat.
  std::string backend = "llmserve-grpc";
  std::string model_id;       ///< ModelInfo.model_name, or the HTTP request's "model"
  std::string endpoint;       ///< "GenerateStream", "Generate", "/v1/completions", ...
  std::string dataset_name;   ///< workload: random, prefix, file
  int num_prompts = 0;        ///< requests asked for (--num-requests)
  double request_rate = 0;    ///< open loop rate (+inf: at once); closed loop: +inf
  double burstiness = 1;
  int max_concurrency = 0;    ///< closed loop concurrency; 0 = open loop
  int warmup_requests = 0;
  uint64_t seed = 0;
  std::string goodput_spec;   ///< --goodput as given
};

/// The figures of a run point as one JSON object. Field names follow `vllm
/// bench serve`'s result JSON where one exists (date, backend, model_id,
/// num_prompts, request_rate, burstiness, max_concurrency, duration,
/// completed, failed, total_input_tokens, total_output_tokens,
/// request_throughput, request_goodput, output_throughput,
/// total_token_throughput, max_output_tokens_per_s, max_concurrent_requests,
/// input_lens, output_lens, ttfts, itls, errors, {mean,median,std,p90,p95,p99}
/// _{ttft,tpot,itl,e2el}_ms); llmserve's own: endpoint, dataset_name,
/// failures_by_code, good_requests, goodput_slo, achieved_concurrency,
/// total_cached_tokens, warmup_requests, seed, mean_server_{ttft,e2el}_ms
/// (the engine's own Timing of the same requests), tpots, e2els and
/// server_cross_check (when scraped). Per-request arrays are in send order,
/// times in seconds; request_rate is the string "inf" when infinite.
nlohmann::json RunResultJson(const RunConfig& config, const RunStats& stats,
                             const std::vector<RequestRecord>& records,
                             const std::optional<std::vector<CrossCheckLine>>& cross_check);

/// The fields every result object has (for the schema test and docs).
const std::vector<std::string>& RequiredResultFields();

/// A human-readable summary table of the run (like `vllm bench serve`'s).
std::string FormatSummary(const RunConfig& config, const RunStats& stats);

/// The client/server comparison table; disagreeing lines are flagged.
/// Integral values (the counts) print as integers ("1374430", never
/// "1.37443e+06"), others (the means, bounds of a range) with 2 decimals.
std::string FormatCrossCheck(const std::vector<CrossCheckLine>& lines);

/// One request as a JSON object (--save-requests writes one per line):
/// index, start_s, ttft_s, itl_s, e2el_s, token counts, status, error,
/// finish_reason and the server's own queue / TTFT / e2e seconds.
nlohmann::json RequestJson(const RequestRecord& r);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_REPORT_H_
