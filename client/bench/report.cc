#include "client/bench/report.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace llmserve::bench {
namespace {

/// "p99", "p99.9": the percentile's label as vLLM writes it.
std::string PercentileLabel(double p) {
  return p == std::floor(p) ? absl::StrCat("p", static_cast<int>(p)) : absl::StrCat("p", p);
}

void AddDistribution(const std::string& metric, const Distribution& d, nlohmann::json* out) {
  (*out)[absl::StrCat("mean_", metric, "_ms")] = d.mean;
  (*out)[absl::StrCat("median_", metric, "_ms")] = d.median;
  (*out)[absl::StrCat("std_", metric, "_ms")] = d.std;
  for (const auto& [p, value] : d.percentiles) {
    (*out)[absl::StrCat(PercentileLabel(p), "_", metric, "_ms")] = value;
  }
}

nlohmann::json Rate(double rate) {
  if (std::isinf(rate)) return "inf";
  return rate;
}

}  // namespace

const std::vector<std::string>& RequiredResultFields() {
  static const std::vector<std::string> kFields = [] {
    std::vector<std::string> f = {
        "date", "backend", "endpoint", "model_id", "dataset_name", "num_prompts",
        "request_rate", "burstiness", "max_concurrency", "warmup_requests", "seed", "duration",
        "completed", "failed", "failures_by_code", "total_input_tokens",
        "total_output_tokens", "total_cached_tokens", "request_throughput", "request_goodput",
        "good_requests", "goodput_slo", "output_throughput", "total_token_throughput",
        "max_output_tokens_per_s", "max_concurrent_requests", "achieved_concurrency",
        "mean_server_ttft_ms", "mean_server_e2el_ms",
        "input_lens", "output_lens", "ttfts", "tpots", "itls", "e2els", "errors"};
    for (const char* metric : {"ttft", "tpot", "itl", "e2el"}) {
      for (const char* stat : {"mean", "median", "std", "p90", "p95", "p99"}) {
        f.push_back(absl::StrCat(stat, "_", metric, "_ms"));
      }
    }
    return f;
  }();
  return kFields;
}

