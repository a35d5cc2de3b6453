// The public interface of engine/structured: the vocabulary's token bytes,
// the content-keyed compiler cache, the matcher's contract (bitmask size,
// rejected tokens leave the state unchanged, EOS only where complete,
// termination, reset), ApplyTokenBitmask, and matchers of one compiled
// constraint used from several threads.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

#include "engine/tokenizer/llama2c_tokenizer.h"
#include "tests/structured/structured_test_util.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {
namespace {

TEST(StructuredVocabularyTest, SentencePieceTokensAreTheirBytesMidText) {
  auto tok = Llama2cTokenizer::Load(llmserve::testing::SharedPath("models/stories260K/tok512.bin"));
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto vocab = Stories260KVocabulary();
  ASSERT_EQ(vocab->vocab_size(), 512);
  EXPECT_TRUE(vocab->is_eos(2));
  EXPECT_EQ(vocab->token_bytes(2), "");
  EXPECT_EQ(vocab->token_bytes(1), "");                        // BOS: no bytes
  EXPECT_EQ(vocab->token_bytes(3 + 'A'), "A");                 // byte fallback <0x41>
  // A piece with SentencePiece's leading space keeps it (as after an ordinary token).
  int with_space = 0;
  for (int32_t id = 3 + 256; id < 512; ++id) {
    const std::string mid = (*tok)->TokenBytes(/*prev_id=*/100, id);
    EXPECT_EQ(vocab->token_bytes(id), mid) << id;
    with_space += !mid.empty() && mid[0] == ' ';
  }
  EXPECT_GT(with_space, 50);
  // Sorted by bytes, without the special tokens.
  const std::vector<int32_t>& sorted = vocab->sorted_ids();
  EXPECT_EQ(sorted.size(), 510u);
  for (std::size_t k = 1; k < sorted.size(); ++k) {
    EXPECT_LE(vocab->token_bytes(sorted[k - 1]), vocab->token_bytes(sorted[k]));
  }
  auto bad = StructuredVocabulary::FromTokenBytes({"a", "b"}, {2});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "structured output: EOS id 2 is not < vocab_size 2");
}

TEST(StructuredOutputCompilerTest, CachesByContentWithLruEviction) {
  EXPECT_EQ(StructuredOutputCompiler::Create(nullptr), nullptr);
  auto compiler = StructuredOutputCompiler::Create(ByteVocabulary(), /*cache_capacity=*/2);
  auto a1 = compiler->Compile(RegexParams("a+"));
  auto a2 = compiler->Compile(RegexParams("a+"));
  ASSERT_TRUE(a1.ok() && a2.ok());
  EXPECT_EQ(a1->get(), a2->get());  // one compile for equal content
  auto b = compiler->Compile(GrammarParams("root ::= \"a\"+"));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->get(), a1->get());  // same language, other kind and text: other entry
  auto choice1 = compiler->Compile(ChoiceParams({"a", "bc"}));
  auto choice2 = compiler->Compile(ChoiceParams({"ab", "c"}));
  ASSERT_TRUE(choice1.ok() && choice2.ok());
  EXPECT_NE(choice1->get(), choice2->get());
  // Capacity 2: "a+" was evicted (least recently used), so it compiles anew.
  auto a3 = compiler->Compile(RegexParams("a+"));
  ASSERT_TRUE(a3.ok());
  EXPECT_NE(a3->get(), a1->get());
  auto again = compiler->Compile(ChoiceParams({"ab", "c"}));
  EXPECT_EQ(again->get(), choice2->get());
}

