#ifndef LLMSERVE_CLIENT_BENCH_SERVER_VIEW_H_
#define LLMSERVE_CLIENT_BENCH_SERVER_VIEW_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/bench/prom_text.h"
#include "client/bench/run_stats.h"

namespace llmserve::bench {

/// The server's own counters, from its /metrics (llmserve_* names, see
/// docs/deployment.md), summed over label values.
struct ServerCounters {
  double requests_success = 0;   ///< llmserve_request_success_total
  std::map<std::string, double> failures_by_code;  ///< llmserve_request_failure_total{code}
  double prompt_tokens = 0;      ///< llmserve_prompt_tokens_total
  double generation_tokens = 0;  ///< llmserve_generation_tokens_total
  /// llmserve_time_to_first_token_seconds_{sum,count}. The server observes it
  /// for every request whose prefill completed (a first token exists), failed
  /// or not: the same set its prompt and generation token counters include.
  double ttft_sum = 0, ttft_count = 0;
  double queue_sum = 0, queue_count = 0;  ///< llmserve_request_queue_time_seconds_{sum,count}
};

/// Reads the counters from parsed samples (missing series count as 0).
ServerCounters ReadServerCounters(const std::vector<PromSample>& samples);

/// after − before, field by field (the run's traffic as the server saw it).
ServerCounters Delta(const ServerCounters& after, const ServerCounters& before);

/// One line of the comparison: a count seen by the client and by the server.
struct CrossCheckLine {
  std::string name;  ///< e.g. "completed requests"
  double client = 0;
  double server = 0;
  /// NaN when the client has no such figure (queue time).
  /// Whether the line must agree (counts); means (TTFT) are only shown.
  bool checked = true;
  /// Why an unchecked count is not comparable, or what a bounded one bounds
  /// (empty otherwise).
  std::string note;
  /// A bounded check (both set): the server's count must lie in [lower,
  /// upper] instead of equal `client`.
  std::optional<double> lower, upper;
  bool agrees() const {
    if (!checked) return true;
    if (lower.has_value() && upper.has_value()) return server >= *lower && server <= *upper;
    return client == server;
  }
};

/// The client's figures next to the server's delta: completed requests,
/// failures per status code, prompt and generation tokens, and the mean TTFT
/// and queue time in ms (shown only; the server's exclude the network).
///
/// Counts are checked (must be equal), except:
///  - completed requests, CANCELLED failures of calls the client cancelled
///    and DEADLINE_EXCEEDED failures, bounded: a client cancel or deadline
///    races the server's last message, so the server may have finished such a
///    call first (a success there), and a call whose deadline expired before
///    the server's handler ran is not counted there at all;
///  - the total of every outcome, exact but for those unseen deadlines
///    (bounded below by the DEADLINE_EXCEEDED failures that received no token);
///  - prompt and generation tokens when some failed requests had their
///    prefill run (or may have finished on the server): the client counts the
/// tokens of completed requests only, while the server's counters include
/// every request whose prefill completed, failed (cancelled, deadline) or not
/// (server/metrics.cc OnRequestFinished), and a failed call does not tell the
/// client how far it got. Those requests are the server's TTFT observations
/// beyond its successes (ttft_count − requests_success); when the client saw
/// failures and that number is > 0, the two token lines are shown unchecked
/// with a note, unless the client knows every failed request's prompt length
/// (token-id prompts): then they are bounded checks. Prompt tokens: at least
/// the completed requests' plus the prompts of failed requests that received
/// a token (their prefill ran), at most that plus the prompts of failed
/// requests that received none. Generation tokens: at least the completed
/// requests' plus every token failed requests received, at most the completed
/// requests' plus max_tokens × n of each failed one. Failures refused before
/// the engine (e.g. RESOURCE_EXHAUSTED at the queue limit) leave them checked.
std::vector<CrossCheckLine> CrossCheck(const RunStats& client, const ServerCounters& server);

/// True if every checked line agrees.
bool AllAgree(const std::vector<CrossCheckLine>& lines);

/// Scrapes `url` (HTTP GET + parse). Errors: HttpGet's and ParsePromText's.
absl::StatusOr<ServerCounters> ScrapeServerCounters(const std::string& url);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_SERVER_VIEW_H_
