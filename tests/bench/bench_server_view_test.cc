// The bench's cross-check of its own counts against the server's /metrics
// delta, on synthetic counters: counts must be equal, except prompt and
// generation tokens when failed requests had their prefill run (the server
// counts those, the client cannot), which are shown unchecked with a note.

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
/// DEADLINE_EXCEEDED failures, as the client saw them.
RunStats Client(int failed) {
  RunStats s;
  s.completed = 3;
  s.failed = failed;
  if (failed > 0) s.failures_by_code["DEADLINE_EXCEEDED"] = failed;
  s.total_input_tokens = 30;
  s.total_output_tokens = 12;
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
  // Refused before the engine (e.g. queue limit): no TTFT, no tokens counted.
  ServerCounters server;
  server.requests_success = 3;
  server.failures_by_code["DEADLINE_EXCEEDED"] = 2;
  server.prompt_tokens = 30;
  server.generation_tokens = 12;
  server.ttft_count = 3;
  std::vector<CrossCheckLine> lines = CrossCheck(Client(2), server);
  EXPECT_TRUE(AllAgree(lines));
  EXPECT_TRUE(Line(lines, "prompt tokens").checked);
  EXPECT_TRUE(Line(lines, "generation tokens").checked);
  EXPECT_TRUE(Line(lines, "failed DEADLINE_EXCEEDED").checked);
  server.generation_tokens = 13;
  EXPECT_FALSE(AllAgree(CrossCheck(Client(2), server)));
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

}  // namespace
}  // namespace llmserve::bench
