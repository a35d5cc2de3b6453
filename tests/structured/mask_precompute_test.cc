// The compile-time precompute of the token-mask cache (TokenMaskCache::
// Precompute, StructuredOutputCompiler with precompute_masks): on the order
// schema a whole generation over GPT-2's vocabulary meets only precomputed
// entries, each equal to a plain whole-vocabulary walk, and every step's mask
// equals the one of a lazily filled cache; the budget leaves the rest lazy;
// an emptied cache keeps the pinned entries; concurrent compiles of one
// constraint compile once.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/structured/grammar_source.h"
#include "engine/structured/pushdown_automaton.h"
#include "engine/structured/token_mask_cache.h"
#include "engine/tokenizer/gpt2_tokenizer.h"
#include "tests/structured/structured_test_util.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {
namespace {

using llmserve::testing::ReadFile;
using llmserve::testing::SharedPath;
using llmserve::testing::SourcePath;

StructuredOutputParams OrderSchema() {
  const std::string text = ReadFile(SourcePath("tests/structured_schemas/04_order_with_items.json"));
  EXPECT_FALSE(text.empty());
  return SchemaParams(text);
}

// title / summary / tags: bounded strings, one family member per character
// count (far more reachable entries than the precompute budget).
StructuredOutputParams BoundedStringsSchema() {
  return SchemaParams(R"({"type":"object","properties":{"title":{"type":"string","minLength":1,"maxLength":80},)"
                      R"("summary":{"type":"string","maxLength":300},"tags":{"type":"array","items":)"
                      R"({"type":"string","maxLength":24},"maxItems":5}},"required":["title","summary","tags"],)"
                      R"("additionalProperties":false})");
}

std::shared_ptr<const CompiledGrammar> Compile(const StructuredOutputParams& params, bool precompute) {
  auto compiler = StructuredOutputCompiler::Create(Gpt2Vocabulary(), /*cache_capacity=*/0, precompute);
  auto compiled = compiler->Compile(params);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? std::dynamic_pointer_cast<const CompiledGrammar>(*compiled) : nullptr;
}

std::shared_ptr<const PushdownAutomaton> Lower(const StructuredOutputParams& params) {
  absl::StatusOr<Grammar> grammar = BuildGrammar(params);
  EXPECT_TRUE(grammar.ok()) << grammar.status();
  if (!grammar.ok()) return nullptr;
  auto pda = PushdownAutomaton::Compile(*grammar, "test");
  EXPECT_TRUE(pda.ok()) << pda.status();
  return pda.ok() ? *pda : nullptr;
}

// Feeds `tokens` (then EOS if allowed) to a matcher of each compiled form;
// every step's masks must be equal and allow the token.
void ExpectSameMasks(const CompiledGrammar& a, const CompiledGrammar& b, const std::vector<int32_t>& tokens) {
  GrammarMatcher ma(std::shared_ptr<const CompiledGrammar>(&a, [](const CompiledGrammar*) {}));
  GrammarMatcher mb(std::shared_ptr<const CompiledGrammar>(&b, [](const CompiledGrammar*) {}));
  std::vector<uint32_t> mask_a(ma.bitmask_words()), mask_b(mb.bitmask_words());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ma.FillNextTokenBitmask(absl::MakeSpan(mask_a));
    mb.FillNextTokenBitmask(absl::MakeSpan(mask_b));
    ASSERT_EQ(mask_a, mask_b) << "step " << i;
    ASSERT_TRUE(ma.AcceptToken(tokens[i]).ok()) << "step " << i;
    ASSERT_TRUE(mb.AcceptToken(tokens[i]).ok()) << "step " << i;
  }
}

// A random generation under `compiled`'s masks (EOS taken when allowed with
// probability 1/4), at most `max_tokens`; returns the tokens.
std::vector<int32_t> Generate(const CompiledGrammar& compiled, std::mt19937& rng, int max_tokens) {
  GrammarMatcher m(std::shared_ptr<const CompiledGrammar>(&compiled, [](const CompiledGrammar*) {}));
  const int32_t vocab_size = compiled.vocab().vocab_size();
  std::vector<uint32_t> mask(m.bitmask_words());
  std::vector<int32_t> tokens;
  while (static_cast<int>(tokens.size()) < max_tokens && !m.IsTerminated()) {
    m.FillNextTokenBitmask(absl::MakeSpan(mask));
    std::vector<int32_t> allowed = MaskIds(mask, vocab_size);
    EXPECT_FALSE(allowed.empty());
    if (allowed.empty()) break;
    int32_t pick = allowed[rng() % allowed.size()];
    if (m.IsComplete() && rng() % 4 == 0) pick = compiled.vocab().eos_token_ids()[0];
    EXPECT_TRUE(m.AcceptToken(pick).ok());
    tokens.push_back(pick);
    if (compiled.vocab().is_eos(pick)) break;
  }
  return tokens;
}