nlohmann::json RunResultJson(const RunConfig& config, const RunStats& stats,
                             const std::vector<RequestRecord>& records,
                             const std::optional<std::vector<CrossCheckLine>>& cross_check) {
  nlohmann::json j;
  j["date"] = absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone());
  j["backend"] = config.backend;
  j["endpoint"] = config.endpoint;
  j["model_id"] = config.model_id;
  j["dataset_name"] = config.dataset_name;
  j["num_prompts"] = config.num_prompts;
  j["request_rate"] = Rate(config.request_rate);
  j["burstiness"] = config.burstiness;
  j["max_concurrency"] =
      config.max_concurrency > 0 ? nlohmann::json(config.max_concurrency) : nlohmann::json();
  j["warmup_requests"] = config.warmup_requests;
  j["seed"] = config.seed;
  j["duration"] = stats.duration_seconds;
  j["completed"] = stats.completed;
  j["failed"] = stats.failed;
  j["failures_by_code"] = stats.failures_by_code;
  j["total_input_tokens"] = stats.total_input_tokens;
  j["total_output_tokens"] = stats.total_output_tokens;
  j["total_cached_tokens"] = stats.total_cached_tokens;
  j["request_throughput"] = stats.request_throughput;
  j["request_goodput"] =
      config.goodput_spec.empty() ? nlohmann::json() : nlohmann::json(stats.request_goodput);
  j["good_requests"] = stats.good_requests;
  j["goodput_slo"] = config.goodput_spec;
  j["output_throughput"] = stats.output_throughput;
  j["total_token_throughput"] = stats.total_token_throughput;
  j["max_output_tokens_per_s"] = stats.max_output_tokens_per_s;
  j["max_concurrent_requests"] = stats.peak_concurrency;
  j["achieved_concurrency"] = stats.achieved_concurrency;
  AddDistribution("ttft", stats.ttft_ms, &j);
  AddDistribution("tpot", stats.tpot_ms, &j);
  AddDistribution("itl", stats.itl_ms, &j);
  AddDistribution("e2el", stats.e2el_ms, &j);
  j["mean_server_ttft_ms"] = stats.server_ttft_ms.mean;
  j["mean_server_e2el_ms"] = stats.server_e2el_ms.mean;
  nlohmann::json input_lens = nlohmann::json::array(), output_lens = nlohmann::json::array(),
                 ttfts = nlohmann::json::array(), tpots = nlohmann::json::array(),
                 itls = nlohmann::json::array(), e2els = nlohmann::json::array(),
                 errors = nlohmann::json::array();
  for (const RequestRecord& r : records) {
    input_lens.push_back(r.prompt_tokens);
    output_lens.push_back(r.output_tokens);
    ttfts.push_back(r.ok() && r.ttft_seconds >= 0 ? nlohmann::json(r.ttft_seconds)
                                                  : nlohmann::json());
    const double tpot = r.TpotSeconds();
    tpots.push_back(tpot >= 0 ? nlohmann::json(tpot) : nlohmann::json());
    itls.push_back(r.itl_seconds);
    e2els.push_back(r.e2e_seconds);
    errors.push_back(r.ok() ? "" : absl::StrCat(StatusCodeName(r.status), ": ", r.error));
  }
  j["input_lens"] = std::move(input_lens);
  j["output_lens"] = std::move(output_lens);
  j["ttfts"] = std::move(ttfts);
  j["tpots"] = std::move(tpots);
  j["itls"] = std::move(itls);
  j["e2els"] = std::move(e2els);
  j["errors"] = std::move(errors);
  if (cross_check.has_value()) {
    nlohmann::json lines = nlohmann::json::array();
    for (const CrossCheckLine& line : *cross_check) {
      nlohmann::json j_line = {{"name", line.name},
                               {"client", line.client},
                               {"server", line.server},
                               {"checked", line.checked},
                               {"note", line.note},
                               {"agrees", line.agrees()}};
      if (line.lower.has_value() && line.upper.has_value()) {
        j_line["lower"] = *line.lower;
        j_line["upper"] = *line.upper;
      }
      lines.push_back(std::move(j_line));
    }
    j["server_cross_check"] = {{"lines", std::move(lines)}, {"all_agree", AllAgree(*cross_check)}};
  }
  return j;
}

