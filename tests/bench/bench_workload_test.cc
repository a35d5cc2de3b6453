// Workloads: lengths and ids of the random and prefix workloads, and the JSONL
// and ShareGPT file formats (with their errors).

#include "client/bench/workload.h"

#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace llmserve::bench {
namespace {

using ::testing::HasSubstr;

TEST(WorkloadTest, RandomHasRequestedLengthsAndIds) {
  RandomWorkloadOptions o;
  o.num_requests = 200;
  o.input_len = 40;
  o.output_len = 20;
  o.range_ratio = 0.5;
  o.vocab_size = 50;
  o.excluded_ids = {1, 2};
  o.seed = 3;
  absl::StatusOr<std::vector<BenchRequest>> w = RandomWorkload(o);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 200u);
  std::set<size_t> input_lengths;
  std::set<uint32_t> ids;
  for (const BenchRequest& r : *w) {
    EXPECT_TRUE(r.text.empty());
    EXPECT_GE(r.token_ids.size(), 20u);
    EXPECT_LE(r.token_ids.size(), 60u);
    EXPECT_GE(r.max_tokens, 10);
    EXPECT_LE(r.max_tokens, 30);
    input_lengths.insert(r.token_ids.size());
    ids.insert(r.token_ids.begin(), r.token_ids.end());
  }
  EXPECT_GT(input_lengths.size(), 10u);  // spread, not one length
  EXPECT_EQ(ids.size(), 48u);            // every allowed id drawn, none excluded
  EXPECT_EQ(ids.count(1) + ids.count(2), 0u);
  EXPECT_LT(*ids.rbegin(), 50u);

  o.range_ratio = 0;
  w = RandomWorkload(o);
  ASSERT_TRUE(w.ok());
  for (const BenchRequest& r : *w) {
    EXPECT_EQ(r.token_ids.size(), 40u);
    EXPECT_EQ(r.max_tokens, 20);
  }
  // Same seed, same workload.
  absl::StatusOr<std::vector<BenchRequest>> again = RandomWorkload(o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[7].token_ids, (*w)[7].token_ids);
}

TEST(WorkloadTest, RandomRejectsBadOptions) {
  RandomWorkloadOptions o;
  o.num_requests = 1;
  o.input_len = 1;
  o.output_len = 1;
  o.vocab_size = 10;
  ASSERT_TRUE(RandomWorkload(o).ok());
  auto bad = o;
  bad.input_len = 0;
  EXPECT_THAT(std::string(RandomWorkload(bad).status().message()), HasSubstr("input_len"));
  bad = o;
  bad.range_ratio = 1;
  EXPECT_THAT(std::string(RandomWorkload(bad).status().message()), HasSubstr("range_ratio"));
  bad = o;
  bad.vocab_size = 2;
  bad.excluded_ids = {0, 1};
  EXPECT_THAT(std::string(RandomWorkload(bad).status().message()), HasSubstr("no token id"));
}

TEST(WorkloadTest, PrefixSharesPrefixesWithDistinctSuffixes) {
  PrefixWorkloadOptions o;
  o.num_prefixes = 3;
  o.suffixes_per_prefix = 4;
  o.prefix_len = 32;
  o.suffix_len = 8;
  o.output_len = 5;
  o.vocab_size = 1000;
  absl::StatusOr<std::vector<BenchRequest>> w = PrefixWorkload(o);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 12u);
  std::map<std::vector<uint32_t>, int> prefixes;
  std::set<std::vector<uint32_t>> prompts;
  for (size_t i = 0; i < w->size(); ++i) {
    const BenchRequest& r = (*w)[i];
    ASSERT_EQ(r.token_ids.size(), 40u);
    EXPECT_EQ(r.max_tokens, 5);
    const std::vector<uint32_t> prefix(r.token_ids.begin(), r.token_ids.begin() + 32);
    ++prefixes[prefix];
    prompts.insert(r.token_ids);
    // Interleaved: request i uses prefix i % 3.
    EXPECT_EQ(prefix, std::vector<uint32_t>((*w)[i % 3].token_ids.begin(),
                                            (*w)[i % 3].token_ids.begin() + 32));
  }
  EXPECT_EQ(prefixes.size(), 3u);
  for (const auto& [prefix, n] : prefixes) EXPECT_EQ(n, 4);
  EXPECT_EQ(prompts.size(), 12u);
}

TEST(WorkloadTest, JsonlLines) {
  absl::StatusOr<std::vector<BenchRequest>> w = ParseJsonl(
      "{\"prompt\": \"Once upon a time\", \"max_tokens\": 7}\n"
      "\n"
      "{\"prompt\": \"caf\\u00e9\"}\n",
      16);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].text, "Once upon a time");
  EXPECT_EQ((*w)[0].max_tokens, 7);
  EXPECT_EQ((*w)[1].text, "caf\xc3\xa9");
  EXPECT_EQ((*w)[1].max_tokens, 16);
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"{\"prompt\": \"a\"}\n{oops\n", "line 2: not valid JSON"},
           {"[1]\n", "not a JSON object"},
           {"{\"text\": \"a\"}\n", "\"prompt\""},
           {"{\"prompt\": 3}\n", "\"prompt\""},
           {"{\"prompt\": \"a\", \"max_tokens\": 0}\n", "max_tokens"},
           {"{\"prompt\": \"a\", \"max_tokens\": 1.5}\n", "max_tokens"},
           {"\n\n", "no requests"}}) {
    absl::StatusOr<std::vector<BenchRequest>> bad = ParseJsonl(text, 16);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(what)) << text;
  }
}

TEST(WorkloadTest, ShareGptFirstHumanTurnAndReplyLength) {
  const std::string file = R"([
    {"id": "a", "conversations": [{"from": "human", "value": "hello there"},
                                   {"from": "gpt", "value": "four words long reply"},
                                   {"from": "human", "value": "ignored"}]},
    {"id": "b", "conversations": [{"from": "human", "value": "alone"}]},
    {"id": "c", "conversations": [{"from": "system", "value": "sys"},
                                   {"from": "human", "value": "second"},
                                   {"from": "gpt", "value": "x"}]},
    {"id": "d"}
  ])";
  // One token per word.
  TokenCounter words = [](const std::string& text) -> absl::StatusOr<int> {
    int n = text.empty() ? 0 : 1;
    for (char c : text) n += c == ' ';
    return n;
  };
  ASSERT_TRUE(LooksLikeShareGpt(file));
  EXPECT_FALSE(LooksLikeShareGpt("{\"prompt\": \"a\"}"));
  absl::StatusOr<std::vector<BenchRequest>> w = ParseShareGpt(file, words, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].text, "hello there");
  EXPECT_EQ((*w)[0].max_tokens, 4);
  EXPECT_EQ((*w)[1].text, "second");
  EXPECT_EQ((*w)[1].max_tokens, 1);
  EXPECT_EQ(ParseShareGpt(file, words, 1).value().size(), 1u);
  EXPECT_FALSE(ParseShareGpt("{}", words, 0).ok());
  EXPECT_FALSE(ParseShareGpt("[]", words, 0).ok());
  TokenCounter failing = [](const std::string&) -> absl::StatusOr<int> {
    return absl::UnavailableError("server down");
  };
  EXPECT_EQ(ParseShareGpt(file, failing, 0).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace llmserve::bench
