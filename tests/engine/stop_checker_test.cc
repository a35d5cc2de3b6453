// Stop strings over streamed text: matches spanning appends, the earliest of
// several stop strings, multi-byte UTF-8, held-back text released on flush,
// and streamed output never containing any part of a stop string.
#include "engine/stop_checker.h"

#include <gtest/gtest.h>

#include <random>

namespace llmserve {
namespace {

// Feeds `pieces` one by one; returns the released text and whether it stopped.
std::pair<std::string, bool> Feed(std::vector<std::string> stop, const std::vector<std::string>& pieces) {
  StopChecker checker(std::move(stop));
  std::string out;
  for (const std::string& p : pieces) {
    bool stopped = false;
    out += checker.Append(p, &stopped);
    if (stopped) return {out, true};
  }
  return {out + checker.Flush(), false};
}

TEST(StopCheckerTest, NoStopStringsPassesTextThrough) {
  EXPECT_EQ(Feed({}, {"a", "bc", ""}), std::make_pair(std::string("abc"), false));
}

TEST(StopCheckerTest, MatchSpanningAppendsIsCutBeforeTheStopString) {
  EXPECT_EQ(Feed({"END"}, {"hello E", "N", "D and more"}), std::make_pair(std::string("hello "), true));
}

TEST(StopCheckerTest, EarliestOfSeveralStopStringsWins) {
  EXPECT_EQ(Feed({"xyz", "b"}, {"a", "bxyz"}), std::make_pair(std::string("a"), true));
  // "abcde" starts before "cd": the earliest occurrence decides, even though
  // "cd" is completed too.
  EXPECT_EQ(Feed({"cd", "abcde"}, {"ab", "cde"}), std::make_pair(std::string(""), true));
}

TEST(StopCheckerTest, HeldBackPrefixIsReleasedWhenItTurnsOutNotToMatch) {
  StopChecker checker({"STOP"});
  bool stopped = false;
  EXPECT_EQ(checker.Append("go ST", &stopped), "go ");  // "ST" might start "STOP"
  EXPECT_FALSE(stopped);
  EXPECT_EQ(checker.Append("ART", &stopped), "START");
  EXPECT_EQ(checker.Append("S", &stopped), "");
  EXPECT_EQ(checker.Flush(), "S");
}

TEST(StopCheckerTest, MultiByteStopString) {
  EXPECT_EQ(Feed({"🙂"}, {"smile ", "\xF0\x9F", "\x99\x82", " after"}),
            std::make_pair(std::string("smile "), true));
}

// Streamed text never holds any full stop string, and the concatenation is
// the text up to the first occurrence.
TEST(StopCheckerTest, RandomStreamsMatchOneShotSearch) {
  std::mt19937 rng(5);
  const std::vector<std::string> stops = {"aab", "ba", "ccc"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int n = 1 + rng() % 30;
    for (int i = 0; i < n; ++i) text += "abc"[rng() % 3];
    std::vector<std::string> pieces;
    for (std::size_t i = 0; i < text.size();) {
      const std::size_t len = 1 + rng() % 4;
      pieces.push_back(text.substr(i, len));
      i += len;
    }
    std::size_t first = std::string::npos;
    for (const std::string& s : stops) first = std::min(first, text.find(s));
    const auto [out, stopped] = Feed(stops, pieces);
    EXPECT_EQ(stopped, first != std::string::npos) << text;
    EXPECT_EQ(out, text.substr(0, first)) << text;
  }
}

}  // namespace
}  // namespace llmserve