// Beside the count, the cache is bounded by the bytes its constraints' masks
// hold: over the budget, the least recently used go (the newest stays).
TEST(StructuredOutputCompilerTest, EvictsLeastRecentlyUsedOverTheByteBudget) {
  auto vocab = ByteVocabulary();
  auto probe = StructuredOutputCompiler::Create(vocab);
  auto a = probe->Compile(RegexParams("a+b"));
  ASSERT_TRUE(a.ok());
  const std::size_t a_bytes = (*a)->memory_bytes();
  ASSERT_GT(a_bytes, 0u);  // the precomputed masks

  // Room for one such constraint but not two.
  auto compiler = StructuredOutputCompiler::Create(vocab, /*cache_capacity=*/8,
                                                   /*precompute_masks=*/true, a_bytes + a_bytes / 2);
  auto a1 = compiler->Compile(RegexParams("a+b"));
  auto b1 = compiler->Compile(RegexParams("b+a"));
  ASSERT_TRUE(a1.ok() && b1.ok());
  EXPECT_EQ(compiler->num_compiles(), 2u);
  auto b2 = compiler->Compile(RegexParams("b+a"));  // the newest stayed
  EXPECT_EQ(b2->get(), b1->get());
  auto a2 = compiler->Compile(RegexParams("a+b"));  // evicted: compiled anew
  EXPECT_NE(a2->get(), a1->get());
  EXPECT_EQ(compiler->num_compiles(), 3u);

  // With the default budget both stay.
  auto roomy = StructuredOutputCompiler::Create(vocab, /*cache_capacity=*/8);
  auto r1 = roomy->Compile(RegexParams("a+b"));
  roomy->Compile(RegexParams("b+a")).IgnoreError();
  auto r2 = roomy->Compile(RegexParams("a+b"));
  EXPECT_EQ(r2->get(), r1->get());
  EXPECT_EQ(roomy->num_compiles(), 2u);
}

TEST(StructuredOutputMatcherTest, Contract) {
  auto vocab = ByteVocabulary();
  auto compiler = StructuredOutputCompiler::Create(vocab);
  auto compiled = compiler->Compile(RegexParams("ab+"));
  ASSERT_TRUE(compiled.ok());
  auto m = StructuredOutputMatcher::Create(*compiled);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->bitmask_words(), (257 + 31) / 32);
  std::vector<uint32_t> mask(m->bitmask_words()), before(m->bitmask_words());
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(MaskIds(mask, 257), std::vector<int32_t>{'a'});
  before = mask;
  // A rejected token and a premature EOS leave the state unchanged.
  absl::Status s = m->AcceptToken('b');
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->AcceptToken(256).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->AcceptToken(999).code(), absl::StatusCode::kFailedPrecondition);
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(mask, before);
  ASSERT_TRUE(m->AcceptToken('a').ok());
  EXPECT_FALSE(m->IsComplete());
  ASSERT_TRUE(m->AcceptToken('b').ok());
  EXPECT_TRUE(m->IsComplete());
  EXPECT_FALSE(m->IsTerminated());  // more b's may follow
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(MaskIds(mask, 257), (std::vector<int32_t>{'b', 256}));
  ASSERT_TRUE(m->AcceptToken(256).ok());
  EXPECT_TRUE(m->IsTerminated());
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_TRUE(MaskIds(mask, 257).empty());
  EXPECT_EQ(m->AcceptToken('b').code(), absl::StatusCode::kFailedPrecondition);
  m->Reset();
  EXPECT_FALSE(m->IsComplete());
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(mask, before);
  // A longer span (a model's padded vocabulary) gets zeros past the vocabulary;
  // a shorter one only its words.
  std::vector<uint32_t> longer(m->bitmask_words() + 3, ~0u), shorter(2, ~0u);
  m->FillNextTokenBitmask(absl::MakeSpan(longer));
  m->FillNextTokenBitmask(absl::MakeSpan(shorter));
  EXPECT_EQ(MaskIds(longer, 257 + 96), std::vector<int32_t>{'a'});
  EXPECT_EQ(shorter, (std::vector<uint32_t>{0u, 0u}));
  // A choice is terminated at its end: only EOS is allowed.
  auto choice = StructuredOutputMatcher::Create(*compiler->Compile(ChoiceParams({"ab"})));
  ASSERT_TRUE(choice->AcceptToken('a').ok() && choice->AcceptToken('b').ok());
  EXPECT_TRUE(choice->IsTerminated());
  choice->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(MaskIds(mask, 257), std::vector<int32_t>{256});
}

TEST(StructuredOutputMatcherTest, MultiByteTokensAndSpecialTokens) {
  auto vocab = StructuredVocabulary::FromTokenBytes({"", "{\"", "a", "\":", "1}", "\"", ":", "1", "}", "{"}, {0});
  ASSERT_TRUE(vocab.ok());
  auto compiled = MustCompile(*vocab, JsonObjectParams());
  auto m = NewMatcher(compiled);
  std::vector<uint32_t> mask(m->bitmask_words());
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(MaskIds(mask, 10), (std::vector<int32_t>{1, 9}));  // {" and {
  for (int32_t id : {1, 2, 3, 4}) ASSERT_TRUE(m->AcceptToken(id).ok()) << id;
  EXPECT_TRUE(m->IsTerminated());
  m->FillNextTokenBitmask(absl::MakeSpan(mask));
  EXPECT_EQ(MaskIds(mask, 10), std::vector<int32_t>{0});
}

