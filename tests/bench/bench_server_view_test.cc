// The bench's cross-check of its own counts against the server's /metrics
// delta, on synthetic counters: counts must be equal, except prompt and
// generation tokens when failed requests had their prefill run (the server
// counts those, the client cannot): bounded by what the client knows of the
// failed requests (token-id prompts), else shown unchecked with a note.

#include "client/bench/server_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/bench/report.h"

namespace llmserve::bench {
namespace {

using ::testing::HasSubstr;

const CrossCheckLine& Line(const std::vector<CrossCheckLine>& lines, const std::string& name) {
  for (const CrossCheckLine& line : lines) {
    if (line.name == name) return line;
  }
  static const CrossCheckLine kMissing{"missing", 0, 0, true, ""};
  ADD_FAILURE() << "no line " << name;
  return kMissing;
}

/// 3 completed requests (30 prompt, 12 generated tokens) and `failed`
/// DEADLINE_EXCEEDED failures, each after a token, with text prompts (lengths
/// unknown to the client), as the client saw them.
RunStats Client(int failed) {
  RunStats s;
  s.completed = 3;
  s.failed = failed;
  if (failed > 0) s.failures_by_code["DEADLINE_EXCEEDED"] = failed;
  s.total_input_tokens = 30;
  s.total_output_tokens = 12;
  s.failed_prompt_tokens_prefilled = s.failed_prompt_tokens_maybe = failed > 0 ? -1 : 0;
  s.deadline_failures_with_tokens = failed;  // each had received a token
  return s;
}

TEST(CrossCheckTest, TokenCountsAreCheckedWhenNoRequestFailed) {
  ServerCounters server;
  server.requests_success = 3;
  server.prompt_tokens = 30;
  server.generation_tokens = 12;
  server.ttft_count = 3;
  std::vector<CrossCheckLine> lines = CrossCheck(Client(0), server);
  EXPECT_TRUE(AllAgree(lines));
  EXPECT_TRUE(Line(lines, "prompt tokens").checked);
  EXPECT_TRUE(Line(lines, "generation tokens").checked);
  // A server-side surplus without client failures is a real disagreement.
  server.prompt_tokens = 31;
  server.ttft_count = 4;
  lines = CrossCheck(Client(0), server);
  EXPECT_FALSE(AllAgree(lines));
  EXPECT_FALSE(Line(lines, "prompt tokens").agrees());
}

TEST(CrossCheckTest, FailuresBeforePrefillKeepTokenCountsChecked) {
  // Refused before the engine at the queue limit: no TTFT, no tokens counted.
  // (Deadlines would not do: a call the client saw expire may have finished
  // on the server.)
  RunStats client = Client(0);
  client.failed = 2;
  client.failures_by_code["RESOURCE_EXHAUSTED"] = 2;
  ServerCounters server;
  server.requests_success = 3;
  server.failures_by_code["RESOURCE_EXHAUSTED"] = 2;
  server.prompt_tokens = 30;
  server.generation_tokens = 12;
  server.ttft_count = 3;
  std::vector<CrossCheckLine> lines = CrossCheck(client, server);
  EXPECT_TRUE(AllAgree(lines));
  EXPECT_TRUE(Line(lines, "prompt tokens").checked);
  EXPECT_TRUE(Line(lines, "generation tokens").checked);
  EXPECT_TRUE(Line(lines, "failed RESOURCE_EXHAUSTED").checked);
  EXPECT_FALSE(Line(lines, "failed RESOURCE_EXHAUSTED").lower.has_value());  // exact
  server.generation_tokens = 13;
  EXPECT_FALSE(AllAgree(CrossCheck(client, server)));
  server.generation_tokens = 12;
  server.failures_by_code["RESOURCE_EXHAUSTED"] = 1;
  EXPECT_FALSE(AllAgree(CrossCheck(client, server)));
}

TEST(CrossCheckTest, FailuresAfterPrefillMakeTokenCountsNotComparable) {
  // 2 requests failed after their prefill (deadline mid-decode): the server
  // counts their 20 prompt and 7 generated tokens, the client cannot.
  ServerCounters server;
  server.requests_success = 3;
  server.failures_by_code["DEADLINE_EXCEEDED"] = 2;
  server.prompt_tokens = 50;
  server.generation_tokens = 19;
  server.ttft_count = 5;
  const std::vector<CrossCheckLine> lines = CrossCheck(Client(2), server);
  EXPECT_TRUE(AllAgree(lines));
  for (const char* name : {"prompt tokens", "generation tokens"}) {
    const CrossCheckLine& line = Line(lines, name);
    EXPECT_FALSE(line.checked) << name;
    EXPECT_THAT(line.note, HasSubstr("not comparable")) << name;
    EXPECT_THAT(line.note, HasSubstr("2 failed request")) << name;
  }
  // The request counts stay checked.
  EXPECT_TRUE(Line(lines, "completed requests").checked);
  EXPECT_TRUE(Line(lines, "failed DEADLINE_EXCEEDED").checked);
  ServerCounters wrong = server;
  wrong.failures_by_code["DEADLINE_EXCEEDED"] = 1;
  EXPECT_FALSE(AllAgree(CrossCheck(Client(2), wrong)));
  // The printed table names the reason instead of MISMATCH.
  const std::string table = FormatCrossCheck(lines);
  EXPECT_THAT(table, HasSubstr("not comparable"));
  EXPECT_THAT(table, ::testing::Not(HasSubstr("MISMATCH")));
}

TEST(CrossCheckTest, DeadlineFailuresTheServerFinishedOrNeverSawAreAllowed) {
  // 4 deadline failures on the client, 1 of which had received a token. On
  // the server each may have expired (DEADLINE_EXCEEDED), finished first (a
  // success) or, without a token, never reached the handler (no count).
  RunStats client = Client(4);
  client.deadline_failures_with_tokens = 1;
  ServerCounters server;
  server.prompt_tokens = 30;
  server.generation_tokens = 12;
  server.ttft_count = 3;
  // {successes, DEADLINE_EXCEEDED} on the server.
  for (auto [success, seen] : std::vector<std::pair<double, double>>{
           {3, 4}, {3, 1}, {3, 3}, {5, 2}, {7, 0}, {4, 0}}) {
    server.requests_success = success;
    server.failures_by_code["DEADLINE_EXCEEDED"] = seen;
    const std::vector<CrossCheckLine> lines = CrossCheck(client, server);
    EXPECT_TRUE(AllAgree(lines)) << success << " " << seen << "\n" << FormatCrossCheck(lines);
  }
  // Too many outcomes, too few (more unseen than deadlines without a token),
  // fewer successes than the client's.
  for (auto [success, seen] : std::vector<std::pair<double, double>>{
           {3, 5}, {8, 0}, {3, 0}, {2, 4}}) {
    server.requests_success = success;
    server.failures_by_code["DEADLINE_EXCEEDED"] = seen;
    EXPECT_FALSE(AllAgree(CrossCheck(client, server))) << success << " " << seen;
  }
  // Other codes stay exact.
  server.requests_success = 3;
  server.failures_by_code["DEADLINE_EXCEEDED"] = 4;
  client.failed = 5;
  client.failures_by_code["CANCELLED"] = 1;
  EXPECT_FALSE(AllAgree(CrossCheck(client, server)));
  server.failures_by_code["CANCELLED"] = 1;
  EXPECT_TRUE(AllAgree(CrossCheck(client, server)));
}

TEST(CrossCheckTest, ClientCancelsTheServerFinishedFirstAreAllowed) {
  // 2 client cancels that ended CANCELLED on the client: either may have
  // finished on the server first (a success there); the total is exact.
  RunStats client = Client(0);
  client.failed = 2;
  client.failures_by_code["CANCELLED"] = 2;
  client.client_cancels_ended_cancelled = 2;
  client.failed_prompt_tokens_prefilled = client.failed_prompt_tokens_maybe = -1;
  ServerCounters server;
  server.ttft_count = 3;  // tokens stay comparable: no failure ran its prefill there
  server.prompt_tokens = 30;
  server.generation_tokens = 12;
  for (int finished_first : {0, 1, 2}) {
    server.requests_success = 3 + finished_first;
    server.failures_by_code["CANCELLED"] = 2 - finished_first;
    server.ttft_count = 3 + finished_first;
    const std::vector<CrossCheckLine> lines = CrossCheck(client, server);
    EXPECT_TRUE(AllAgree(lines)) << finished_first << "\n" << FormatCrossCheck(lines);
    EXPECT_EQ(Line(lines, "requests (every outcome)").server, 5);
  }
  // A lost outcome (4 of 5 calls counted) or an extra one is still caught.
  server.requests_success = 3;
  server.failures_by_code["CANCELLED"] = 1;
  EXPECT_FALSE(AllAgree(CrossCheck(client, server)));
  server.requests_success = 4;
  server.failures_by_code["CANCELLED"] = 2;
  EXPECT_FALSE(AllAgree(CrossCheck(client, server)));
}

TEST(CrossCheckTest, FailedRequestsWithKnownPromptsBoundTheTokenCounts) {
  // 3 completed (30 prompt, 12 generated tokens); 3 failed with token-id
  // prompts: 2 received tokens (prompts 10 + 10, 5 tokens received, up to 16
  // generable), 1 received none (prompt 10, up to 8 generable).
  RunStats client = Client(0);
  client.failed = 3;
  client.failures_by_code["CANCELLED"] = 3;
  client.failed_prompt_tokens_prefilled = 20;
  client.failed_prompt_tokens_maybe = 10;
  client.failed_output_tokens_received = 5;
  client.failed_output_tokens_max = 24;
  ServerCounters server;
  server.requests_success = 3;
  server.failures_by_code["CANCELLED"] = 3;
  server.ttft_count = 5;  // the 2 failed requests with tokens had their prefill
  server.prompt_tokens = 50;
  server.generation_tokens = 12 + 9;  // more than the client received: generated, not delivered
  std::vector<CrossCheckLine> lines = CrossCheck(client, server);
  EXPECT_TRUE(AllAgree(lines)) << FormatCrossCheck(lines);
  const CrossCheckLine& prompt = Line(lines, "prompt tokens");
  EXPECT_TRUE(prompt.checked);
  EXPECT_EQ(prompt.lower, 50);
  EXPECT_EQ(prompt.upper, 60);
  const CrossCheckLine& generation = Line(lines, "generation tokens");
  EXPECT_TRUE(generation.checked);
  EXPECT_EQ(generation.lower, 17);
  EXPECT_EQ(generation.upper, 36);
  EXPECT_THAT(FormatCrossCheck(lines), HasSubstr("50..60"));
  // The third request's prefill may have run too.
  server.prompt_tokens = 60;
  EXPECT_TRUE(AllAgree(CrossCheck(client, server)));
  // Outside the bounds: fewer prompt tokens than the prefills that surely ran,
  // fewer generated tokens than the client received, more than could be.
  for (auto [prompt_tokens, generation_tokens] :
       std::vector<std::pair<double, double>>{{49, 21}, {61, 21}, {50, 16}, {50, 37}}) {
    server.prompt_tokens = prompt_tokens;
    server.generation_tokens = generation_tokens;
    lines = CrossCheck(client, server);
    EXPECT_FALSE(AllAgree(lines)) << prompt_tokens << " " << generation_tokens;
    EXPECT_THAT(FormatCrossCheck(lines), HasSubstr("MISMATCH"));
  }
}

TEST(CrossCheckTest, TableShowsLargeCountsAsIntegers) {
  RunStats client = Client(0);
  client.completed = 4096;
  client.total_input_tokens = 1374430;
  client.total_output_tokens = 262144;
  client.ttft_ms.mean = 1234.5678;
  ServerCounters server;
  server.requests_success = 4096;
  server.prompt_tokens = 1374430;
  server.generation_tokens = 262144;
  server.ttft_sum = 3;
  server.ttft_count = 4096;
  const std::string table = FormatCrossCheck(CrossCheck(client, server));
  EXPECT_THAT(table, HasSubstr("1374430      1374430  ok"));
  EXPECT_THAT(table, HasSubstr("262144       262144  ok"));
  EXPECT_THAT(table, HasSubstr("1234.57"));  // a mean keeps 2 decimals
  EXPECT_THAT(table, ::testing::Not(HasSubstr("e+")));
}

}  // namespace
}  // namespace llmserve::bench