TEST(MaskPrecomputeTest, OrderSchemaGenerationsMeetOnlyPrecomputedEntries) {
  const StructuredOutputParams params = OrderSchema();
  std::shared_ptr<const CompiledGrammar> pre = Compile(params, /*precompute=*/true);
  std::shared_ptr<const CompiledGrammar> lazy = Compile(params, /*precompute=*/false);
  ASSERT_NE(pre, nullptr);
  ASSERT_NE(lazy, nullptr);
  const PrecomputeStats& stats = pre->precompute_stats();
  EXPECT_TRUE(stats.complete);
  EXPECT_EQ(stats.entries, pre->pda().ReachableTops().size());
  EXPECT_EQ(pre->mask_cache().num_pinned(), stats.entries);
  EXPECT_EQ(lazy->precompute_stats().entries, 0u);
  EXPECT_EQ(lazy->mask_cache().size(), 0u);

  // An order as GPT-2 tokenizes it, then random generations.
  auto tok = Gpt2Tokenizer::LoadVocabAndMerges(SharedPath("models/gpt2-tokenizer/encoder.json"),
                                               SharedPath("models/gpt2-tokenizer/vocab.bpe"));
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto order = (*tok)->Encode(R"({"order_id": 1042, "items": [{"sku": "ABC-123", "qty": 2}, )"
                              R"({"sku": "XYZ-900", "qty": 99}]})",
                              /*add_bos=*/false);
  ASSERT_TRUE(order.ok()) << order.status();
  std::vector<int32_t> tokens = *order;
  tokens.push_back((*tok)->eos_id());
  ExpectSameMasks(*pre, *lazy, tokens);
  std::mt19937 rng(4);
  for (int i = 0; i < 3; ++i) ExpectSameMasks(*pre, *lazy, Generate(*lazy, rng, 200));

  EXPECT_EQ(pre->mask_cache().num_lazy(), 0u);
  EXPECT_EQ(pre->mask_cache().num_pinned(), stats.entries);
  EXPECT_GT(lazy->mask_cache().num_lazy(), 10u);  // the counter counts
}

TEST(MaskPrecomputeTest, PrecomputedEntriesEqualPlainWalks) {
  // Every reachable pair of the order schema: precomputed (siblings derived
  // from each other, self-loop shortcuts) against a plain whole-vocabulary
  // walk in a fresh cache.
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = Lower(OrderSchema());
  ASSERT_NE(pda, nullptr);
  TokenMaskCache cache(pda, vocab);
  const PrecomputeStats stats = cache.Precompute();
  ASSERT_TRUE(stats.complete);
  const auto tops = pda->ReachableTops();
  ASSERT_GT(tops.size(), 20u);
  EXPECT_GT(cache.num_derived(), 0u);
  int sparse = 0;
  for (const auto& [pos, ret] : tops) sparse += cache.Get(pos, ret)->accepted.empty();
  EXPECT_GT(sparse, 0);  // entries with few accepted tokens keep them as ids
  for (const auto& [pos, ret] : tops) {
    TokenMaskCache plain(pda, vocab, TokenMaskCache::kDefaultMaxBytes, /*self_loops=*/false);
    std::shared_ptr<const PositionMask> walked = plain.Get(pos, ret);
    ASSERT_EQ(plain.num_derived(), 0u);
    std::shared_ptr<const PositionMask> precomputed = cache.Get(pos, ret);
    EXPECT_EQ(precomputed->Bitmask(), walked->Bitmask()) << pos << " " << ret;
    EXPECT_EQ(precomputed->uncertain, walked->uncertain) << pos << " " << ret;
  }
  EXPECT_EQ(cache.num_lazy(), 0u);
}

