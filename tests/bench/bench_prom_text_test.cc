// The Prometheus text-format parser against hand-written expositions in the
// documented format (https://prometheus.io/docs/instrumenting/exposition_formats/).

#include "client/bench/prom_text.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace llmserve::bench {
namespace {

using ::testing::HasSubstr;

TEST(PromTextTest, ParsesSamplesLabelsAndSkipsComments) {
  const std::string text =
      "# HELP llmserve_request_success_total Finished requests.\n"
      "# TYPE llmserve_request_success_total counter\n"
      "llmserve_request_success_total{model=\"m\",finish_reason=\"length\"} 12\n"
      "llmserve_request_success_total{model=\"m\",finish_reason=\"eos\"} 3\n"
      "\n"
      "llmserve_prompt_tokens_total{model=\"m\"} 1.5e3\n"
      "plain_metric 7 1700000000000\n"
      "  indented{a=\"b\",} -2.25\r\n";
  absl::StatusOr<std::vector<PromSample>> samples = ParsePromText(text);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 5u);
  EXPECT_EQ((*samples)[0].name, "llmserve_request_success_total");
  EXPECT_EQ((*samples)[0].labels.at("finish_reason"), "length");
  EXPECT_EQ((*samples)[0].value, 12);
  EXPECT_EQ((*samples)[2].value, 1500);
  EXPECT_EQ((*samples)[3].name, "plain_metric");
  EXPECT_TRUE((*samples)[3].labels.empty());
  EXPECT_EQ((*samples)[3].value, 7);
  EXPECT_EQ((*samples)[4].labels.at("a"), "b");
  EXPECT_EQ((*samples)[4].value, -2.25);
  EXPECT_EQ(SumSamples(*samples, "llmserve_request_success_total"), 15);
  EXPECT_EQ(SumSamples(*samples, "llmserve_request_success_total", {{"finish_reason", "eos"}}), 3);
  EXPECT_EQ(SumSamples(*samples, "absent"), 0);
}

TEST(PromTextTest, EscapesAndSpecialValues) {
  const std::string text =
      "m{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\",comma=\"x,y}\"} +Inf\n"
      "h_bucket{le=\"+Inf\"} NaN\n"
      "g -Inf\n"
      "prometheus_cpp_nan Nan\n";
  absl::StatusOr<std::vector<PromSample>> samples = ParsePromText(text);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 4u);
  EXPECT_EQ((*samples)[0].labels.at("path"), "C:\\dir");
  EXPECT_EQ((*samples)[0].labels.at("quote"), "say \"hi\"");
  EXPECT_EQ((*samples)[0].labels.at("nl"), "a\nb");
  EXPECT_EQ((*samples)[0].labels.at("comma"), "x,y}");
  EXPECT_TRUE(std::isinf((*samples)[0].value) && (*samples)[0].value > 0);
  EXPECT_EQ((*samples)[1].labels.at("le"), "+Inf");
  EXPECT_TRUE(std::isnan((*samples)[1].value));
  EXPECT_TRUE(std::isinf((*samples)[2].value) && (*samples)[2].value < 0);
  EXPECT_TRUE(std::isnan((*samples)[3].value));
}

TEST(PromTextTest, ErrorsNameTheLine) {
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"ok 1\nbad{a=\"b\" 1\n", "line 2"},
           {"m{a=\"unterminated} 1\n", "unterminated"},
           {"m{a=b} 1\n", "expected '\"'"},
           {"m 1x\n", "bad value"},
           {"m\n", "expected a value"},
           {"m 1 2 3\n", "unexpected text"},
           {"m{a=\"\\q\"} 1\n", "bad escape"},
           {"m{a=\"1\",a=\"2\"} 1\n", "repeated"},
           {"9m 1\n", "metric name"},
           {"m 1 notatime\n", "bad timestamp"},
       }) {
    absl::StatusOr<std::vector<PromSample>> samples = ParsePromText(text);
    ASSERT_FALSE(samples.ok()) << text;
    EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(samples.status().message()), HasSubstr(what)) << text;
  }
}

}  // namespace
}  // namespace llmserve::bench
