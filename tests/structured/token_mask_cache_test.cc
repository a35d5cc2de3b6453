// The per-position token-mask cache on bounded repetitions: an entry derived
// from a cached sibling of its chain (PushdownAutomaton::RepeatLink) equals
// the entry walked over the whole vocabulary in a fresh cache, the cache stays
// within its byte bound, and the masks of random generations equal brute
// force (every token's bytes run through the matcher).

#include "engine/structured/token_mask_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "engine/structured/grammar_source.h"
#include "engine/structured/pushdown_automaton.h"
#include "tests/structured/structured_test_util.h"

namespace llmserve::structured::testing {
namespace {

std::shared_ptr<const PushdownAutomaton> MustLower(const StructuredOutputParams& params) {
  absl::StatusOr<Grammar> grammar = BuildGrammar(params);
  EXPECT_TRUE(grammar.ok()) << grammar.status();
  if (!grammar.ok()) return nullptr;
  absl::StatusOr<std::shared_ptr<const PushdownAutomaton>> pda = PushdownAutomaton::Compile(*grammar, "test");
  EXPECT_TRUE(pda.ok()) << pda.status();
  return pda.ok() ? *pda : nullptr;
}

// The (pos, ret) pairs of every chain's family, deepest first: byte nodes of
// a referenced unit under the return position after it in o_k (k >= 2), and
// a byte-set unit at the start of o_k under the root.
std::vector<std::pair<int32_t, int32_t>> FamilyPairs(const PushdownAutomaton& pda) {
  std::vector<std::pair<int32_t, int32_t>> pairs;
  std::set<int32_t> chains;
  for (int32_t r = 0; r < pda.num_rules(); ++r) {
    if (pda.repeat_link(r).chain >= 0) chains.insert(pda.repeat_link(r).chain);
  }
  for (int32_t c : chains) {
    for (int32_t d = 64; d >= 1; --d) {
      const int32_t rule = pda.chain_rule(c, d);
      if (rule < 0) continue;
      const int32_t first = pda.alternatives(rule)[0];
      if (pda.node(first).kind == PdaNode::Kind::kBytes) {
        pairs.emplace_back(first, TokenMaskCache::kAtRoot);
      } else if (d >= 2) {
        // The unit's rule and the rules it calls last (tail calls: their
        // stacks return to the same place).
        const int32_t unit = pda.node(first).arg;
        std::set<int32_t> rules{unit};
        for (int32_t n = 0; n + 1 < static_cast<int32_t>(pda.nodes().size()); ++n) {
          if (pda.rule_of(n) == unit && pda.node(n).kind == PdaNode::Kind::kRef &&
              pda.node(n + 1).kind == PdaNode::Kind::kEnd) {
            rules.insert(pda.node(n).arg);
          }
        }
        for (int32_t pos = 0; pos < static_cast<int32_t>(pda.nodes().size()); ++pos) {
          if (rules.count(pda.rule_of(pos)) > 0 && PushdownAutomaton::IsByteNode(pda.node(pos).kind)) {
            pairs.emplace_back(pos, first + 1);
          }
        }
      }
    }
  }
  return pairs;
}

void ExpectDerivedEqualsFullWalk(const StructuredOutputParams& params, std::size_t min_pairs,
                                 std::size_t max_full_walks) {
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = MustLower(params);
  ASSERT_NE(pda, nullptr);
  const std::vector<std::pair<int32_t, int32_t>> pairs = FamilyPairs(*pda);
  ASSERT_GE(pairs.size(), min_pairs) << params.text;
  TokenMaskCache shared(pda, vocab);
  for (const auto& [pos, ret] : pairs) {
    std::shared_ptr<const PositionMask> derived = shared.Get(pos, ret);
    TokenMaskCache fresh(pda, vocab);
    std::shared_ptr<const PositionMask> walked = fresh.Get(pos, ret);
    ASSERT_EQ(fresh.num_derived(), 0u);
    EXPECT_EQ(derived->Bitmask(), walked->Bitmask()) << params.text << " pos " << pos << " ret " << ret;
    EXPECT_EQ(derived->uncertain, walked->uncertain) << params.text << " pos " << pos << " ret " << ret;
  }
  // Only the first entry of each family (and entries of depth 1, which share
  // no token with a sibling) walks the whole vocabulary.
  EXPECT_EQ(shared.size() - shared.num_derived(), max_full_walks) << params.text;
}

// Byte nodes of a JSON string character's rule (UTF-8 sequences split into
// byte ranges, escapes): one family each.
constexpr std::size_t kStringCharNodes = 35;

TEST(TokenMaskCacheTest, BoundedStringEntriesFromSiblingsEqualFullWalks) {
  // A JSON string's characters: a unit rule of UTF-8 and escape alternatives.
  ExpectDerivedEqualsFullWalk(SchemaParams(R"({"type":"string","maxLength":9})"), 20, kStringCharNodes);
}

TEST(TokenMaskCacheTest, EntriesOfAnotherStringsChainEqualFullWalks) {
  // Two bounded strings: units with the same nodes, the same FOLLOW set; the
  // second string's entries derive from the first's.
  ExpectDerivedEqualsFullWalk(
      SchemaParams(R"({"type":"object","properties":{"a":{"type":"string","maxLength":6},)"
                   R"("b":{"type":"string","maxLength":8},"c":{"type":"array","items":{"type":"string",)"
                   R"("maxLength":5}}},"required":["a","b","c"]})"),
      40, kStringCharNodes);
}

TEST(TokenMaskCacheTest, ByteSetChainEntriesFromSiblingsEqualFullWalks) {
  // More than 4 optional copies of one byte set: a chain of byte-set units.
  // Depth 1 shares nothing with depth 2: two full walks.
  ExpectDerivedEqualsFullWalk(RegexParams("[a-z ]{0,12}(,|\\.)"), 10, 2);
}

TEST(TokenMaskCacheTest, GroupChainEntriesFromSiblingsEqualFullWalks) {
  // A group unit whose alternatives have several bytes.
  // Seven byte nodes in the group's rule.
  ExpectDerivedEqualsFullWalk(RegexParams("x(ab|c[0-9]|de-)(ab|c[0-9]|de-){0,10}"), 10, 7);
}

TEST(TokenMaskCacheTest, TailCalledRuleEntriesFromSiblingsEqualFullWalks) {
  // Two chains of the same unit ("<" word), whose word is called last: the
  // places inside word under o_k return to o_k too (they are named by their
  // own position, not an offset in the unit's rule). 3 places ('<' and word's
  // two) per chain: the chains have different FOLLOW sets ('|' and the end).
  ExpectDerivedEqualsFullWalk(
      GrammarParams("root ::= (\"<\" word){0,6} \"|\" (\"<\" word){0,5}\nword ::= [a-z] [a-z0-9]*\n"), 20, 6);
}

TEST(TokenMaskCacheTest, ByteRunEntriesFromSiblingsEqualFullWalks) {
  // [0-9a-f]{8}: a run of 8 byte nodes of one set; each place under the root
  // and under the return position after the run's rule.
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = MustLower(RegexParams("([0-9a-f]{8}-)+x"));
  ASSERT_NE(pda, nullptr);
  std::vector<std::pair<int32_t, int32_t>> pairs;
  for (int32_t ret : {TokenMaskCache::kAtRoot, static_cast<int32_t>(pda->nodes().size()) - 1}) {
    for (int32_t pos = 0; pos < static_cast<int32_t>(pda->nodes().size()); ++pos) {
      if (pda->node(pos).kind == PdaNode::Kind::kBytes) pairs.emplace_back(pos, ret);
    }
  }
  ASSERT_GE(pairs.size(), 16u);
  TokenMaskCache shared(pda, vocab);
  for (const auto& [pos, ret] : pairs) {
    TokenMaskCache fresh(pda, vocab);
    EXPECT_EQ(shared.Get(pos, ret)->Bitmask(), fresh.Get(pos, ret)->Bitmask()) << pos << " " << ret;
    EXPECT_EQ(shared.Get(pos, ret)->uncertain, fresh.Get(pos, ret)->uncertain) << pos << " " << ret;
  }
  // Places 2..8 of the run under each return position came from a sibling.
  EXPECT_GE(shared.num_derived(), 12u);
}

// Every byte node under the root and under each return position after a call
// of its rule: entries with the self-loop shortcut equal plain walks.
void ExpectSelfLoopsEqualPlainWalks(const StructuredOutputParams& params) {
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = MustLower(params);
  ASSERT_NE(pda, nullptr);
  const int32_t num_nodes = static_cast<int32_t>(pda->nodes().size());
  TokenMaskCache shortcut(pda, vocab);
  TokenMaskCache plain(pda, vocab, TokenMaskCache::kDefaultMaxBytes, /*self_loops=*/false);
  int pairs = 0;
  for (int32_t pos = 0; pos < num_nodes; ++pos) {
    if (!PushdownAutomaton::IsByteNode(pda->node(pos).kind)) continue;
    std::vector<int32_t> rets{TokenMaskCache::kAtRoot};
    for (int32_t n = 0; n + 1 < num_nodes; ++n) {
      if (pda->node(n).kind == PdaNode::Kind::kRef && pda->node(n).arg == pda->rule_of(pos) &&
          pda->node(n + 1).kind != PdaNode::Kind::kEnd) {
        rets.push_back(n + 1);
      }
    }
    for (int32_t ret : rets) {
      ++pairs;
      EXPECT_EQ(shortcut.Get(pos, ret)->Bitmask(), plain.Get(pos, ret)->Bitmask()) << pos << " " << ret;
      EXPECT_EQ(shortcut.Get(pos, ret)->uncertain, plain.Get(pos, ret)->uncertain) << pos << " " << ret;
    }
  }
  EXPECT_GT(pairs, 20) << params.text;
  EXPECT_GT(shortcut.num_self_loop_entries(), 0u) << params.text;
  EXPECT_EQ(plain.num_self_loop_entries(), 0u);
}

TEST(TokenMaskCacheTest, SelfLoopShortcutEqualsPlainWalksOnJson) { ExpectSelfLoopsEqualPlainWalks(JsonObjectParams()); }

TEST(TokenMaskCacheTest, SelfLoopShortcutEqualsPlainWalksOnEmailAndNumbers) {
  ExpectSelfLoopsEqualPlainWalks(SchemaParams(
      R"({"type":"object","properties":{"e":{"type":"string","format":"email"},"n":{"type":"number"},)"
      R"("s":{"type":"string","pattern":"[a-z ]*x+"}},"required":["e","n","s"]})"));
}

// Every string of 1..5 bytes over {a, b, -, x} (1,364 tokens) and EOS: each
// derived entry is checked on all short continuations.
std::shared_ptr<const StructuredVocabulary> SmallAlphabetVocabulary() {
  std::vector<std::string> tokens;
  std::vector<std::string> level{""};
  for (int len = 1; len <= 5; ++len) {
    std::vector<std::string> next;
    for (const std::string& p : level) {
      for (char c : std::string("ab-x")) next.push_back(p + c);
    }
    tokens.insert(tokens.end(), next.begin(), next.end());
    level = std::move(next);
  }
  tokens.push_back("");  // EOS
  const int32_t eos = static_cast<int32_t>(tokens.size()) - 1;
  return *StructuredVocabulary::FromTokenBytes(std::move(tokens), {eos});
}

// All (byte node, return position) pairs of `params`' automaton on the small
// alphabet, deepest family members first: derived entries equal full walks.
void ExpectAllPairsEqualFullWalksOnSmallAlphabet(const StructuredOutputParams& params) {
  std::shared_ptr<const StructuredVocabulary> vocab = SmallAlphabetVocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = MustLower(params);
  ASSERT_NE(pda, nullptr);
  const int32_t num_nodes = static_cast<int32_t>(pda->nodes().size());
  std::vector<int32_t> rets{TokenMaskCache::kAtRoot};
  for (int32_t n = 0; n + 1 < num_nodes; ++n) {
    if (pda->node(n).kind == PdaNode::Kind::kRef && pda->node(n + 1).kind != PdaNode::Kind::kEnd) rets.push_back(n + 1);
  }
  TokenMaskCache shared(pda, vocab);
  for (int32_t ret : rets) {
    for (int32_t pos = 0; pos < num_nodes; ++pos) {
      if (!PushdownAutomaton::IsByteNode(pda->node(pos).kind)) continue;
      TokenMaskCache fresh(pda, vocab, TokenMaskCache::kDefaultMaxBytes, /*self_loops=*/false);
      EXPECT_EQ(shared.Get(pos, ret)->Bitmask(), fresh.Get(pos, ret)->Bitmask()) << pos << " " << ret;
      EXPECT_EQ(shared.Get(pos, ret)->uncertain, fresh.Get(pos, ret)->uncertain) << pos << " " << ret;
    }
  }
  EXPECT_GT(shared.num_derived(), 5u) << params.text;
}

TEST(TokenMaskCacheTest, RunsAndChainsOnEveryShortStringEqualFullWalks) {
  // A run of 4 (x{4}), a chain of byte sets (x{0,6}) and a chain of groups,
  // each followed by bytes the repetition also matches.
  ExpectAllPairsEqualFullWalksOnSmallAlphabet(RegexParams("([ab]{4}-)+x"));
  ExpectAllPairsEqualFullWalksOnSmallAlphabet(RegexParams("x[ab-]{0,6}-?a"));
  ExpectAllPairsEqualFullWalksOnSmallAlphabet(RegexParams("(a-|b){0,7}(b|-x)"));
}

TEST(TokenMaskCacheTest, StaysWithinItsByteBound) {
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = MustLower(RegexParams("[a-z ]{0,12}(,|\\.)"));
  ASSERT_NE(pda, nullptr);
  const std::vector<std::pair<int32_t, int32_t>> pairs = FamilyPairs(*pda);
  ASSERT_GE(pairs.size(), 10u);
  const std::size_t words = (vocab->vocab_size() + 31) / 32;
  // Room for three bitmasks (and a few uncertain ids).
  const std::size_t bound = 3 * (4 * words + sizeof(PositionMask)) + 4096;
  TokenMaskCache bounded(pda, vocab, bound);
  std::vector<std::shared_ptr<const PositionMask>> held;
  for (const auto& [pos, ret] : pairs) {
    held.push_back(bounded.Get(pos, ret));
    EXPECT_LE(bounded.bytes(), bound);
    EXPECT_LE(bounded.size(), 3u);
    TokenMaskCache fresh(pda, vocab);
    EXPECT_EQ(held.back()->Bitmask(), fresh.Get(pos, ret)->Bitmask());
  }
  // Entries handed out before an eviction stay valid.
  TokenMaskCache fresh(pda, vocab);
  EXPECT_EQ(held.front()->Bitmask(), fresh.Get(pairs.front().first, pairs.front().second)->Bitmask());
}

TEST(TokenMaskCacheTest, TwoThreadsWithEvictionsGetFullWalkEntries) {
  // Two threads take one bounded string's entries in opposite orders from a
  // cache with room for 4 entries, so entries derive from siblings computed
  // by the other thread and the cache is emptied while entries are in use.
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = MustLower(SchemaParams(R"({"type":"string","maxLength":7})"));
  ASSERT_NE(pda, nullptr);
  const std::vector<std::pair<int32_t, int32_t>> pairs = FamilyPairs(*pda);
  ASSERT_GE(pairs.size(), 20u);
  const std::size_t words = (vocab->vocab_size() + 31) / 32;
  TokenMaskCache shared(pda, vocab, 4 * (4 * words + sizeof(PositionMask)) + 4096);
  std::vector<std::shared_ptr<const PositionMask>> forward(pairs.size()), backward(pairs.size());
  std::thread other([&] {
    for (std::size_t i = pairs.size(); i-- > 0;) backward[i] = shared.Get(pairs[i].first, pairs[i].second);
  });
  for (std::size_t i = 0; i < pairs.size(); ++i) forward[i] = shared.Get(pairs[i].first, pairs[i].second);
  other.join();
  EXPECT_LE(shared.bytes(), 4 * (4 * words + sizeof(PositionMask)) + 4096);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    TokenMaskCache fresh(pda, vocab);
    std::shared_ptr<const PositionMask> walked = fresh.Get(pairs[i].first, pairs[i].second);
    EXPECT_EQ(forward[i]->Bitmask(), walked->Bitmask()) << i;
    EXPECT_EQ(backward[i]->Bitmask(), walked->Bitmask()) << i;
    EXPECT_EQ(forward[i]->uncertain, walked->uncertain) << i;
    EXPECT_EQ(backward[i]->uncertain, walked->uncertain) << i;
  }
}

TEST(TokenMaskCacheTest, BoundedStringMasksEqualBruteForce) {
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  const StructuredOutputParams params = SchemaParams(
      R"({"type":"object","properties":{"a":{"type":"string","minLength":2,"maxLength":14},)"
      R"("b":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":3}},"required":["a","b"]})");
  std::shared_ptr<const CompiledStructuredOutput> compiled = MustCompile(vocab, params);
  ASSERT_NE(compiled, nullptr);
  auto matcher = NewMatcher(compiled);
  std::mt19937 rng(23);
  for (int i = 0; i < 4; ++i) {
    matcher->Reset();
    Walk w = RandomWalk(*matcher, *vocab, rng, 40, /*check_masks=*/true);
    ASSERT_FALSE(w.dead_end) << w.text;
  }
  const auto& grammar = static_cast<const CompiledGrammar&>(*compiled);
  EXPECT_GT(grammar.mask_cache().num_derived(), 0u);
}

}  // namespace
}  // namespace llmserve::structured::testing