TEST(ApplyTokenBitmaskTest, MasksClearedBits) {
  std::vector<float> logits(40, 1.0f);
  std::vector<uint32_t> mask = {0x00000005u, 0x00000080u};  // ids 0, 2, 39
  ApplyTokenBitmask(mask, absl::MakeSpan(logits));
  for (int i = 0; i < 40; ++i) {
    if (i == 0 || i == 2 || i == 39) {
      EXPECT_EQ(logits[i], 1.0f) << i;
    } else {
      EXPECT_TRUE(std::isinf(logits[i]) && logits[i] < 0) << i;
    }
  }
}

// The masked distribution equals the unmasked one renormalized over the
// allowed tokens (softmax after ApplyTokenBitmask).
TEST(ApplyTokenBitmaskTest, MaskedSoftmaxIsRenormalizedSoftmax) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 300);
    std::vector<float> logits(n);
    for (float& x : logits) x = normal(rng);
    std::vector<uint32_t> mask((n + 31) / 32, 0u);
    for (int i = 0; i < n; ++i) {
      if (rng() % 3 == 0 || i == trial % n) mask[i / 32] |= 1u << (i % 32);
    }
    std::vector<float> masked = logits;
    ApplyTokenBitmask(mask, absl::MakeSpan(masked));
    double z_all = 0, z_allowed = 0, z_masked = 0;
    for (int i = 0; i < n; ++i) {
      const bool allowed = (mask[i / 32] >> (i % 32)) & 1u;
      z_all += std::exp(static_cast<double>(logits[i]));
      if (allowed) z_allowed += std::exp(static_cast<double>(logits[i]));
      z_masked += std::exp(static_cast<double>(masked[i]));
    }
    for (int i = 0; i < n; ++i) {
      const bool allowed = (mask[i / 32] >> (i % 32)) & 1u;
      const double p_masked = std::exp(static_cast<double>(masked[i])) / z_masked;
      const double p_renorm = allowed ? (std::exp(static_cast<double>(logits[i])) / z_all) / (z_allowed / z_all) : 0.0;
      EXPECT_NEAR(p_masked, p_renorm, 1e-12) << i;
    }
  }
}

// The matcher's stack pool rebuilt every few steps changes no mask.
TEST(StructuredOutputMatcherTest, PoolRebuildKeepsMasks) {
  auto vocab = Stories260KVocabulary();
  auto compiled = MustCompile(vocab, GrammarParams(
      "root ::= \"[\" item (\", \" item)* \"]\"\nitem ::= [a-z]+ | \"(\" root \")\" | [0-9]{1,3}\n"));
  ASSERT_NE(compiled, nullptr);
  std::mt19937 rng(8);
  auto m = NewMatcher(compiled);
  m->set_max_pool_nodes(8);
  for (int k = 0; k < 10; ++k) {
    m->Reset();
    Walk w = RandomWalk(*m, *vocab, rng, 50, /*check_masks=*/true);
    EXPECT_FALSE(w.dead_end) << w.text;
  }
}

// Matchers of one compiled constraint on two threads (shared mask caches);
// run under ThreadSanitizer by make test-tsan. Each thread's masks equal the
// brute-force masks.
TEST(StructuredOutputMatcherTest, MatchersOfOneConstraintOnTwoThreads) {
  auto vocab = Stories260KVocabulary();
  auto compiled = MustCompile(vocab, SchemaParams(
      R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"array","items":{"type":"string"}}},
          "required":["a","b"]})"));
  ASSERT_NE(compiled, nullptr);
  auto run = [&](int seed) {
    std::mt19937 rng(seed);
    auto m = NewMatcher(compiled);
    for (int k = 0; k < 5; ++k) {
      m->Reset();
      Walk w = RandomWalk(*m, *vocab, rng, 40, /*check_masks=*/true);
      EXPECT_FALSE(w.dead_end) << w.text;
    }
  };
  std::thread t1(run, 1), t2(run, 2);
  t1.join();
  t2.join();
}

}  // namespace
}  // namespace llmserve::structured::testing