std::string FormatSummary(const RunConfig& config, const RunStats& s) {
  std::string out;
  auto line = [&out](const std::string& name, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-40s %12s\n", name, value));
  };
  auto number = [](double v, int decimals = 2) { return absl::StrFormat("%.*f", decimals, v); };
  auto header = [&out](const std::string& title) {
    const int width = 53;
    const int pad = std::max(0, width - static_cast<int>(title.size()) - 2);
    absl::StrAppend(&out, std::string(pad / 2, '-'), " ", title, " ",
                    std::string(pad - pad / 2, '-'), "\n");
  };
  absl::StrAppend(&out, "============ Serving Benchmark Result ============\n");
  line("Endpoint:", config.endpoint);
  line("Load:", config.max_concurrency > 0
                    ? absl::StrCat("concurrency ", config.max_concurrency)
                    : absl::StrCat("rate ", std::isinf(config.request_rate)
                                                ? std::string("inf")
                                                : number(config.request_rate), " req/s"));
  line("Successful requests:", absl::StrCat(s.completed));
  line("Failed requests:", absl::StrCat(s.failed));
  for (const auto& [code, n] : s.failures_by_code) line(absl::StrCat("  ", code, ":"), absl::StrCat(n));
  line("Benchmark duration (s):", number(s.duration_seconds));
  line("Total input tokens:", absl::StrCat(s.total_input_tokens));
  line("Total generated tokens:", absl::StrCat(s.total_output_tokens));
  line("Request throughput (req/s):", number(s.request_throughput));
  if (!config.goodput_spec.empty()) {
    line("Request goodput (req/s):", number(s.request_goodput));
    line("Good requests:", absl::StrCat(s.good_requests));
  }
  line("Output token throughput (tok/s):", number(s.output_throughput));
  line("Total token throughput (tok/s):", number(s.total_token_throughput));
  line("Peak output token throughput (tok/s):", number(s.max_output_tokens_per_s, 0));
  line("Concurrency achieved (mean / peak):",
       absl::StrCat(number(s.achieved_concurrency), " / ", s.peak_concurrency));
  auto block = [&](const std::string& title, const std::string& short_name,
                   const Distribution& d) {
    header(title);
    line(absl::StrCat("Mean ", short_name, " (ms):"), number(d.mean));
    line(absl::StrCat("Median ", short_name, " (ms):"), number(d.median));
    line(absl::StrCat("Std ", short_name, " (ms):"), number(d.std));
    for (const auto& [p, value] : d.percentiles) {
      line(absl::StrCat("P", p, " ", short_name, " (ms):"), number(value));
    }
  };
  block("Time to First Token", "TTFT", s.ttft_ms);
  block("Time per Output Token (excl. 1st token)", "TPOT", s.tpot_ms);
  block("Inter-token Latency", "ITL", s.itl_ms);
  block("End-to-end Latency", "E2EL", s.e2el_ms);
  if (s.server_e2el_ms.count > 0) {
    header("Engine's own timing (same requests)");
    line("Mean engine TTFT (ms):", number(s.server_ttft_ms.mean));
    line("Mean engine E2EL (ms):", number(s.server_e2el_ms.mean));
    line("Service overhead, mean E2EL (ms):", number(s.e2el_ms.mean - s.server_e2el_ms.mean));
  }
  absl::StrAppend(&out, "==================================================\n");
  return out;
}

std::string FormatCrossCheck(const std::vector<CrossCheckLine>& lines) {
  // Counts exactly, whatever their size; other values with 2 decimals.
  auto value = [](double v) {
    if (std::isnan(v)) return std::string("-");
    if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
    return absl::StrFormat("%.2f", v);
  };
  std::string out = "---------- Server cross-check (/metrics delta) ----------\n";
  absl::StrAppend(&out, absl::StrFormat("%-26s %12s %12s\n", "", "client", "server"));
  for (const CrossCheckLine& l : lines) {
    const std::string client = l.lower.has_value() && l.upper.has_value()
                                   ? absl::StrCat(value(*l.lower), "..", value(*l.upper))
                                   : value(l.client);
    absl::StrAppend(&out, absl::StrFormat("%-26s %12s %12s%s%s\n", l.name, client,
                                          value(l.server),
                                          !l.checked  ? ""
                                          : l.agrees() ? "  ok"
                                                       : "  MISMATCH",
                                          l.note.empty() ? "" : absl::StrCat("  (", l.note, ")")));
  }
  return out;
}

nlohmann::json RequestJson(const RequestRecord& r) {
  nlohmann::json j = {{"index", r.index},
                      {"start_s", r.start_seconds},
                      {"ttft_s", r.ttft_seconds >= 0 ? nlohmann::json(r.ttft_seconds)
                                                     : nlohmann::json()},
                      {"itl_s", r.itl_seconds},
                      {"e2el_s", r.e2e_seconds},
                      {"prompt_tokens", r.prompt_tokens},
                      {"output_tokens", r.output_tokens},
                      {"cached_prompt_tokens", r.cached_prompt_tokens},
                      {"status", StatusCodeName(r.status)},
                      {"http_status", r.http_status > 0 ? nlohmann::json(r.http_status)
                                                        : nlohmann::json()},
                      {"error", r.error},
                      {"finish_reason", r.finish_reason},
                      {"server_queue_s", r.server_queue_seconds},
                      {"server_ttft_s", r.server_ttft_seconds},
                      {"server_e2el_s", r.server_e2e_seconds},
                      {"had_deadline", r.had_deadline},
                      {"client_cancelled", r.client_cancelled}};
  return j;
}

}  // namespace llmserve::bench
