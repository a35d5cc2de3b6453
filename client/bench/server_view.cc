#include "client/bench/server_view.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/bench/http_get.h"

namespace llmserve::bench {

ServerCounters ReadServerCounters(const std::vector<PromSample>& samples) {
  ServerCounters c;
  c.requests_success = SumSamples(samples, "llmserve_request_success_total");
  for (const PromSample& s : samples) {
    if (s.name != "llmserve_request_failure_total") continue;
    auto code = s.labels.find("code");
    c.failures_by_code[code == s.labels.end() ? "UNKNOWN" : code->second] += s.value;
  }
  c.prompt_tokens = SumSamples(samples, "llmserve_prompt_tokens_total");
  c.generation_tokens = SumSamples(samples, "llmserve_generation_tokens_total");
  c.ttft_sum = SumSamples(samples, "llmserve_time_to_first_token_seconds_sum");
  c.ttft_count = SumSamples(samples, "llmserve_time_to_first_token_seconds_count");
  c.queue_sum = SumSamples(samples, "llmserve_request_queue_time_seconds_sum");
  c.queue_count = SumSamples(samples, "llmserve_request_queue_time_seconds_count");
  return c;
}

ServerCounters Delta(const ServerCounters& after, const ServerCounters& before) {
  ServerCounters d;
  d.requests_success = after.requests_success - before.requests_success;
  for (const auto& [code, n] : after.failures_by_code) {
    auto it = before.failures_by_code.find(code);
    const double diff = n - (it == before.failures_by_code.end() ? 0 : it->second);
    if (diff != 0) d.failures_by_code[code] = diff;
  }
  d.prompt_tokens = after.prompt_tokens - before.prompt_tokens;
  d.generation_tokens = after.generation_tokens - before.generation_tokens;
  d.ttft_sum = after.ttft_sum - before.ttft_sum;
  d.ttft_count = after.ttft_count - before.ttft_count;
  d.queue_sum = after.queue_sum - before.queue_sum;
  d.queue_count = after.queue_count - before.queue_count;
  return d;
}

std::vector<CrossCheckLine> CrossCheck(const RunStats& client, const ServerCounters& server) {
  std::vector<CrossCheckLine> lines;
  // A client cancel or deadline races the server's last message: the server
  // may have finished (and counted a success) before the cancel or its own
  // deadline reached it, while the client's status is CANCELLED /
  // DEADLINE_EXCEEDED (both seen in soaks).
  const int raced = client.client_cancels_ended_cancelled;
  auto deadline_failures = client.failures_by_code.find("DEADLINE_EXCEEDED");
  const int deadlines =
      deadline_failures == client.failures_by_code.end() ? 0 : deadline_failures->second;
  CrossCheckLine completed{"completed requests", static_cast<double>(client.completed),
                           server.requests_success, /*checked=*/true, /*note=*/""};
  if (raced + deadlines > 0) {
    completed.lower = client.completed;
    completed.upper = client.completed + raced + deadlines;
    completed.note = absl::StrCat("bounded: + up to ", raced, " client cancels and ", deadlines,
                                  " deadlines the server may have finished first");
  }
  lines.push_back(std::move(completed));
  std::set<std::string> codes;
  for (const auto& [code, n] : client.failures_by_code) codes.insert(code);
  for (const auto& [code, n] : server.failures_by_code) codes.insert(code);
  for (const std::string& code : codes) {
    auto c = client.failures_by_code.find(code);
    auto s = server.failures_by_code.find(code);
    CrossCheckLine line{absl::StrCat("failed ", code),
                        c == client.failures_by_code.end() ? 0.0 : static_cast<double>(c->second),
                        s == server.failures_by_code.end() ? 0.0 : s->second, /*checked=*/true,
                        /*note=*/""};
    if (code == "CANCELLED" && raced > 0) {
      line.lower = std::max(0.0, line.client - raced);
      line.upper = line.client;
      line.note = absl::StrCat("bounded: up to ", raced,
                               " may have finished on the server before the cancel");
    }
    if (code == "DEADLINE_EXCEEDED" && line.client > 0) {
      // Each may have finished on the server first (a success there) or, if
      // its deadline expired before the server's handler ran (in the client,
      // on the wire, in gRPC's queue), never reached the server's count.
      line.lower = 0;
      line.upper = line.client;
      line.note = "bounded: each may have finished on the server first or expired unseen";
    }
    lines.push_back(std::move(line));
  }
  // Every call has exactly one outcome on each side; only calls that expired
  // before the server's handler ran can be missing there.
  {
    double server_total = server.requests_success;
    for (const auto& [code, n] : server.failures_by_code) server_total += n;
    const double client_total = client.completed + client.failed;
    auto deadline = client.failures_by_code.find("DEADLINE_EXCEEDED");
    const double may_miss =
        deadline == client.failures_by_code.end()
            ? 0.0
            : std::max(0, deadline->second - client.deadline_failures_with_tokens);
    CrossCheckLine total{"requests (every outcome)", client_total, server_total,
                         /*checked=*/true, /*note=*/""};
    if (may_miss > 0) {
      total.lower = client_total - may_miss;
      total.upper = client_total;
      total.note = absl::StrCat("bounded: up to ", may_miss, " deadlines may expire unseen");
    }
    lines.push_back(std::move(total));
  }
  // Failed requests whose prefill ran: counted in the server's token counters only.
  const double prefilled_failures = server.ttft_count - server.requests_success;
  // (A client cancel the server finished first is such a request too, counted
  // as a success there.)
  const bool tokens_comparable =
      client.failed == 0 || (prefilled_failures <= 0 && raced + deadlines == 0);
  const std::string token_note =
      tokens_comparable
          ? std::string()
          : absl::StrCat("not comparable: the server also counts ", prefilled_failures,
                         " failed request(s) whose prefill ran; the client only completed ones");
  CrossCheckLine prompt{"prompt tokens", static_cast<double>(client.total_input_tokens),
                        server.prompt_tokens, tokens_comparable, token_note};
  CrossCheckLine generation{"generation tokens", static_cast<double>(client.total_output_tokens),
                            server.generation_tokens, tokens_comparable, token_note};
  if (!tokens_comparable && client.failed_prompt_tokens_prefilled >= 0) {
    // Every failed request's prompt length is known: bound what the server counted.
    prompt.checked = generation.checked = true;
    prompt.lower = static_cast<double>(client.total_input_tokens + client.failed_prompt_tokens_prefilled);
    prompt.upper = *prompt.lower + static_cast<double>(client.failed_prompt_tokens_maybe);
    prompt.note = absl::StrCat("bounded: + ", client.failed_prompt_tokens_prefilled,
                               " of failed requests whose prefill ran, + up to ",
                               client.failed_prompt_tokens_maybe, " of those that got no token");
    generation.lower =
        static_cast<double>(client.total_output_tokens + client.failed_output_tokens_received);
    generation.upper =
        static_cast<double>(client.total_output_tokens + client.failed_output_tokens_max);
    generation.note = absl::StrCat("bounded: + ", client.failed_output_tokens_received,
                                   " received by failed requests, + up to max_tokens x n of each");
  }
  lines.push_back(std::move(prompt));
  lines.push_back(std::move(generation));
  lines.push_back({"mean TTFT (ms)", client.ttft_ms.mean,
                   server.ttft_count > 0 ? server.ttft_sum / server.ttft_count * 1e3 : 0.0,
                   /*checked=*/false, /*note=*/""});
  lines.push_back({"mean queue time (ms)", std::numeric_limits<double>::quiet_NaN(),
                   server.queue_count > 0 ? server.queue_sum / server.queue_count * 1e3 : 0.0,
                   /*checked=*/false, /*note=*/""});
  return lines;
}

bool AllAgree(const std::vector<CrossCheckLine>& lines) {
  for (const CrossCheckLine& line : lines) {
    if (!line.agrees()) return false;
  }
  return true;
}

absl::StatusOr<ServerCounters> ScrapeServerCounters(const std::string& url) {
  absl::StatusOr<std::string> body = HttpGet(url);
  if (!body.ok()) return body.status();
  absl::StatusOr<std::vector<PromSample>> samples = ParsePromText(*body);
  if (!samples.ok()) return samples.status();
  return ReadServerCounters(*samples);
}

}  // namespace llmserve::bench
