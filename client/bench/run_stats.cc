#include "client/bench/run_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace llmserve::bench {

const std::vector<double>& ReportedPercentiles() {
  static const std::vector<double> kPercentiles = {90, 95, 99};
  return kPercentiles;
}

namespace {

/// numpy.percentile (linear): the value at rank p/100 * (n - 1) of the sorted sample.
double Percentile(const std::vector<double>& sorted, double p) {
  const double rank = p / 100 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(sorted.size() - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace

Distribution Summarize(std::vector<double> values, const std::vector<double>& percentiles) {
  Distribution d;
  for (double p : percentiles) d.percentiles[p] = 0;
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  d.count = static_cast<int>(values.size());
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0;
  for (double v : values) squares += (v - d.mean) * (v - d.mean);
  d.std = std::sqrt(squares / n);
  d.min = values.front();
  d.max = values.back();
  d.median = Percentile(values, 50);
  for (double p : percentiles) d.percentiles[p] = Percentile(values, p);
  return d;
}

absl::StatusOr<GoodputSlo> ParseGoodput(const std::string& spec) {
  GoodputSlo slo;
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, ':');
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    double ms = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(kv.second), &ms) || !(ms > 0) ||
        !std::isfinite(ms)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--goodput: \"", item, "\": expected KEY:MILLISECONDS with a number > 0"));
    }
    std::optional<double>* target = key == "ttft"   ? &slo.ttft_ms
                                    : key == "tpot" ? &slo.tpot_ms
                                    : key == "e2el" ? &slo.e2el_ms
                                                    : nullptr;
    if (target == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--goodput: unknown metric \"", key, "\" (use ttft, tpot, e2el)"));
    }
    if (target->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--goodput: \"", key, "\" given twice"));
    }
    *target = ms;
  }
  return slo;
}

absl::Status ValidateGoodputForCalls(const GoodputSlo& slo, bool stream) {
  if (slo.tpot_ms.has_value() && !stream) {
    return absl::InvalidArgumentError(
        "--goodput: a tpot objective needs streamed calls; with --stream=false (unary Generate) "
        "there is no per-token timing, so TPOT is undefined (use ttft or e2el, or stream)");
  }
  return absl::OkStatus();
}

bool MeetsSlo(const RequestRecord& r, const GoodputSlo& slo) {
  if (!r.ok()) return false;
  if (slo.ttft_ms && r.ttft_seconds * 1e3 > *slo.ttft_ms) return false;
  const double tpot = r.TpotSeconds();
  if (slo.tpot_ms && tpot >= 0 && tpot * 1e3 > *slo.tpot_ms) return false;
  if (slo.e2el_ms && r.e2e_seconds * 1e3 > *slo.e2el_ms) return false;
  return true;
}

namespace {

/// Most requests in flight at once: a sweep over [start, start + e2e) intervals.
int PeakConcurrency(const std::vector<RequestRecord>& records) {
  std::vector<std::pair<double, int>> events;
  for (const RequestRecord& r : records) {
    events.emplace_back(r.start_seconds, +1);
    events.emplace_back(r.start_seconds + r.e2e_seconds, -1);
  }
  std::sort(events.begin(), events.end());  // ends (-1) before starts at equal times
  int live = 0, peak = 0;
  for (const auto& [time, delta] : events) peak = std::max(peak, live += delta);
  return peak;
}

/// Most output tokens arriving within one whole second of the run. Token
/// times: the first at TTFT, one per recorded gap after it, the rest at the end.
double MaxOutputTokensPerSecond(const std::vector<RequestRecord>& records) {
  std::map<int64_t, double> per_second;
  for (const RequestRecord& r : records) {
    if (!r.ok() || r.output_tokens == 0) continue;
    double t = r.start_seconds + std::max(0.0, r.ttft_seconds);
    per_second[static_cast<int64_t>(t)] += 1;
    for (double gap : r.itl_seconds) per_second[static_cast<int64_t>(t += gap)] += 1;
    const int rest = r.output_tokens - 1 - static_cast<int>(r.itl_seconds.size());
    if (rest > 0) per_second[static_cast<int64_t>(r.start_seconds + r.e2e_seconds)] += rest;
  }
  double best = 0;
  for (const auto& [second, tokens] : per_second) best = std::max(best, tokens);
  return best;
}

}  // namespace

RunStats ComputeRunStats(const std::vector<RequestRecord>& records, double duration_seconds,
                         const GoodputSlo& slo) {
  RunStats s;
  s.num_requests = static_cast<int>(records.size());
  s.duration_seconds = duration_seconds;
  std::vector<double> ttft, tpot, itl, e2el, server_ttft, server_e2el;
  double busy = 0;
  for (const RequestRecord& r : records) {
    busy += r.e2e_seconds;
    if (!r.ok()) {
      ++s.failed;
      ++s.failures_by_code[StatusCodeName(r.status)];
      if (r.sent_prompt_tokens < 0 || s.failed_prompt_tokens_prefilled < 0) {
        s.failed_prompt_tokens_prefilled = s.failed_prompt_tokens_maybe = -1;
      } else if (r.output_tokens > 0) {
        s.failed_prompt_tokens_prefilled += r.sent_prompt_tokens;
      } else {
        s.failed_prompt_tokens_maybe += r.sent_prompt_tokens;
      }
      s.failed_output_tokens_received += r.output_tokens;
      if (r.client_cancelled && r.status == grpc::StatusCode::CANCELLED) {
        ++s.client_cancels_ended_cancelled;
      }
      if (r.status == grpc::StatusCode::DEADLINE_EXCEEDED && r.output_tokens > 0) {
        ++s.deadline_failures_with_tokens;
      }
      s.failed_output_tokens_max += std::max(r.max_output_tokens, r.output_tokens);
      continue;
    }
    ++s.completed;
    s.total_input_tokens += r.prompt_tokens;
    s.total_output_tokens += r.output_tokens;
    s.total_cached_tokens += r.cached_prompt_tokens;
    if (MeetsSlo(r, slo)) ++s.good_requests;
    if (r.ttft_seconds >= 0) ttft.push_back(r.ttft_seconds * 1e3);
    if (const double t = r.TpotSeconds(); t >= 0) tpot.push_back(t * 1e3);
    for (double gap : r.itl_seconds) itl.push_back(gap * 1e3);
    e2el.push_back(r.e2e_seconds * 1e3);
    if (r.server_e2e_seconds > 0) {
      server_ttft.push_back(r.server_ttft_seconds * 1e3);
      server_e2el.push_back(r.server_e2e_seconds * 1e3);
    }
  }
  if (duration_seconds > 0) {
    s.request_throughput = s.completed / duration_seconds;
    s.output_throughput = static_cast<double>(s.total_output_tokens) / duration_seconds;
    s.total_token_throughput =
        static_cast<double>(s.total_input_tokens + s.total_output_tokens) / duration_seconds;
    s.request_goodput = s.good_requests / duration_seconds;
    s.achieved_concurrency = busy / duration_seconds;
  }
  s.max_output_tokens_per_s = MaxOutputTokensPerSecond(records);
  s.peak_concurrency = PeakConcurrency(records);
  const std::vector<double>& p = ReportedPercentiles();
  s.ttft_ms = Summarize(std::move(ttft), p);
  s.tpot_ms = Summarize(std::move(tpot), p);
  s.itl_ms = Summarize(std::move(itl), p);
  s.e2el_ms = Summarize(std::move(e2el), p);
  s.server_ttft_ms = Summarize(std::move(server_ttft), p);
  s.server_e2el_ms = Summarize(std::move(server_e2el), p);
  return s;
}

}  // namespace llmserve::bench