TEST(MaskPrecomputeTest, BudgetLeavesTheRestLazyWithEqualMasks) {
  const StructuredOutputParams params = BoundedStringsSchema();
  std::shared_ptr<const CompiledGrammar> pre = Compile(params, /*precompute=*/true);
  std::shared_ptr<const CompiledGrammar> lazy = Compile(params, /*precompute=*/false);
  ASSERT_NE(pre, nullptr);
  ASSERT_NE(lazy, nullptr);
  const PrecomputeStats& stats = pre->precompute_stats();
  // 80 + 300 + 24 character counts times the places of a string character:
  // more than the budget holds.
  EXPECT_FALSE(stats.complete);
  EXPECT_GT(stats.entries, 100u);
  EXPECT_LT(stats.entries, pre->pda().ReachableTops().size());
  const std::size_t bitmask_bytes = 4 * ((pre->vocab().vocab_size() + 31) / 32) + sizeof(PositionMask);
  EXPECT_LE(stats.bytes, TokenMaskCache::kPrecomputeMaxBytes + bitmask_bytes);
  EXPECT_LE(stats.walked_tokens, TokenMaskCache::kPrecomputeMaxWalkedTokens + 50'257u);
  std::mt19937 rng(9);
  for (int i = 0; i < 2; ++i) ExpectSameMasks(*pre, *lazy, Generate(*lazy, rng, 120));
}

TEST(MaskPrecomputeTest, EmptyingTheCacheKeepsPinnedEntries) {
  std::shared_ptr<const StructuredVocabulary> vocab = Gpt2Vocabulary();
  std::shared_ptr<const PushdownAutomaton> pda = Lower(SchemaParams(R"({"type":"string","maxLength":8})"));
  ASSERT_NE(pda, nullptr);
  const std::size_t entry_bytes = 4 * ((vocab->vocab_size() + 31) / 32) + sizeof(PositionMask);
  // Room for 8 whole bitmasks: Precompute pins at most half of that (more
  // than 4 entries: some hold a short id list instead of a bitmask).
  const std::size_t bound = 8 * entry_bytes + 4096;
  TokenMaskCache cache(pda, vocab, bound);
  const PrecomputeStats stats = cache.Precompute();
  EXPECT_FALSE(stats.complete);
  ASSERT_GE(stats.entries, 3u);
  EXPECT_LE(stats.bytes, bound / 2);
  const auto tops = pda->ReachableTops();
  std::vector<std::pair<int32_t, int32_t>> pinned, other;
  std::vector<std::shared_ptr<const PositionMask>> pinned_masks;
  for (const auto& top : tops) {
    const std::size_t lazy_before = cache.num_lazy();
    std::shared_ptr<const PositionMask> m = cache.Get(top.first, top.second);
    if (cache.num_lazy() == lazy_before && pinned.size() < stats.entries) {
      pinned.push_back(top);
      pinned_masks.push_back(m);
    } else {
      other.push_back(top);
    }
    EXPECT_LE(cache.bytes(), bound);
  }
  ASSERT_EQ(pinned.size(), stats.entries);
  // Many more lazy entries than the bound holds: the cache was emptied.
  ASSERT_GT(other.size(), 20u);
  EXPECT_LT(cache.size(), other.size());
  for (std::size_t i = 0; i < pinned.size(); ++i) {
    const std::size_t lazy_before = cache.num_lazy();
    EXPECT_EQ(cache.Get(pinned[i].first, pinned[i].second), pinned_masks[i]) << i;
    EXPECT_EQ(cache.num_lazy(), lazy_before);
  }
  EXPECT_EQ(cache.num_pinned(), stats.entries);
  // Entries computed after an eviction still equal plain walks.
  TokenMaskCache plain(pda, vocab, TokenMaskCache::kDefaultMaxBytes, /*self_loops=*/false);
  for (std::size_t i = 0; i < other.size(); i += 7) {
    EXPECT_EQ(cache.Get(other[i].first, other[i].second)->Bitmask(), plain.Get(other[i].first, other[i].second)->Bitmask());
  }
}

TEST(MaskPrecomputeTest, ConcurrentCompilesOfOneConstraintCompileOnce) {
  // Threads compiling the same constraint at once: one compiles (with its
  // precompute), the others wait for it or hit the cache. Deterministic (a
  // thread that comes late hits the cache); without the wait for a compile
  // under way, threads that overlap it (the usual case: it takes tens of ms)
  // would each compile.
  auto compiler = StructuredOutputCompiler::Create(Gpt2Vocabulary());
  const StructuredOutputParams params = OrderSchema();
  constexpr int kThreads = 4;
  std::vector<std::shared_ptr<const CompiledStructuredOutput>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = compiler->Compile(params);
      EXPECT_TRUE(c.ok()) << c.status();
      if (c.ok()) results[t] = *c;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(compiler->num_compiles(), 1u);
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(results[t], results[0]);
  // A failing compile is shared the same way and not cached.
  const StructuredOutputParams bad = SchemaParams(R"({"type":"object","oneOf":[]})");
  std::vector<absl::Status> errors(kThreads);
  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { errors[t] = compiler->Compile(bad).status(); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : errors) EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_GE(compiler->num_compiles(), 2u);
}

}  // namespace
}  // namespace llmserve::structured::testing
